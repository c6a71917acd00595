use super::*;
use crate::approval::Approval;
use crate::mapping::LinkKey;
use chrono::TimeZone;
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../../../config/mapping.example.toml");

pub(crate) fn config() -> MappingConfig {
    MappingConfig::from_toml_str(EXAMPLE, "example").unwrap()
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
}

pub(crate) fn facts(form: &str, stage: &str, publication: Option<NaiveDate>) -> RequestFacts {
    RequestFacts {
        isbn: Isbn13::parse("9780306406157").unwrap(),
        work_id: WorkId(7),
        product_id: ProductId(70),
        title: "The Salt Atlas".into(),
        imprint: Some("Harbour Press".into()),
        form: Some(ProductForm::parse(form).unwrap()),
        publication_date: publication,
        stage: Some(stage.into()),
    }
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(crate) fn link(
    isbn: &Isbn13,
    role: AssetRole,
    products: &[i64],
    asset: u8,
    status: LinkStatus,
) -> AssetLink {
    let asset_id = AssetId::parse(&format!("{asset:040x}")).unwrap();
    AssetLink {
        key: LinkKey::for_asset(isbn.clone(), role, &asset_id),
        version_asset_id: None,
        approval: Approval { asset_id, version: 2, approved_at: now() },
        status,
        approved_by: None,
        work_id: Some(WorkId(7)),
        product_ids: products.iter().map(|p| ProductId(*p)).collect(),
        consonance_resource_id: Some("1".into()),
        rights: None,
        rights_denials: Vec::new(),
        updated_at: now(),
        revision: 1,
    }
}

#[test]
fn hardback_in_design_needs_its_launch_roles_due_120_days_before() {
    let c = config();
    let f = facts("BB", "Design", Some(date(2027, 6, 1)));
    let needs = needed_assets(&f, &c);
    let roles: Vec<AssetRole> = needs.iter().map(|n| n.role).collect();
    assert_eq!(
        roles,
        vec![AssetRole::FrontCover, AssetRole::BackCover, AssetRole::Spine, AssetRole::AuthorPhoto]
    );
    assert!(needs.iter().all(|n| n.due == Some(date(2027, 2, 1))), "{needs:?}");
}

#[test]
fn stages_decide_what_is_requested() {
    let c = config();
    let pubd = Some(date(2027, 6, 1));
    // Acquisition: nothing yet; Editorial: the author photo only (requests.roles moves it earlier).
    assert!(needed_assets(&facts("BB", "Acquisition", pubd), &c).is_empty());
    let editorial = needed_assets(&facts("BB", "Editorial", pubd), &c);
    assert_eq!(editorial.iter().map(|n| n.role).collect::<Vec<_>>(), vec![AssetRole::AuthorPhoto]);
    // Stage names compare case-insensitively; an unknown stage raises nothing.
    assert_eq!(needed_assets(&facts("BB", "production", pubd), &c).len(), 4);
    assert!(needed_assets(&facts("BB", "Marketing", pubd), &c).is_empty());
    // Audio download: front cover and audio sample, 90 days before.
    let audio = needed_assets(&facts("AJ", "Design", pubd), &c);
    assert_eq!(
        audio.iter().map(|n| n.role).collect::<Vec<_>>(),
        vec![AssetRole::FrontCover, AssetRole::AudioSample]
    );
    assert_eq!(audio[0].due, Some(date(2027, 3, 3)));
    // A form without a launch requirement, or no publication date.
    assert!(needed_assets(&facts("BA", "Design", pubd), &c).is_empty());
    assert_eq!(needed_assets(&facts("DG", "Design", None), &c)[0].due, None);
}

#[test]
fn create_close_redate_and_never_twice() {
    let c = config();
    let f = facts("BC", "Design", Some(date(2027, 6, 1)));
    let needs = needed_assets(&f, &c);
    let plan = plan_requests(&f, &needs, &[], &[], now());
    assert_eq!(plan.len(), 3);
    assert!(plan.iter().all(|p| matches!(p, RequestCommand::Create { .. })));
    assert_eq!(plan[0].key(), "9780306406157#front_cover");
    let raised = apply_commands(&[], &plan, now());
    assert!(plan_requests(&f, &needs, &[], &raised, now()).is_empty(), "never twice");

    // The front cover arrives (linked from the work's hardback, on this product too).
    let hardback = Isbn13::parse("9781800100008").unwrap();
    let links = vec![link(&hardback, AssetRole::FrontCover, &[70, 71], 1, LinkStatus::Linked)];
    let plan = plan_requests(&f, &needs, &links, &raised, now());
    assert_eq!(plan.len(), 1);
    assert!(
        matches!(&plan[0], RequestCommand::Close { key, version: 2, .. } if key.ends_with("#front_cover"))
    );
    let after = apply_commands(&raised, &plan, now());
    assert_eq!(after.iter().filter(|r| r.status == RequestStatus::Closed).count(), 1);
    assert!(plan_requests(&f, &needs, &links, &after, now()).is_empty());

    // A pending or withdrawn link, or one on another product, is no arrival.
    for other in [
        link(&hardback, AssetRole::BackCover, &[71], 2, LinkStatus::Linked),
        link(&hardback, AssetRole::BackCover, &[70], 2, LinkStatus::Pending),
    ] {
        let plan = plan_requests(&f, &needs, &[other], &after, now());
        assert!(plan.is_empty(), "{plan:?}");
    }

    // Publication slips a month: the open requests are re-dated, the closed one is not.
    let slipped = facts("BC", "Design", Some(date(2027, 7, 1)));
    let needs2 = needed_assets(&slipped, &c);
    let plan = plan_requests(&slipped, &needs2, &links, &after, now());
    assert_eq!(plan.len(), 2, "{plan:?}");
    for p in &plan {
        assert!(
            matches!(p, RequestCommand::Redate { from: Some(f), to: Some(t), .. } if *f == date(2027, 2, 1) && *t == date(2027, 3, 3)),
            "{p:?}"
        );
    }
    let redated = apply_commands(&after, &plan, now());
    let spine = redated.iter().find(|r| r.role == AssetRole::Spine).unwrap();
    assert_eq!(spine.previous_due, vec![date(2027, 2, 1)]);
    assert_eq!(spine.first_publication_date, Some(date(2027, 6, 1)));
    assert_eq!(spine.publication_date, Some(date(2027, 7, 1)));
    assert!(plan_requests(&slipped, &needs2, &links, &redated, now()).is_empty());
}

#[test]
fn without_request_rules_nothing_is_requested() {
    let text = EXAMPLE.split("# When asset requests are raised").next().unwrap();
    let c = MappingConfig::from_toml_str(text, "x").unwrap();
    assert!(c.request_rules.is_none());
    assert!(needed_assets(&facts("BB", "Production", Some(date(2027, 6, 1))), &c).is_empty());
}

#[test]
fn request_rules_are_validated() {
    let bad = EXAMPLE.replacen("from_stage = \"Design\"", "from_stage = \"Desing\"", 1);
    let err = MappingConfig::from_toml_str(&bad, "m.toml").unwrap_err().to_string();
    assert!(err.contains("requests.from_stage") && err.contains("Desing"), "{err}");
    let bad = EXAMPLE.replacen("author_photo = \"Editorial\"", "author_portrait = \"Editorial\"", 1);
    let err = MappingConfig::from_toml_str(&bad, "m.toml").unwrap_err().to_string();
    assert!(err.contains("requests.roles.author_portrait") && err.contains("unknown role"), "{err}");
    let bad = EXAMPLE.replacen("author_photo = \"Editorial\"", "author_photo = \"Typesetting\"", 1);
    let err = MappingConfig::from_toml_str(&bad, "m.toml").unwrap_err().to_string();
    assert!(err.contains("requests.roles.author_photo") && err.contains("Typesetting"), "{err}");
}

fn arb_stage() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["Acquisition", "Editorial", "Design", "Production", "Published", "Unknown"])
}

