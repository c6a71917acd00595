use super::*;
use crate::rights::AssetRights;
use chrono::TimeZone;
use proptest::prelude::*;

fn config() -> MappingConfig {
    MappingConfig::from_toml_str(
        include_str!("../../../../config/mapping.example.toml"),
        "mapping.example.toml",
    )
    .expect("the example config is valid")
}

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

fn id(n: u64) -> AssetId {
    AssetId::parse(&format!("{n:040x}")).unwrap()
}

const ISBN: &str = "9781800010000";

fn asset(version: u32, asset_type: &str) -> AssetFacts {
    AssetFacts {
        asset_id: id(100 + u64::from(version)),
        lineage_id: id(100),
        version,
        deleted: false,
        name: "cover.jpg".into(),
        mime_type: "image/jpeg".into(),
        isbn_field: Some(ISBN.into()),
        asset_type_field: Some(asset_type.into()),
        imprint_field: Some("Harbour Press".into()),
        approved: true,
        approved_by: Some(Actor { user_id: "mpatel".into(), name: None }),
        approved_at: Some(t(i64::from(version) * 10)),
        rights: AssetRights::unrestricted(),
        last_updated: t(i64::from(version) * 10),
    }
}

fn product(id: i64, form: &str) -> ProductFacts {
    ProductFacts {
        product_id: ProductId(id),
        isbn: None,
        form: Some(ProductForm::parse(form).unwrap()),
        publication_date: None,
        sales_rights: ProductSalesRights { for_sale_worldwide: true, ..Default::default() },
    }
}

fn title() -> TitleFacts {
    TitleFacts {
        isbn: Isbn13::parse(ISBN).unwrap(),
        work_id: WorkId(1001),
        product_id: ProductId(10010),
        title: "The Salt Lantern".into(),
        imprint: Some("Harbour Press".into()),
        products: vec![product(10010, "BB"), product(10011, "DG"), product(10012, "AJ")],
    }
}

fn linked(plan: &Plan, resource: &str) -> AssetLink {
    let mut l = plan.link.clone().expect("plan writes a link");
    l.consonance_resource_id = Some(resource.into());
    l.revision += 1;
    l
}

fn actions(plan: &Plan) -> Vec<&str> {
    plan.notes.iter().map(|n| n.action.as_str()).collect()
}

#[test]
fn approved_front_cover_links_to_every_product() {
    let cfg = config();
    let plan = plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100));
    assert_eq!(plan.verdict, Verdict::Done);
    match &plan.commands[..] {
        [
            Command::CreateResource {
                work_id,
                product_ids,
                unlink_previous,
                resource_variant,
                dedupe_marker,
                ..
            },
        ] => {
            assert_eq!(*work_id, WorkId(1001));
            assert_eq!(product_ids, &vec![ProductId(10010), ProductId(10011), ProductId(10012)]);
            assert!(*unlink_previous);
            assert_eq!(resource_variant, "front_cover");
            assert_eq!(dedupe_marker, &format!("otmm:{}:v1", id(100)));
        }
        other => panic!("unexpected commands {other:?}"),
    }
    assert_eq!(actions(&plan), vec!["link.created"]);
    let link = plan.link.unwrap();
    assert_eq!((link.approval.version, link.status), (1, LinkStatus::Linked));
}

#[test]
fn back_cover_goes_only_to_print_products_and_audio_sample_only_to_audio() {
    let cfg = config();
    let plan = plan_asset(&asset(1, "Back Cover"), TitleLookup::Found(&title()), None, &cfg, t(100));
    assert!(
        matches!(&plan.commands[0], Command::CreateResource { product_ids, .. } if product_ids == &vec![ProductId(10010)])
    );
    let plan = plan_asset(&asset(1, "Audio Sample"), TitleLookup::Found(&title()), None, &cfg, t(100));
    assert!(
        matches!(&plan.commands[0], Command::CreateResource { product_ids, .. } if product_ids == &vec![ProductId(10012)])
    );
}

