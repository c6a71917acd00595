//! Mission flow 5 end to end: approvals reach OTMM's webhook path, the processor links them and
//! builds the work's production packages; the staged bytes, manifests, ONIX fragments,
//! documents and audit agree; rebuilding changes nothing; a newer version makes a new package
//! version; a territory restriction blocks one product only; release adds a Consonance web
//! link. Every case runs on the embedded adapters and on moto (S3).

use connector_app::dlq;
use connector_app::packages::{self, BuildOutcome, PackageDoc, PackageStatus, ReleaseOutcome};
use connector_core::AuditAction;
use connector_core::dead_letter::DeadLetterCause;
use connector_core::event::{EventId, FlowMessage, FollowUpEvent, InboundEvent, LinkRead};
use connector_core::{AssetId, Channel, Isbn13, LinkStatus};
use connector_sim::faults::Fault;
use connector_sim::otmm::content_sha256;
use connector_store::PageRequest;
use connector_tests::e2e::{Backend, Harness};
use connector_tests::packages::{AJ, BB, DG, Spec, catalogue, default_specs, isbn_of, lineage};
use md5::Md5;
use sha2::{Digest, Sha256};

const APPROVER: &str = "pkg.approver";

async fn start(backend: Backend, name: &str, specs: &[Spec], not_for_sale: &[(i64, &[&str])]) -> Harness {
    let h = Harness::start_with(backend, name, catalogue(specs, not_for_sale)).await;
    for s in specs {
        h.sims.otmm.approve(&lineage(s.n), 1, APPROVER).unwrap();
    }
    let report = h.deliver_and_drain(specs.len()).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    h
}

async fn doc(h: &Harness, product: i64, channel: Channel) -> (PackageDoc, u64) {
    let d = h
        .app
        .stores
        .documents
        .get_doc(packages::DOC_KIND, &packages::doc_id(&isbn_of(product), channel))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no package document for {product} {channel}"));
    (serde_json::from_value(d.body).unwrap(), d.revision)
}

async fn object(h: &Harness, key: &str) -> Vec<u8> {
    h.app.stores.staging.get(key).await.unwrap().unwrap_or_else(|| panic!("{key} is not staged")).1.to_vec()
}

async fn actions(h: &Harness, isbn: &Isbn13) -> Vec<connector_core::AuditRecord> {
    h.app.stores.audit.by_title(isbn, PageRequest { limit: 200, cursor: None }).await.unwrap().items
}

/// The manifest of a staged package checked against the bytes in staging and in OTMM.
async fn verify_staged(h: &Harness, d: &PackageDoc) -> serde_json::Value {
    assert_eq!(d.status, PackageStatus::Staged);
    let manifest_key = d.manifest_key.clone().expect("a staged package names its manifest");
    let m: serde_json::Value = serde_json::from_slice(&object(h, &manifest_key).await).unwrap();
    assert_eq!(m["isbn"], d.isbn.as_str());
    assert_eq!(m["channel"], d.channel.as_str());
    assert_eq!(m["package_version"], d.package_version);
    let files = m["files"].as_array().unwrap();
    assert_eq!(files.len(), d.files.len());
    for f in files {
        let key = f["key"].as_str().unwrap();
        let bytes = object(h, key).await;
        let sha = hex::encode(Sha256::digest(&bytes));
        let md5 = hex::encode(Md5::digest(&bytes));
        assert_eq!(f["sha256"], sha.as_str(), "{key}");
        assert_eq!(f["md5"], md5.as_str(), "{key}");
        assert_eq!(f["size"], bytes.len() as u64, "{key}");
        // The bytes are OTMM's content of that version.
        let version_id = f["otmm_version_asset_id"].as_str().unwrap();
        assert_eq!(sha, content_sha256(version_id, bytes.len() as u64), "{key} is not OTMM's content");
        let onix = String::from_utf8(object(h, f["onix_key"].as_str().unwrap()).await).unwrap();
        assert!(onix.contains(&format!("<FeatureValue>{sha}</FeatureValue>")), "{onix}");
        assert!(onix.contains(&format!("<FeatureValue>{md5}</FeatureValue>")), "{onix}");
        assert!(onix.contains(&format!("<ResourceLink>{}</ResourceLink>", f["link"].as_str().unwrap())));
        assert!(!f["approval_audit_ids"].as_array().unwrap().is_empty(), "approval audit ids in {f}");
    }
    m
}

fn roles(m: &serde_json::Value) -> Vec<String> {
    m["files"].as_array().unwrap().iter().map(|f| f["role"].as_str().unwrap().to_string()).collect()
}

