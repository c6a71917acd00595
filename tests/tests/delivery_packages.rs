//! Delivery checks end to end (issue 18): a generated front cover in the OTMM simulator
//! (`set_content`), two ebook recipients in the mapping config, one whose spec the cover meets
//! and one it does not. The approval goes through the webhook intake and the processor; the
//! manifest, the package document, the audit trail, OTMM's flag field, readiness and release
//! (refused for the failed recipient) are asserted. Then the strict recipient's spec is loosened in the config and a real build
//! re-judges the same files (the fingerprint includes the specs): it passes, the flag is cleared.
//! Embedded backend only: the checks are pure, the staging adapters are covered by packages.rs.

use connector_app::packages::{self, BuildOutcome, PackageDoc, PackageStatus, ReleaseOutcome};
use connector_core::AuditAction;
use connector_core::config::MappingConfig;
use connector_core::readiness::{ReadinessStatus, RoleState};
use connector_core::{AssetId, AssetRole, Channel, Isbn13};
use connector_sim::catalogue::otmm_fields::DELIVERY_CHECK;
use connector_sim::content::rgb_jpeg;
use connector_store::PageRequest;
use connector_tests::e2e::{Backend, Harness};
use connector_tests::packages::{DG, catalogue, default_specs, isbn_of, lineage};
use std::sync::Arc;

/// The front cover of the default specs (the ebook package's one file).
const FRONT_COVER: u64 = 4;
/// The generated cover: 400 × 600 px (the illustrations beside it pass both recipients).
const COVER: (u16, u16) = (400, 600);

/// The example mapping config with the flag field and two ebook recipients: `lenient` takes a
/// 300 px short side, `strict` wants `strict_min` px.
fn mapping(strict_min: u32) -> Arc<MappingConfig> {
    let text = connector_app::wiring::EXAMPLE_MAPPING_CONFIG
        .replace("# check_flag_field = ", "check_flag_field = ")
        + &format!(
            r#"
[packages.recipients.lenient]
channel = "ebook"
[packages.recipients.lenient.images]
min_short_side_px = 300
min_long_side_px = 500

[packages.recipients.strict]
channel = "ebook"
[packages.recipients.strict.images]
min_short_side_px = {strict_min}
min_long_side_px = 500
"#
        );
    Arc::new(MappingConfig::from_toml_str(&text, "delivery test").expect("mapping config"))
}

async fn ebook_doc(app: &connector_app::App) -> PackageDoc {
    let d = app
        .stores
        .documents
        .get_doc(packages::DOC_KIND, &packages::doc_id(&isbn_of(DG), Channel::Ebook))
        .await
        .unwrap()
        .expect("an ebook package document");
    serde_json::from_value(d.body).unwrap()
}

async fn trail(h: &Harness, isbn: &Isbn13) -> Vec<connector_core::AuditRecord> {
    h.app.stores.audit.by_title(isbn, PageRequest { limit: 200, cursor: None }).await.unwrap().items
}

async fn manifest(h: &Harness, d: &PackageDoc) -> serde_json::Value {
    let key = d.manifest_key.as_deref().expect("a manifest");
    serde_json::from_slice(&h.app.stores.staging.get(key).await.unwrap().expect("staged manifest").1).unwrap()
}

/// The check of `recipient` named `check` in a manifest's `delivery_checks`.
fn check<'a>(m: &'a serde_json::Value, recipient: &str, check: &str) -> &'a serde_json::Value {
    let verdict = m["delivery_checks"]
        .as_array()
        .expect("delivery_checks")
        .iter()
        .find(|v| v["recipient"] == recipient)
        .unwrap_or_else(|| panic!("no verdict for {recipient} in {m}"));
    verdict["checks"].as_array().unwrap().iter().find(|c| c["check"] == check).expect(check)
}

fn flag(h: &Harness) -> Option<String> {
    h.sims.otmm.asset(&lineage(FRONT_COVER)).and_then(|a| a.field(DELIVERY_CHECK).map(str::to_string))
}

