use super::*;
use crate::rights::{CountryCode, Territory, ValidityWindow};
use chrono::TimeZone;
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../../../config/mapping.example.toml");

fn config() -> MappingConfig {
    MappingConfig::from_toml_str(EXAMPLE, "example").unwrap()
}
fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}
fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}
fn asset(n: u32) -> AssetId {
    AssetId::parse(&format!("{n:040x}")).unwrap()
}
fn product(form: &str) -> PackageProduct {
    PackageProduct {
        isbn: Isbn13::from_prefix12("978180000001").unwrap(),
        product_id: ProductId(10),
        work_id: WorkId(1),
        title: "The Salt Lantern".into(),
        form: Some(ProductForm::parse(form).unwrap()),
        publication_date: Some(d("2027-03-01")),
        sales_rights: ProductSalesRights { for_sale_worldwide: true, ..Default::default() },
    }
}
fn candidate(role: AssetRole, lineage: u32, version: u32) -> FileCandidate {
    FileCandidate {
        role,
        lineage_id: asset(lineage),
        version_asset_id: asset(lineage * 100 + version),
        version,
        linked: true,
        approved_at: Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap()
            + chrono::Duration::hours(i64::from(version)),
        approved_by: Some("mpatel".into()),
        file_name: format!("{role}.jpg"),
        mime_type: "image/jpeg".into(),
        rights: Some(AssetRights::unrestricted()),
        approval_audit_ids: vec![AuditId(format!("01AUDIT{lineage}{version}"))],
    }
}
fn today() -> NaiveDate {
    d("2026-11-01")
}
fn ready(decision: PackageDecision) -> PackagePlan {
    match decision {
        PackageDecision::Ready(p) => p,
        other => panic!("expected a plan, got {other:?}"),
    }
}
fn blocked(decision: PackageDecision) -> BlockedPackage {
    match decision {
        PackageDecision::Blocked(b) => b,
        other => panic!("expected blocked, got {other:?}"),
    }
}

#[test]
fn complete_print_set_gives_stable_keys() {
    let p = product("BB");
    let cands = vec![
        candidate(AssetRole::FullCover, 1, 2),
        candidate(AssetRole::InteriorIllustration, 2, 1),
        candidate(AssetRole::InteriorIllustration, 3, 1),
        candidate(AssetRole::FrontCover, 4, 1), // not a print role: ignored
    ];
    let plan = ready(plan_package(&p, &cands, &config(), today()));
    assert_eq!(plan.channel, Channel::Print);
    let keys: Vec<&str> = plan.files.iter().map(|f| f.key.as_str()).collect();
    let isbn = &p.isbn;
    assert_eq!(
        keys,
        vec![
            format!("packages/{isbn}/print/full_cover.jpg"),
            format!("packages/{isbn}/print/interior_illustration-{}.jpg", asset(2)),
            format!("packages/{isbn}/print/interior_illustration-{}.jpg", asset(3)),
        ]
    );
    assert_eq!(plan.manifest_key, format!("packages/{isbn}/print/manifest.json"));
    assert_eq!(plan.files[0].onix_key, format!("packages/{isbn}/print/onix/full_cover.xml"));
    assert_eq!(
        plan.files[0].link,
        format!("https://production.example.com/packages/{isbn}/print/full_cover.jpg")
    );
    // A newer version keeps the keys and changes the fingerprint.
    let mut newer = cands.clone();
    newer[0] = candidate(AssetRole::FullCover, 1, 3);
    let plan2 = ready(plan_package(&p, &newer, &config(), today()));
    assert_eq!(
        plan2.files.iter().map(|f| &f.key).collect::<Vec<_>>(),
        plan.files.iter().map(|f| &f.key).collect::<Vec<_>>()
    );
    assert_ne!(plan2.fingerprint, plan.fingerprint);
    assert_eq!(plan2.files[0].version, 3);
}