async fn full_packages_checksums_rebuild_and_release(backend: Backend) {
    let h = start(backend, "pkg_full", &default_specs(), &[]).await;

    let (print, _) = doc(&h, BB, Channel::Print).await;
    let m = verify_staged(&h, &print).await;
    assert_eq!(roles(&m), ["full_cover", "interior_illustration", "interior_illustration"]);
    let (ebook, _) = doc(&h, DG, Channel::Ebook).await;
    let m = verify_staged(&h, &ebook).await;
    assert_eq!(roles(&m)[0], "front_cover");
    let (audio, _) = doc(&h, AJ, Channel::Audio).await;
    let m = verify_staged(&h, &audio).await;
    assert_eq!(roles(&m), ["audio_sample", "front_cover"]);
    let listed = packages::list(&h.app).await.unwrap();
    assert_eq!(listed.len(), 3, "one document per product and channel");
    let staged_audit = actions(&h, &isbn_of(BB)).await;
    let rec =
        staged_audit.iter().find(|r| r.action == AuditAction::PackageStaged).expect("package.staged audited");
    assert_eq!(rec.data["package_version"], print.package_version);

    // Rebuild: same inputs, nothing changes (no new version, no upload, same bytes).
    let before: Vec<(PackageDoc, u64, Vec<u8>)> = {
        let mut v = Vec::new();
        for (p, c) in [(BB, Channel::Print), (DG, Channel::Ebook), (AJ, Channel::Audio)] {
            let (d, rev) = doc(&h, p, c).await;
            let bytes = object(&h, d.manifest_key.as_deref().unwrap()).await;
            v.push((d, rev, bytes));
        }
        v
    };
    let outcomes = packages::build_all(&h.app, "test-rebuild").await.unwrap();
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|o| matches!(o, BuildOutcome::Unchanged { .. })), "{outcomes:?}");
    for (d, rev, bytes) in &before {
        let (now, rev2) = doc(&h, d.product_id, d.channel).await;
        assert_eq!((now.package_version, rev2), (d.package_version, *rev));
        assert_eq!(&object(&h, d.manifest_key.as_deref().unwrap()).await, bytes);
    }

    // Release: a web link to the manifest on the Consonance product, once.
    let released =
        packages::release(&h.app, &isbn_of(DG), Channel::Ebook, None, "test-release").await.unwrap();
    let ReleaseOutcome::Released { link, web_link_id, .. } = released else { panic!("{released:?}") };
    let links = h.sims.consonance.web_links(DG);
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].link, link);
    assert_eq!(links[0].id.to_string(), web_link_id);
    assert!(link.ends_with(ebook.manifest_key.as_deref().unwrap()));
    let (after, _) = doc(&h, DG, Channel::Ebook).await;
    assert_eq!(after.status, PackageStatus::Released);
    assert!(actions(&h, &isbn_of(DG)).await.iter().any(|r| r.action == AuditAction::PackageReleased));
    let again = packages::release(&h.app, &isbn_of(DG), Channel::Ebook, None, "test-release").await.unwrap();
    assert!(matches!(again, ReleaseOutcome::AlreadyReleased { .. }), "{again:?}");
    assert_eq!(h.sims.consonance.web_links(DG).len(), 1);
}

async fn newer_version_is_a_new_package_version(backend: Backend) {
    let h = start(backend, "pkg_newer", &default_specs(), &[]).await;
    let (print, _) = doc(&h, BB, Channel::Print).await;
    let (ebook, _) = doc(&h, DG, Channel::Ebook).await;
    let full_cover = lineage(1);
    let old_key = print.files.iter().find(|f| f.role == "full_cover").unwrap().key.clone();

    let v2 = h.sims.otmm.add_version(&full_cover, "In Review").unwrap();
    h.sims.otmm.approve(&full_cover, 2, APPROVER).unwrap();
    let report = h.deliver_and_drain(default_specs().len() + 2).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");

    let (print2, _) = doc(&h, BB, Channel::Print).await;
    assert_eq!(print2.package_version, print.package_version + 1);
    let f = print2.files.iter().find(|f| f.role == "full_cover").unwrap();
    assert_eq!((f.version, f.version_asset_id.as_str(), f.key.as_str()), (2, v2.as_str(), old_key.as_str()));
    let m = verify_staged(&h, &print2).await;
    assert_eq!(m["package_version"], print.package_version + 1);
    assert_eq!(print2.history.len(), print.history.len() + 1);
    if backend == Backend::Moto {
        // The versioned bucket keeps the old manifest: two S3 versions of one key.
        let ids: Vec<_> =
            print2.history.iter().rev().take(2).map(|e| e.manifest_version_id.clone()).collect();
        assert!(ids.iter().all(Option::is_some) && ids[0] != ids[1], "{ids:?}");
    }
    // The ebook does not take the full cover: unchanged.
    assert_eq!(doc(&h, DG, Channel::Ebook).await.0.package_version, ebook.package_version);
    // The asset's trail says which version went into which package version.
    let trail = h
        .app
        .stores
        .audit
        .by_asset(&AssetId::parse(&full_cover).unwrap(), PageRequest { limit: 100, cursor: None })
        .await
        .unwrap()
        .items;
    let staged = trail
        .iter()
        .find(|r| r.action == AuditAction::PackageFileStaged && r.asset_version == Some(2))
        .expect("version 2 staged");
    assert_eq!(staged.data["package_version"], print.package_version + 1);
    assert!(staged.detail.contains(&format!("package v{}", print.package_version + 1)), "{}", staged.detail);
}