fn arb_form() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["BB", "BC", "DG", "AJ"])
}

proptest! {
    /// Planning again on the plan's own result asks for nothing, whatever the starting point.
    #[test]
    fn replanning_is_idempotent(
        form in arb_form(), stage in arb_stage(), stage2 in arb_stage(), days in 0i64..400, slip in -60i64..60,
        arrived_roles in prop::collection::vec(0usize..10, 0..4),
    ) {
        let c = config();
        let publication = now().date_naive() + chrono::Duration::days(days);
        let f = facts(form, stage, Some(publication));
        let isbn = f.isbn.clone();
        let first = plan_requests(&f, &needed_assets(&f, &c), &[], &[], now());
        let raised = apply_commands(&[], &first, now());
        // Some assets arrive, the stage and the date move.
        let links: Vec<AssetLink> = arrived_roles
            .iter()
            .enumerate()
            .map(|(i, r)| link(&isbn, AssetRole::ALL[*r], &[70], i as u8 + 1, LinkStatus::Linked))
            .collect();
        let f2 = facts(form, stage2, Some(publication + chrono::Duration::days(slip)));
        let needs = needed_assets(&f2, &c);
        let plan = plan_requests(&f2, &needs, &links, &raised, now());
        let after = apply_commands(&raised, &plan, now());
        prop_assert!(plan_requests(&f2, &needs, &links, &after, now()).is_empty());
        // Never two requests for one key.
        let keys: BTreeSet<&str> = after.iter().map(|r| r.key.as_str()).collect();
        prop_assert_eq!(keys.len(), after.len());
        // Every needed role without an arrived asset has an open request with the current due date.
        for n in &needs {
            if arrived(&links, &f2, n.role).is_none() {
                let r = after.iter().find(|r| r.role == n.role);
                prop_assert!(r.is_some_and(|r| r.status == RequestStatus::Closed || r.due == n.due));
            }
        }
    }
}

use std::collections::BTreeSet;