#[test]
fn newer_version_replaces_and_deletes_the_old_resource() {
    let cfg = config();
    let first = plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100));
    let current = linked(&first, "sr-1");
    let plan =
        plan_asset(&asset(2, "Front Cover"), TitleLookup::Found(&title()), Some(&current), &cfg, t(200));
    assert_eq!(plan.commands.len(), 2);
    assert_eq!(plan.commands[1], Command::DeleteResource { resource_id: "sr-1".into() });
    assert_eq!(actions(&plan), vec!["link.replaced"]);
    assert_eq!(plan.link.unwrap().revision, current.revision, "the write expects the revision it read");
}

#[test]
fn version_three_after_four_changes_nothing_and_says_so() {
    let cfg = config();
    let v4 = linked(
        &plan_asset(&asset(4, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100)),
        "sr-4",
    );
    let plan = plan_asset(&asset(3, "Front Cover"), TitleLookup::Found(&title()), Some(&v4), &cfg, t(200));
    assert!(plan.commands.is_empty() && plan.link.is_none());
    assert_eq!(actions(&plan), vec!["approval.stale"]);
    assert!(plan.notes[0].detail.contains("version 3 arrived after version 4"));
}

#[test]
fn repeat_of_a_linked_version_is_skipped_but_an_unfinished_one_is_redone() {
    let cfg = config();
    let first = plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100));
    let done_link = linked(&first, "sr-1");
    let again =
        plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), Some(&done_link), &cfg, t(200));
    assert!(again.commands.is_empty());
    assert_eq!(actions(&again), vec!["approval.repeat"]);
    let mut failed = done_link.clone();
    failed.status = LinkStatus::Failed;
    let redo =
        plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), Some(&failed), &cfg, t(200));
    assert!(matches!(redo.commands[0], Command::CreateResource { .. }));
}

#[test]
fn campaign_assets_accumulate_and_never_replace() {
    let cfg = config();
    let plan = plan_asset(&asset(1, "Social Graphic"), TitleLookup::Found(&title()), None, &cfg, t(100));
    assert!(matches!(&plan.commands[..], [Command::CreateResource { unlink_previous: false, .. }]));
    assert_eq!(plan.notes[0].flow, Flow::CampaignAsset);
    assert_eq!(plan.link.unwrap().key.slot, id(100).to_string(), "one slot per campaign asset");
}

#[test]
fn a_new_version_of_a_campaign_asset_retires_only_its_own_old_version() {
    let cfg = config();
    let v1 = linked(
        &plan_asset(&asset(1, "Social Graphic"), TitleLookup::Found(&title()), None, &cfg, t(100)),
        "sr-1",
    );
    let plan = plan_asset(&asset(2, "Social Graphic"), TitleLookup::Found(&title()), Some(&v1), &cfg, t(200));
    assert!(matches!(&plan.commands[0], Command::CreateResource { unlink_previous: false, .. }));
    assert_eq!(plan.commands[1], Command::DeleteResource { resource_id: "sr-1".into() });
    assert_eq!(plan.link.unwrap().key, v1.key, "same slot: the asset's own");
}

#[test]
fn invalid_isbn_is_reported_never_written() {
    let cfg = config();
    let mut a = asset(1, "Front Cover");
    a.isbn_field = Some("9781800010001".into());
    let plan = plan_asset(&a, TitleLookup::Found(&title()), None, &cfg, t(100));
    assert!(plan.commands.is_empty() && plan.link.is_none() && plan.isbn.is_none());
    assert_eq!(actions(&plan), vec!["isbn.invalid"]);
    assert_eq!(plan.notes[0].outcome, Outcome::Rejected);
    assert!(plan.notes[0].detail.contains("check digit"));
}

#[test]
fn unknown_title_is_permanent() {
    let plan = plan_asset(&asset(1, "Front Cover"), TitleLookup::NotFound, None, &config(), t(100));
    assert!(matches!(&plan.verdict, Verdict::Permanent { cause } if cause.contains(ISBN)));
    assert!(plan.commands.is_empty());
}