#[test]
fn missing_role_blocks_and_names_it() {
    let b =
        blocked(plan_package(&product("AJ"), &[candidate(AssetRole::FrontCover, 1, 1)], &config(), today()));
    assert_eq!(b.channel, Channel::Audio);
    assert!(!b.nothing_yet);
    assert_eq!(b.reasons.len(), 1, "{:?}", b.reasons);
    assert!(b.reasons[0].contains("audio_sample") && b.reasons[0].contains("AJ"), "{}", b.reasons[0]);
    let none = blocked(plan_package(&product("AJ"), &[], &config(), today()));
    assert!(none.nothing_yet);
    // A withdrawn link does not count, and the reason says it is there but not linked.
    let mut w = candidate(AssetRole::FrontCover, 1, 1);
    w.linked = false;
    let b = blocked(plan_package(&product("DG"), &[w], &config(), today()));
    assert!(b.reasons[0].contains("not linked now"), "{:?}", b.reasons);
}

#[test]
fn territory_restriction_blocks_only_where_the_product_is_sold() {
    let mut c = candidate(AssetRole::FrontCover, 1, 1);
    c.rights = Some(AssetRights {
        territory: Territory::parse("WORLD -US").unwrap(),
        ..AssetRights::unrestricted()
    });
    // Sold worldwide: blocked, naming US, the channel and the date.
    let b = blocked(plan_package(&product("DG"), std::slice::from_ref(&c), &config(), today()));
    let r = &b.reasons[0];
    assert!(
        r.contains(" US") && r.contains("ebook") && r.contains("2027-03-01") && r.contains("front_cover"),
        "{r}"
    );
    // Not for sale in the US: the restriction does not matter.
    let mut p = product("DG");
    p.sales_rights.not_for_sale.insert(cc("US"));
    ready(plan_package(&p, std::slice::from_ref(&c), &config(), today()));
    // Sold in GB and IE only: fine; sold in US and GB: blocked.
    p.sales_rights = ProductSalesRights { for_sale: [cc("GB"), cc("IE")].into(), ..Default::default() };
    ready(plan_package(&p, std::slice::from_ref(&c), &config(), today()));
    p.sales_rights.for_sale.insert(cc("US"));
    blocked(plan_package(&p, std::slice::from_ref(&c), &config(), today()));
    // An asset limited to a list of countries cannot serve a worldwide product.
    c.rights =
        Some(AssetRights { territory: Territory::parse("GB IE").unwrap(), ..AssetRights::unrestricted() });
    let b = blocked(plan_package(&product("DG"), &[c], &config(), today()));
    assert!(
        b.reasons[0].contains("sold in WORLD -GB -IE where the asset may not be shown"),
        "{:?}",
        b.reasons
    );
}

#[test]
fn channel_and_dates_are_checked_at_publication() {
    let mut c = candidate(AssetRole::FrontCover, 1, 1);
    c.rights = Some(AssetRights { channels: Some([Channel::Print].into()), ..AssetRights::unrestricted() });
    let b = blocked(plan_package(&product("DG"), std::slice::from_ref(&c), &config(), today()));
    assert!(b.reasons[0].contains("channel ebook not allowed"), "{:?}", b.reasons);
    // Expires before publication.
    c.rights = Some(AssetRights {
        window: ValidityWindow { expiry: Some(d("2027-01-31")), ..Default::default() },
        ..AssetRights::unrestricted()
    });
    let b = blocked(plan_package(&product("DG"), std::slice::from_ref(&c), &config(), today()));
    assert!(b.reasons[0].contains("expired 2027-01-31"), "{:?}", b.reasons);
    // Already published: today counts.
    let mut p = product("DG");
    p.publication_date = Some(d("2026-01-01"));
    ready(plan_package(&p, std::slice::from_ref(&c), &config(), today()));
    assert!(blocked(plan_package(&p, &[c], &config(), d("2027-02-01"))).reasons[0].contains("expired"));
}

#[test]
fn optional_file_with_bad_rights_is_left_out_not_blocking() {
    let mut extra = candidate(AssetRole::InteriorIllustration, 2, 1);
    extra.rights = Some(AssetRights { withdrawn: true, ..AssetRights::unrestricted() });
    let plan = ready(plan_package(
        &product("DG"),
        &[candidate(AssetRole::FrontCover, 1, 1), extra],
        &config(),
        today(),
    ));
    assert_eq!(plan.files.len(), 1);
    assert_eq!(plan.excluded.len(), 1);
    assert!(plan.excluded[0].contains("marked expired in OTMM"), "{:?}", plan.excluded);
}