async fn territory_restriction_blocks_that_product_only(backend: Backend) {
    let mut specs = default_specs();
    specs[3].territory = "WORLD -US"; // the front cover may not be shown in the US
    // The audio download is not sold in the US; the ebook is sold worldwide.
    let h = start(backend, "pkg_territory", &specs, &[(AJ, &["US"])]).await;
    let (ebook, _) = doc(&h, DG, Channel::Ebook).await;
    assert_eq!(ebook.status, PackageStatus::Blocked);
    assert!(ebook.manifest_key.is_none() && ebook.files.is_empty());
    let reason = ebook.reasons.join("; ");
    assert!(reason.contains("US") && reason.contains("front_cover") && reason.contains("ebook"), "{reason}");
    verify_staged(&h, &doc(&h, AJ, Channel::Audio).await.0).await;
    verify_staged(&h, &doc(&h, BB, Channel::Print).await.0).await;
    let trail = actions(&h, &isbn_of(DG)).await;
    let blocked =
        trail.iter().find(|r| r.action == AuditAction::PackageBlocked).expect("package.blocked audited");
    assert!(blocked.detail.contains("sold in US where the asset may not be shown"), "{}", blocked.detail);
    assert!(!trail.iter().any(|r| r.action == AuditAction::PackageStaged));
    assert!(h.app.stores.staging.list(&format!("packages/{}/", isbn_of(DG))).await.unwrap().is_empty());
    let release = packages::release(&h.app, &isbn_of(DG), Channel::Ebook, None, "t").await.unwrap();
    assert!(matches!(release, ReleaseOutcome::NotReleasable { .. }), "{release:?}");
}

/// A package that cannot be built dead-letters its own follow-up message, never the link it
/// follows (issue 15): the cover stays linked, the dead letter names the package failure, and
/// once the cause is gone its replay stages the package.
async fn a_failed_build_dead_letters_its_follow_up_not_the_link(backend: Backend) {
    let specs = default_specs();
    let cover = specs.iter().find(|s| s.asset_type == "Front Cover").expect("a front cover");
    let h = Harness::start_with(backend, "pkg_follow_up", catalogue(std::slice::from_ref(cover), &[])).await;
    // OTMM cannot give the file the package stages (the link itself does not read it).
    let contents = format!("/otmmapi/v6/assets/{}/contents", lineage(cover.n));
    let gone = Fault { error_rate: 1.0, status: Some(404), ..Default::default() };
    h.sims.otmm.faults().set(Some("GET"), &contents, gone);
    h.sims.otmm.approve(&lineage(cover.n), 1, APPROVER).unwrap();
    let report = h.deliver_and_drain(1).await;
    assert_eq!((report.done, report.dead_lettered), (1, 0), "the link message is done: {report:?}");
    assert_eq!(report.follow_ups.dead_lettered, 1, "the package follow-up is parked: {report:?}");

    let asset = AssetId::parse(&lineage(cover.n)).unwrap();
    let links = h.app.stores.mapping.links_for_asset(&asset).await.unwrap();
    assert!(!links.is_empty() && links.iter().all(|l| l.status == LinkStatus::Linked), "{links:?}");
    let dead = dlq::list(&h.app.stores, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].source.as_deref(), Some("connector"), "{dead:?}");
    assert_eq!(dead[0].cause_kind, Some(DeadLetterCause::PackageFailed), "{dead:?}");

    h.sims.otmm.faults().clear();
    dlq::replay(&h.app.stores, &dlq::Selection::All, chrono::Utc::now(), Some("test")).await.unwrap();
    let report = h.drain().await;
    assert_eq!((report.follow_ups.done, report.follow_ups.dead_lettered), (1, 0), "{report:?}");
    // The cover's package (on whichever product's channel takes it) is staged now.
    let docs = packages::list(&h.app).await.unwrap();
    assert!(docs.iter().any(|d| d.status == PackageStatus::Staged), "{docs:?}");
}

