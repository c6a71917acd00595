//! Pins the string form of every stored key: these are in DynamoDB and SQLite, so a change
//! here means stored state no longer found. Change a key only with a migration.

use super::*;
use chrono::{TimeZone, Utc};
use connector_core::approval::Approval;
use connector_core::event::EventId;
use connector_core::{AssetLink, AssetRole, Channel, LinkStatus, ProductId};

const ISBN: &str = "9780306406157";
const LINEAGE: &str = "0123456789abcdef0123456789abcdef01234567";

fn isbn() -> Isbn13 {
    Isbn13::parse(ISBN).unwrap()
}
fn lineage() -> AssetId {
    AssetId::parse(LINEAGE).unwrap()
}
fn cover() -> LinkKey {
    LinkKey::for_asset(isbn(), AssetRole::FrontCover, &lineage())
}
fn banner() -> LinkKey {
    LinkKey::for_asset(isbn(), AssetRole::CampaignBanner, &lineage())
}

#[test]
fn table_keys() {
    assert_eq!(title_pk(&isbn()), format!("TITLE#{ISBN}"));
    assert_eq!(link_sk(&cover()), "LINK#front_cover#");
    assert_eq!(link_sk(&banner()), format!("LINK#campaign_banner#{LINEAGE}"));
    assert_eq!(asset_pk(&lineage()), format!("ASSET#{LINEAGE}"));
    assert_eq!(link_asset_sk(&banner()), format!("{ISBN}#campaign_banner#{LINEAGE}"));
    assert_eq!(checkpoint_pk("otmm-assets"), "CHECKPOINT#otmm-assets");
    assert_eq!(doc_pk("package"), "DOC#package");
    assert_eq!(
        (PK, SK, ASSET_PK, ASSET_SK, BY_ASSET_INDEX, IDEMPOTENCY_KEY, TTL_ATTRIBUTE),
        ("pk", "sk", "asset_pk", "asset_sk", "by_asset", "id", "expiration")
    );
    assert_eq!(
        (TITLE_SK, CHECKPOINT_SK, NO_TITLE_PK, LINK_SK_PREFIX),
        ("TITLE", "CHECKPOINT", "TITLE#NONE", "LINK#")
    );
}

#[test]
fn side_effect_keys() {
    let event = EventId::parse("01JD5X9Q1T3M4N5P6R7S8T9V0W").unwrap();
    assert_eq!(intake_dedupe(Source::Otmm, &event), "intake#otmm#01JD5X9Q1T3M4N5P6R7S8T9V0W");
    assert_eq!(intake_dedupe(Source::Consonance, &event), "intake#consonance#01JD5X9Q1T3M4N5P6R7S8T9V0W");
    assert_eq!(delete_resource("sr-42"), "delete-resource:sr-42");
    assert_eq!(
        request_create(&request_id(&isbn(), AssetRole::FrontCover)),
        format!("request-create:{ISBN}#front_cover")
    );
    assert_eq!(readiness_link(&isbn()), format!("readiness-link:{ISBN}"));
    assert_eq!(
        package_release(&package_doc_id(&isbn(), Channel::Print), 3),
        format!("package-release:{ISBN}#print:v3")
    );
}

#[test]
fn link_create_key_is_the_create_command_key() {
    let link = AssetLink {
        key: cover(),
        version_asset_id: None,
        approval: Approval { asset_id: lineage(), version: 3, approved_at: Utc.timestamp_opt(0, 0).unwrap() },
        status: LinkStatus::Linked,
        approved_by: None,
        work_id: None,
        product_ids: vec![ProductId::parse("101").unwrap(), ProductId::parse("102").unwrap()],
        consonance_resource_id: Some("sr-42".into()),
        rights: None,
        rights_denials: Vec::new(),
        updated_at: Utc.timestamp_opt(0, 0).unwrap(),
        revision: 1,
    };
    assert_eq!(link_create(&link), format!("create-resource:otmm:{LINEAGE}:v3:p101+102:101,102"));
}

#[test]
fn lease_keys() {
    assert_eq!(slot_lease(&cover()), format!("lease:{ISBN}:front_cover:"));
    assert_eq!(slot_lease(&banner()), format!("lease:{ISBN}:campaign_banner:{LINEAGE}"));
    assert_eq!(work_package_lease(&WorkId::parse("77").unwrap()), "lease:package:work:77");
}

#[test]
fn document_kinds_and_ids() {
    assert_eq!(
        (READINESS_KIND, REQUEST_KIND, PACKAGE_KIND, DEAD_LETTER_KIND, VERSIONS_SEEN_KIND),
        ("readiness", "asset_request", "package", "dead_letter", "asset_versions_seen")
    );
    assert_eq!(request_id(&isbn(), AssetRole::BackCover), format!("{ISBN}#back_cover"));
    assert_eq!(package_doc_id(&isbn(), Channel::RetailWeb), format!("{ISBN}#retail_web"));
    let event = EventId::parse("evt-1").unwrap();
    assert_eq!(dead_letter_event(Source::Consonance, &event), "event:consonance:evt-1");
    assert_eq!(dead_letter_body(""), "body:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    assert_eq!(rights_watch_kind(day), "rights-watch#2026-03-01");
    assert_eq!(link_id(&cover()), format!("{ISBN}#front_cover#"));
}

#[test]
fn checkpoint_names() {
    let names = |p: PassCheckpoints| (p.assets, p.works, p.links);
    assert_eq!(names(INCREMENTAL_PASSES), ("otmm-assets", "consonance-works", "links"));
    assert_eq!(names(FULL_PASSES), ("full/otmm-assets", "full/consonance-works", "full/links"));
    assert_eq!(
        names(BACKFILL_PASSES),
        ("backfill/otmm-assets", "backfill/consonance-works", "backfill/links")
    );
    assert_eq!(names(RIGHTS_PASSES), ("rights/none", "rights/none", "rights/none"));
    assert_eq!((BACKFILL_ORIGIN_CHECKPOINT, RIGHTS_EXPIRY_CHECKPOINT), ("backfill/origin", "rights-expiry"));
}

/// The namespaces share one table: no key of one may be a key of another.
#[test]
fn idempotency_namespaces_do_not_overlap() {
    let event = EventId::parse("evt-1").unwrap();
    let keys = [
        intake_dedupe(Source::Otmm, &event),
        delete_resource("x"),
        request_create("x"),
        readiness_link(&isbn()),
        package_release("x", 1),
        slot_lease(&cover()),
        work_package_lease(&WorkId::parse("1").unwrap()),
    ];
    let namespace = |k: &str| k.split([':', '#']).next().unwrap_or_default().to_string();
    let leases: Vec<&String> = keys.iter().filter(|k| k.starts_with("lease:")).collect();
    // The two leases share `lease:`; an ISBN is 13 digits, never `package`.
    assert_eq!(leases.len(), 2);
    assert!(!slot_lease(&cover()).starts_with("lease:package:"));
    let mut seen: Vec<String> =
        keys.iter().filter(|k| !k.starts_with("lease:")).map(|k| namespace(k)).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), keys.len() - leases.len(), "{seen:?}");
}