#[test]
fn latest_approval_wins_a_single_slot() {
    let older = candidate(AssetRole::FrontCover, 1, 1);
    let mut other = candidate(AssetRole::FrontCover, 2, 1);
    other.approved_at = older.approved_at + chrono::Duration::days(1);
    for cands in [vec![older.clone(), other.clone()], vec![other.clone(), older.clone()]] {
        let plan = ready(plan_package(&product("DG"), &cands, &config(), today()));
        assert_eq!(plan.files.len(), 1);
        assert_eq!(plan.files[0].lineage_id, asset(2));
    }
}

#[test]
fn manifest_and_onix_describe_the_staged_bytes() {
    let plan =
        ready(plan_package(&product("DG"), &[candidate(AssetRole::FrontCover, 1, 1)], &config(), today()));
    let staged = vec![StagedFile { size: 42, sha256: "a".repeat(64), md5: "b".repeat(32) }];
    let bytes = manifest_bytes(&plan, &staged, 3).unwrap();
    assert_eq!(bytes, manifest_bytes(&plan, &staged, 3).unwrap());
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(m["isbn"], plan.isbn.as_str());
    assert_eq!(m["package_version"], 3);
    assert_eq!(m["channel"], "ebook");
    assert_eq!(m["files"][0]["sha256"], "a".repeat(64));
    assert_eq!(m["files"][0]["md5"], "b".repeat(32));
    assert_eq!(m["files"][0]["size"], 42);
    assert_eq!(m["files"][0]["otmm_asset_id"], asset(1).as_str());
    assert_eq!(m["files"][0]["approval_audit_ids"][0], "01AUDIT11");
    assert_eq!(m["rights_summary"]["sales_territory"], "WORLD");
    assert!(manifest_bytes(&plan, &[], 1).is_err());
    let xml = onix_fragment(&plan.files[0], &staged[0]).unwrap();
    assert!(
        xml.contains("<ResourceContentType>01</ResourceContentType>") && xml.contains(&plan.files[0].link)
    );
}

#[test]
fn extension_prefers_a_sane_file_name() {
    assert_eq!(extension("cover.JPG", "image/jpeg"), "jpg");
    assert_eq!(extension("no extension", "audio/mpeg"), "mp3");
    assert_eq!(extension("weird.a/b", "application/pdf"), "pdf");
    assert_eq!(extension("x.", "application/x-unknown"), "bin");
}

// ---------------------------------------------------------------------------------------------
// Properties

const ROLES: [AssetRole; 4] =
    [AssetRole::FrontCover, AssetRole::FullCover, AssetRole::InteriorIllustration, AssetRole::AudioSample];

fn arb_rights() -> impl Strategy<Value = Option<AssetRights>> {
    prop_oneof![
        6 => Just(Some(AssetRights::unrestricted())),
        1 => Just(Some(AssetRights { territory: Territory::parse("WORLD -US").unwrap(), ..AssetRights::unrestricted() })),
        1 => Just(Some(AssetRights { channels: Some([Channel::Print].into()), ..AssetRights::unrestricted() })),
        1 => Just(Some(AssetRights { withdrawn: true, ..AssetRights::unrestricted() })),
        1 => Just(None),
    ]
}

/// Candidates with distinct (lineage, version): OTMM gives each version one id.
fn arb_candidates(n: usize) -> impl Strategy<Value = Vec<FileCandidate>> {
    prop::collection::vec(arb_candidate(), 0..n).prop_map(|mut v| {
        let mut seen = std::collections::BTreeSet::new();
        v.retain(|c| seen.insert((c.lineage_id.clone(), c.version)));
        v
    })
}

fn arb_candidate() -> impl Strategy<Value = FileCandidate> {
    (prop::sample::select(ROLES.to_vec()), 1u32..5, 1u32..4, prop::bool::weighted(0.9), 0i64..5, arb_rights())
        .prop_map(|(role, lineage, version, linked, hours, rights)| {
            let mut c = candidate(role, lineage, version);
            c.linked = linked;
            c.approved_at += chrono::Duration::hours(hours);
            c.rights = rights;
            c
        })
}

fn arb_product() -> impl Strategy<Value = PackageProduct> {
    (prop::sample::select(vec!["BB", "BC", "DG", "AJ"]), any::<bool>()).prop_map(|(form, us_excluded)| {
        let mut p = product(form);
        if us_excluded {
            p.sales_rights.not_for_sale.insert(cc("US"));
        }
        p
    })
}

