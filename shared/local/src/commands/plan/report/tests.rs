use super::*;
use crate::commands::plan::html;
use connector_app::dry_run::PlannedWrite;
use connector_core::rights_eval::{ProductDenial, RightsReason};
use connector_core::{AssetId, AuditAction, AuditId, AuditRecord, Flow, Isbn13, Outcome, ProductId, WorkId};
use serde_json::json;

const ISBN: &str = "9781800100015";
const ASSET: &str = "5e00000000000000000000000000000000000001";

fn rec(id: &str, action: AuditAction, outcome: Outcome, data: serde_json::Value) -> AuditRecord {
    AuditRecord {
        id: AuditId(id.into()),
        at: chrono::DateTime::UNIX_EPOCH,
        flow: Flow::LinkApprovedAsset,
        action,
        outcome,
        isbn: Some(Isbn13::parse(ISBN).unwrap()),
        asset_id: Some(AssetId::parse(ASSET).unwrap()),
        asset_version: Some(2),
        actor: None,
        correlation_id: "c".into(),
        detail: format!("detail of {action} <b>"),
        data,
    }
}

fn inputs(records: Vec<AuditRecord>, writes: Vec<PlannedWrite>) -> Inputs {
    Inputs {
        generated_at: chrono::DateTime::UNIX_EPOCH,
        context: Context {
            otmm: "http://otmm".into(),
            consonance: "http://cons".into(),
            systems: "environment".into(),
            state: "none".into(),
        },
        records,
        writes,
        roles: [((ISBN.to_string(), ASSET.to_string()), "front_cover".to_string())].into(),
    }
}

fn sample() -> PlanReport {
    let denied = serde_json::to_value(vec![ProductDenial {
        product_id: ProductId(10021),
        reasons: vec![RightsReason::Expired {
            expiry: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        }],
    }])
    .unwrap();
    build(inputs(
        vec![
            // Out of order on purpose: the report sorts by audit id (time).
            rec(
                "02",
                AuditAction::LinkWithheld,
                Outcome::Rejected,
                json!({"product_ids": [10021], "denied": denied}),
            ),
            rec(
                "01",
                AuditAction::LinkCreated,
                Outcome::Applied,
                json!({"product_ids": [10020, 10022], "denied": []}),
            ),
            rec(
                "03",
                AuditAction::IdentifiersAligned,
                Outcome::Applied,
                json!({"fixes": [{"field": "CUSTOM.FIELD.ISBN", "from": "978-1-80010-001-5", "to": ISBN}]}),
            ),
            rec("04", AuditAction::IsbnInvalid, Outcome::Rejected, serde_json::Value::Null),
            rec(
                "05",
                AuditAction::RequestCreated,
                Outcome::Applied,
                json!({"request_id": format!("{ISBN}#author_photo"), "role": "author_photo", "due": "2027-01-10"}),
            ),
            rec(
                "06",
                AuditAction::PackageBlocked,
                Outcome::Rejected,
                json!({"channel": "ebook", "reasons": ["front_cover: too small"]}),
            ),
            rec("07", AuditAction::TitleNotFound, Outcome::DeadLettered, serde_json::Value::Null),
            rec("08", AuditAction::ApprovalRepeat, Outcome::Skipped, serde_json::Value::Null),
            rec("09", AuditAction::ApprovalRepeat, Outcome::Skipped, serde_json::Value::Null),
            rec(
                "10",
                AuditAction::LinkNarrowed,
                Outcome::Applied,
                json!({"before": [1, 2], "after": [1], "product_ids": [9]}),
            ),
        ],
        vec![
            PlannedWrite::ConsonanceCreateResource {
                work_id: WorkId(1000),
                product_ids: vec![ProductId(10020), ProductId(10022)],
                resource_variant: "Front cover".into(),
                dedupe_marker: "otmm:x:v2:p10020,10022".into(),
                file_name: "cover.jpg".into(),
                planned_id: "planned-1".into(),
            },
            PlannedWrite::OtmmUpdateFields {
                asset_id: AssetId::parse(ASSET).unwrap(),
                fields: vec![("CUSTOM.FIELD.ISBN".into(), ISBN.into())],
            },
        ],
    ))
}