/// Runs a package follow-up of `isbn` carrying `read`, after an event named `after`: the
/// Consonance calls it made, and its OTMM reads of `version`.
async fn follow_up(
    h: &Harness,
    after: &str,
    isbn: &Isbn13,
    version: &AssetId,
    read: LinkRead,
) -> (usize, usize) {
    let event =
        FollowUpEvent::packages(isbn.clone(), &EventId::derived(after), chrono::Utc::now(), Some(read));
    let message = FlowMessage::new(InboundEvent::Connector(event), chrono::Utc::now(), after);
    h.sims.otmm.faults().clear_log();
    h.sims.consonance.faults().clear_log();
    h.app.stores.queue.send(&message.to_json()).await.unwrap();
    let report = h.drain().await;
    assert_eq!(report.follow_ups.done, 1, "{report:?}");
    let version_path = format!("/otmmapi/v6/assets/{version}");
    let requests = h.sims.otmm.faults().requests();
    let version_reads = requests.iter().filter(|r| r.method == "GET" && r.path == version_path).count();
    (h.sims.consonance.faults().requests().len(), version_reads)
}

/// A link's package follow-up builds from what the link read (the title, the linked version)
/// instead of reading them again, unless what the connector stored of the work's titles since
/// disagrees with that read (a Consonance change processed after it), or the read is too old:
/// then it reads afresh, so stale facts never overwrite a newer decision.
async fn a_follow_up_builds_from_the_links_read_unless_the_work_moved_since(backend: Backend) {
    let mut specs = default_specs();
    specs[3].territory = "WORLD -US"; // the front cover may not be shown in the US
    let h = start(backend, "pkg_carried", &specs, &[(AJ, &["US"])]).await;
    verify_staged(&h, &doc(&h, AJ, Channel::Audio).await.0).await;
    let cover = AssetId::parse(&lineage(4)).unwrap();
    let link = h.app.stores.mapping.links_for_asset(&cover).await.unwrap().remove(0);
    let version = link.version_asset_id.clone().unwrap_or_else(|| link.approval.asset_id.clone());
    let title = h.app.pms.title_by_isbn(&link.key.isbn).await.unwrap().expect("the cover's title");
    let asset = h.app.dam.asset(&version).await.unwrap();
    let now = chrono::Utc::now();
    let fresh = LinkRead { read_at: now, title: title.clone(), asset: asset.clone() };
    assert_eq!(
        follow_up(&h, "fresh", &link.key.isbn, &version, fresh.clone()).await,
        (0, 0),
        "a fresh read that agrees is used: no Consonance read, no GET"
    );

    // A read from before the audio download lost its US sales (as Consonance and the stored
    // records say now): its stale facts would unblock nothing but would wrongly block the
    // audio package (the cover may not be shown in the US, the stale read sells it there).
    let mut stale = fresh.clone();
    let audio = stale.title.products.iter().position(|p| p.isbn.as_ref() == Some(&isbn_of(AJ))).unwrap();
    let ebook = stale.title.products.iter().find(|p| p.isbn.as_ref() == Some(&isbn_of(DG))).unwrap().clone();
    stale.title.products[audio].sales_rights = ebook.sales_rights;
    assert_eq!(
        follow_up(&h, "stale", &link.key.isbn, &version, stale).await,
        (1, 1),
        "a read the stored titles disagree with is read again"
    );
    verify_staged(&h, &doc(&h, AJ, Channel::Audio).await.0).await;

    // A read of the version whose rights the link no longer holds (a later change rewrote it):
    // the title is used, the version read again.
    let mut moved = fresh.clone();
    moved.asset.rights.withdrawn = !moved.asset.rights.withdrawn;
    assert_eq!(
        follow_up(&h, "moved", &link.key.isbn, &version, moved).await,
        (0, 1),
        "rights the link lacks"
    );

    let old = LinkRead { read_at: now - chrono::Duration::hours(1), ..fresh };
    assert_eq!(
        follow_up(&h, "old", &link.key.isbn, &version, old).await,
        (1, 1),
        "a read older than the observations' age is read again"
    );
}

connector_tests::on_both_backends!(
    a_follow_up_builds_from_the_links_read_unless_the_work_moved_since,
    full_packages_checksums_rebuild_and_release,
    newer_version_is_a_new_package_version,
    territory_restriction_blocks_that_product_only,
    a_failed_build_dead_letters_its_follow_up_not_the_link,
);