proptest! {
    #[test]
    fn same_inputs_same_plan_in_any_order(p in arb_product(), mut cands in arb_candidates(8)) {
        let config = config();
        let a = plan_package(&p, &cands, &config, today());
        cands.reverse();
        let b = plan_package(&p, &cands, &config, today());
        prop_assert_eq!(&a, &b);
        if let PackageDecision::Ready(plan) = a {
            let staged: Vec<StagedFile> = plan.files.iter().map(|f| StagedFile { size: u64::from(f.version), sha256: "0".repeat(64), md5: "1".repeat(32) }).collect();
            prop_assert_eq!(manifest_bytes(&plan, &staged, 1).unwrap(), manifest_bytes(&plan, &staged, 1).unwrap());
        }
    }

    #[test]
    fn blocked_iff_a_required_role_is_missing_or_denied(p in arb_product(), cands in arb_candidates(8)) {
        let config = config();
        let (_, spec) = config.packages.as_ref().unwrap().channel_for(p.form.as_ref().unwrap()).unwrap();
        let date = rights_date(p.publication_date, today());
        let channel = config.packages.as_ref().unwrap().channel_for(p.form.as_ref().unwrap()).unwrap().0;
        let decision = plan_package(&p, &cands, &config, today());
        // Per required role: the files chosen are the linked ones (for a single slot, the latest).
        let mut expect_blocked = false;
        for role in &spec.roles {
            let linked: Vec<&FileCandidate> = cands.iter().filter(|c| c.role == *role && c.linked).collect();
            if linked.is_empty() {
                expect_blocked = true;
                continue;
            }
            if let PackageDecision::Ready(plan) = &decision {
                for f in plan.files.iter().filter(|f| f.role == *role) {
                    let c = cands.iter().find(|c| c.version_asset_id == f.version_asset_id && c.linked).unwrap();
                    prop_assert!(c.rights.as_ref().is_some_and(|r| file_rights(r, &p.sales_rights, channel, date).is_ok()));
                }
            }
        }
        match &decision {
            PackageDecision::Ready(plan) => {
                prop_assert!(!expect_blocked);
                for role in &spec.roles {
                    prop_assert!(plan.files.iter().any(|f| f.role == *role));
                }
            }
            PackageDecision::Blocked(b) => {
                prop_assert!(!b.reasons.is_empty());
                // Blocked without a missing role means some chosen required file was denied.
                if !expect_blocked {
                    prop_assert!(b.reasons.iter().any(|r| r.contains("may not be used")));
                }
            }
            PackageDecision::NotPackaged { .. } => prop_assert!(false, "every form of the example is packaged"),
        }
    }

    #[test]
    fn keys_never_collide(p in arb_product(), cands in arb_candidates(10)) {
        if let PackageDecision::Ready(plan) = plan_package(&p, &cands, &config(), today()) {
            let mut keys: Vec<&str> = plan.files.iter().flat_map(|f| [f.key.as_str(), f.onix_key.as_str()]).collect();
            keys.push(&plan.manifest_key);
            let n = keys.len();
            keys.sort();
            keys.dedup();
            prop_assert_eq!(keys.len(), n);
        }
        // Stems differ across roles and slots whatever the ids.
        for a in ROLES {
            for b in ROLES {
                for (x, y) in [(1u32, 1u32), (1, 2)] {
                    if (a, x) != (b, y) && !(a.is_single_slot() && a == b) {
                        prop_assert_ne!(file_stem(a, &asset(x)), file_stem(b, &asset(y)));
                    }
                }
            }
        }
    }
}

#[test]
fn package_statuses_keep_their_stored_strings() {
    let table = [
        (PackageStatus::Staged, "staged"),
        (PackageStatus::Released, "released"),
        (PackageStatus::Blocked, "blocked"),
    ];
    assert_eq!(table.len(), PackageStatus::ALL.len());
    for (status, s) in table {
        assert_eq!(status.as_str(), s);
        assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(s));
        assert_eq!(serde_json::from_value::<PackageStatus>(serde_json::json!(s)).unwrap(), status);
    }
}