async fn generated_cover_staged_for_one_recipient_blocked_for_the_other(backend: Backend) {
    let specs = default_specs();
    let h = Harness::start_custom(
        backend,
        "delivery_e2e",
        catalogue(&specs, &[]),
        Default::default(),
        Default::default(),
        Some(mapping(500)),
    )
    .await;
    h.sims.otmm.set_content(&lineage(FRONT_COVER), rgb_jpeg(COVER.0, COVER.1).into()).unwrap();
    // The ebook package's interior illustrations: large enough for both recipients.
    for n in [2, 3] {
        h.sims.otmm.set_content(&lineage(n), rgb_jpeg(600, 520).into()).unwrap();
    }
    for s in &specs {
        h.sims.otmm.approve(&lineage(s.n), 1, "pkg.approver").unwrap();
    }
    let report = h.deliver_and_drain(specs.len()).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");

    // Staged (lenient may have it), with both verdicts and the measured values in the manifest.
    let d = ebook_doc(&h.app).await;
    assert_eq!(d.status, PackageStatus::Staged, "{d:?}");
    let m = manifest(&h, &d).await;
    let cover = d.files.iter().find(|f| f.role == "front_cover").expect("the front cover");
    let file = cover.key.rsplit('/').next().unwrap().to_string();
    let lenient = check(&m, "lenient", "image.short_side");
    assert_eq!((&lenient["file"], &lenient["passed"]), (&serde_json::json!(file), &serde_json::json!(true)));
    assert_eq!(lenient["measured"], 400.0);
    assert_eq!(lenient["limit"], serde_json::json!({"at_least": 300.0}));
    let strict = check(&m, "strict", "image.short_side");
    assert_eq!(strict["passed"], false);
    assert_eq!(strict["measured"], 400.0);
    assert_eq!(strict["limit"], serde_json::json!({"at_least": 500.0}));
    let long = check(&m, "strict", "image.long_side");
    assert_eq!((&long["measured"], &long["passed"]), (&600.0.into(), &true.into()));
    let verdicts: Vec<(&str, bool)> =
        d.delivery_checks.iter().map(|v| (v.recipient.as_str(), v.passed)).collect();
    assert_eq!(verdicts, [("lenient", true), ("strict", false)]);

    // The audit record names the recipient, the file, the check, the value and the limit.
    let isbn = isbn_of(DG);
    let records = trail(&h, &isbn).await;
    // (The package may have been built before the second illustration was linked: this version's.)
    let blocked: Vec<_> = records
        .iter()
        .filter(|r| r.action == AuditAction::PackageBlocked && r.data["package_version"] == d.package_version)
        .collect();
    assert_eq!(blocked.len(), 1, "{blocked:?}");
    let why = format!("{file}: image.short_side is 400 px; the limit is at least 500 px");
    assert!(
        blocked[0].detail.contains("blocked for strict") && blocked[0].detail.contains(&why),
        "{}",
        blocked[0].detail
    );
    assert_eq!(blocked[0].data["recipient"], "strict");
    let failed = &blocked[0].data["failed_checks"][0];
    assert_eq!(
        (&failed["file"], &failed["check"], &failed["measured"]),
        (&file.clone().into(), &"image.short_side".into(), &400.0.into())
    );

    // OTMM's flag field on the cover, with the same reason.
    let flagged = flag(&h).expect("the cover is flagged");
    assert_eq!(flagged, format!("Delivery check failed: strict: {why} (400 × 600 px)"));

    // Readiness: the role of the failed file is a blocking item, with the same reason.
    let r = connector_app::readiness::evaluate_title(&h.app, &isbn).await.unwrap();
    let role = r.role(AssetRole::FrontCover).expect("DG needs a front cover");
    assert_eq!(role.state, RoleState::CheckFailed, "{r:#?}");
    assert!(
        role.reasons.iter().any(|x| x.contains("failed for strict") && x.contains(&why)),
        "{:?}",
        role.reasons
    );
    assert_eq!(r.status, ReadinessStatus::Blocked, "{:?}", r.reasons);
    assert!(r.reasons.iter().any(|x| x.contains(&why)), "{:?}", r.reasons);

    // Release refuses the recipient the package failed (naming it and the check), and an
    // unnamed release while any recipient is blocked; nothing reaches Consonance.
    let refused =
        packages::release(&h.app, &isbn, Channel::Ebook, Some("strict"), "test-release").await.unwrap();
    let ReleaseOutcome::NotReleasable { reason, .. } = &refused else { panic!("{refused:?}") };
    assert!(reason.contains("blocked for recipient strict") && reason.contains(&why), "{reason}");
    let unnamed = packages::release(&h.app, &isbn, Channel::Ebook, None, "test-release").await.unwrap();
    let ReleaseOutcome::NotReleasable { reason, .. } = &unnamed else { panic!("{unnamed:?}") };
    assert!(reason.contains("name a recipient it passed: lenient"), "{reason}");
    assert!(h.sims.consonance.web_links(DG).is_empty());

    // A spec change in the config changes the verdict: same files, strict now takes 300 px.
    let mut looser = h.app.clone();
    looser.config = mapping(300);
    let outcomes = packages::build_for_isbn(&looser, &isbn, "test-looser").await.unwrap();
    let rebuilt = outcomes.iter().find(|o| matches!(o, BuildOutcome::Staged { channel: Channel::Ebook, .. }));
    assert!(rebuilt.is_some(), "the new spec re-judges the package: {outcomes:?}");
    let d2 = ebook_doc(&looser).await;
    assert_eq!(d2.package_version, d.package_version + 1);
    assert!(d2.delivery_checks.iter().all(|v| v.passed), "{:?}", d2.delivery_checks);
    assert!(d2.reasons.is_empty(), "{:?}", d2.reasons);
    let m2 = manifest(&h, &d2).await;
    assert_eq!(check(&m2, "strict", "image.short_side")["passed"], true);
    assert_eq!(check(&m2, "strict", "image.short_side")["limit"], serde_json::json!({"at_least": 300.0}));
    // The flag is cleared (it says the checks passed) and that is on the asset's trail.
    let passed =
        format!("Delivery checks passed: lenient, strict (ebook package v{} of {isbn})", d2.package_version);
    assert_eq!(flag(&h).as_deref(), Some(passed.as_str()));
    let cover_trail = h
        .app
        .stores
        .audit
        .by_asset(&AssetId::parse(&lineage(FRONT_COVER)).unwrap(), PageRequest { limit: 100, cursor: None })
        .await
        .unwrap()
        .items;
    let cleared: Vec<_> =
        cover_trail.iter().filter(|r| r.action == AuditAction::PackageCheckPassed).collect();
    assert_eq!(cleared.len(), 1, "{cover_trail:?}");
    assert_eq!((cleared[0].asset_version, &cleared[0].data["value"]), (Some(1), &passed.clone().into()));
    // Only the file that was flagged is written: the illustrations never were.
    for n in [2, 3] {
        assert_eq!(h.sims.otmm.asset(&lineage(n)).unwrap().field(DELIVERY_CHECK), None);
    }
    let r = connector_app::readiness::evaluate_title(&looser, &isbn).await.unwrap();
    assert_eq!(r.role(AssetRole::FrontCover).unwrap().state, RoleState::Packaged, "{r:#?}");
    // Now strict may have it: released to it, once.
    let released =
        packages::release(&looser, &isbn, Channel::Ebook, Some("strict"), "test-release").await.unwrap();
    assert!(matches!(released, ReleaseOutcome::Released { .. }), "{released:?}");
    assert_eq!(h.sims.consonance.web_links(DG).len(), 1);
    // The same spec again: nothing to re-judge.
    let again = packages::build_for_isbn(&looser, &isbn, "test-again").await.unwrap();
    assert!(
        again.iter().any(|o| matches!(o, BuildOutcome::Unchanged { channel: Channel::Ebook, .. })),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_cover_staged_for_one_recipient_blocked_for_the_other_embedded() {
    generated_cover_staged_for_one_recipient_blocked_for_the_other(Backend::Embedded).await
}