#[test]
fn hyphenated_isbn_and_wrong_imprint_are_aligned_from_consonance() {
    let cfg = config();
    let mut a = asset(1, "Front Cover");
    a.isbn_field = Some("978-1-80001-000-0".into());
    a.imprint_field = Some("Northlight".into());
    let plan = plan_asset(&a, TitleLookup::Found(&title()), None, &cfg, t(100));
    let Command::UpdateOtmmFields { fields, .. } = &plan.commands[0] else { panic!("{:?}", plan.commands) };
    assert_eq!(
        fields,
        &vec![
            ("CUSTOM.FIELD.ISBN".to_string(), ISBN.to_string()),
            ("CUSTOM.FIELD.IMPRINT".to_string(), "Harbour Press".to_string())
        ]
    );
    assert_eq!(actions(&plan), vec!["identifiers.aligned", "link.created"]);
}

#[test]
fn not_approved_and_unmapped_assets_do_nothing() {
    let cfg = config();
    let mut a = asset(2, "Front Cover");
    a.approved = false;
    let plan = plan_asset(&a, TitleLookup::Found(&title()), None, &cfg, t(100));
    assert!(plan.commands.is_empty() && plan.link.is_none());
    assert_eq!(actions(&plan), vec!["asset.not_approved"]);
    let plan = plan_asset(&asset(1, "Mood Board"), TitleLookup::Found(&title()), None, &cfg, t(100));
    assert_eq!(actions(&plan), vec!["asset.unmapped_type"]);
}

#[test]
fn deleting_a_linked_asset_withdraws_its_resource() {
    let cfg = config();
    let current = linked(
        &plan_asset(&asset(2, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100)),
        "sr-2",
    );
    let mut gone = asset(2, "Front Cover");
    gone.deleted = true;
    let plan = plan_asset(&gone, TitleLookup::Found(&title()), Some(&current), &cfg, t(200));
    assert_eq!(plan.commands, vec![Command::DeleteResource { resource_id: "sr-2".into() }]);
    assert_eq!(plan.link.unwrap().status, LinkStatus::Withdrawn);
}

proptest! {
    /// Whatever order versions of one asset arrive in, folding the plans ends with the highest
    /// approved version linked, and each version's resource is created at most once.
    #[test]
    fn any_arrival_order_converges_on_the_latest_version(order in Just((1u32..=5).collect::<Vec<_>>()).prop_shuffle(), dupes in prop::collection::vec(1u32..=5, 0..4)) {
        let cfg = config();
        let mut arrivals = order.clone();
        arrivals.extend(dupes);
        let mut current: Option<AssetLink> = None;
        let mut created = std::collections::BTreeMap::new();
        for v in arrivals {
            let plan = plan_asset(&asset(v, "Front Cover"), TitleLookup::Found(&title()), current.as_ref(), &cfg, t(1000));
            for c in &plan.commands {
                if let Command::CreateResource { dedupe_marker, .. } = c {
                    *created.entry(dedupe_marker.clone()).or_insert(0) += 1;
                }
            }
            if plan.link.is_some() {
                current = Some(linked(&plan, &format!("sr-{v}")));
            }
        }
        prop_assert_eq!(current.unwrap().approval.version, 5);
        prop_assert!(created.values().all(|n| *n == 1), "{:?}", created);
    }

    /// An ISBN that fails validation never reaches a command.
    #[test]
    fn invalid_isbns_never_reach_a_command(raw in "[0-9X -]{0,17}") {
        let mut a = asset(1, "Front Cover");
        a.isbn_field = Some(raw.clone());
        let plan = plan_asset(&a, TitleLookup::Found(&title()), None, &config(), t(100));
        if Isbn13::parse(&raw).is_err() {
            prop_assert!(plan.commands.is_empty());
            prop_assert!(plan.link.is_none());
        }
    }
}