#[test]
fn records_are_sorted_into_their_sections_in_time_order() {
    let r = sample();
    assert_eq!(r.format, FORMAT);
    let links: Vec<&str> = r.links.iter().map(|l| l.action.as_str()).collect();
    assert_eq!(links, ["created", "withheld", "narrowed"]);
    assert_eq!(r.links[0].role.as_deref(), Some("front_cover"));
    assert_eq!(r.links[0].product_ids, [10020, 10022]);
    // A rights change reports the products it would be linked to after it.
    assert_eq!(r.links[2].product_ids, [1]);
    // The typed denial comes through as its reason text.
    assert_eq!(r.links[1].denied, [Denied { product_id: 10021, reasons: vec!["expired 2026-11-30".into()] }]);
    assert_eq!(r.identifiers.len(), 2);
    assert_eq!(r.identifiers[0].fixes[0].from, "978-1-80010-001-5");
    assert_eq!(r.identifiers[1].action, "invalid");
    assert_eq!(r.requests[0].role.as_deref(), Some("author_photo"));
    assert_eq!(r.requests[0].due.as_deref(), Some("2027-01-10"));
    assert_eq!(r.packages[0].reasons, ["front_cover: too small"]);
    assert_eq!(r.dead_letters[0].action, AuditAction::TitleNotFound);
    assert_eq!(r.other_actions.get(AuditAction::ApprovalRepeat.as_str()), Some(&2));
}

#[test]
fn summary_counts_each_section() {
    let s = sample().summary;
    assert_eq!(s.links.get("created"), Some(&1));
    assert_eq!(s.links.get("withheld"), Some(&1));
    assert_eq!(s.identifier_rewrites, 1);
    assert_eq!(s.identifier_problems, 1);
    assert_eq!(s.requests.get("created"), Some(&1));
    assert_eq!(s.packages.get("blocked"), Some(&1));
    assert_eq!(s.dead_letters, 1);
    assert_eq!(s.writes.get("Consonance"), Some(&1));
    assert_eq!(s.writes.get("OTMM"), Some(&1));
}

#[test]
fn the_table_has_a_row_per_item_with_aligned_columns() {
    let text = render_table(&sample());
    assert!(text.contains("links:        1 created, 1 narrowed, 1 withheld"), "{text}");
    let links: Vec<&str> =
        text.lines().skip_while(|l| *l != "Links").skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(links.len(), 4, "header + 3 rows: {links:?}");
    // Every column starts at the same offset on every line.
    let col = |l: &str| l.find(ISBN).or_else(|| l.find("isbn"));
    let first = col(links[0]);
    assert!(first.is_some());
    assert!(links.iter().all(|l| col(l) == first), "{links:#?}");
    assert!(links[2].contains("10021: expired 2026-11-30"), "{}", links[2]);
    assert!(text.contains("Would be dead-lettered"));
    assert!(text.contains("create resource"));
}

#[test]
fn json_shape_is_stable() {
    let v = serde_json::to_value(sample()).unwrap();
    for key in [
        "format",
        "generated_at",
        "context",
        "summary",
        "links",
        "identifiers",
        "requests",
        "packages",
        "dead_letters",
        "writes",
        "other_actions",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["writes"][0]["write"], "consonance_create_resource");
    assert_eq!(v["links"][1]["denied"][0]["product_id"], 10021);
    // Round trip: what --json prints reads back as the same report.
    let back: PlanReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, sample());
}

#[test]
fn html_escapes_text_and_has_one_row_per_item() {
    let page = html::render(&sample());
    assert!(page.starts_with("<!doctype html>"));
    assert!(!page.contains("<b>"), "detail text must be escaped");
    assert!(page.contains("&lt;b&gt;"));
    assert_eq!(page.matches("data-section=\"links\"").count(), 3);
    assert_eq!(page.matches("data-section=\"identifiers\"").count(), 2);
    assert_eq!(page.matches("data-section=\"dead_letters\"").count(), 1);
    assert_eq!(page.matches("data-section=\"writes\"").count(), 2);
    // Self-contained: no external asset, no script.
    for external in ["src=", "href=\"http", "<script", "<link"] {
        assert!(!page.contains(external), "{external}");
    }
    // The counts come before the first section.
    assert!(page.find("data-card").unwrap() < page.find("<h2").unwrap());
}
