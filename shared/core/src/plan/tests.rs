use super::*;
use crate::mapping::TitleRecord;
use crate::rights::{AssetRights, CountryCode, Territory};
use crate::rights_eval::RightsReason;
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
        missing_launch_fields: Vec::new(),
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

fn actions(plan: &Plan) -> Vec<AuditAction> {
    plan.notes.iter().map(|n| n.action).collect()
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
            assert_eq!(dedupe_marker, &format!("otmm:{}:v1:p10010+10011+10012", id(100)));
        }
        other => panic!("unexpected commands {other:?}"),
    }
    assert_eq!(actions(&plan), vec![AuditAction::LinkCreated]);
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
    // Audio is no JPG: a web link (the example config's route), to the audio product only.
    let audio =
        AssetFacts { mime_type: "audio/mpeg".into(), name: "sample.mp3".into(), ..asset(1, "Audio Sample") };
    let plan = plan_asset(&audio, TitleLookup::Found(&title()), None, &cfg, t(100));
    match &plan.commands[..] {
        [Command::CreateWebLinks { product_ids, website_role, target, dedupe_marker, .. }] => {
            assert_eq!(product_ids, &vec![ProductId(10012)]);
            assert_eq!((website_role.as_str(), *target), ("28", LinkTarget::Staged));
            assert_eq!(dedupe_marker, &format!("otmm:{}:v1:p10012", id(100)));
        }
        other => panic!("unexpected commands {other:?}"),
    }
    assert_eq!(actions(&plan), vec![AuditAction::LinkCreated]);
}

#[test]
fn a_non_jpeg_file_is_never_sent_as_a_supporting_resource() {
    let cfg = config();
    let png =
        AssetFacts { mime_type: "image/png".into(), name: "cover.png".into(), ..asset(1, "Front Cover") };
    let plan = plan_asset(&png, TitleLookup::Found(&title()), None, &cfg, t(100));
    assert!(plan.commands.is_empty() && plan.link.is_none(), "{plan:?}");
    assert_eq!(actions(&plan), vec![AuditAction::LinkNotJpeg]);
    assert_eq!(plan.notes[0].outcome, Outcome::Rejected);
    assert!(plan.notes[0].detail.contains("route = \"web_link\""), "{}", plan.notes[0].detail);
    // A video role configured as a web link takes the link route, whatever the file.
    let video =
        AssetFacts { mime_type: "video/mp4".into(), name: "trailer.mp4".into(), ..asset(1, "Promo Video") };
    let plan = plan_asset(&video, TitleLookup::Found(&title()), None, &cfg, t(100));
    assert!(
        matches!(&plan.commands[..], [Command::CreateWebLinks { target: LinkTarget::Otmm, website_role, .. }] if website_role == "02")
    );
    // The create key does not depend on the route: releasing it after a deletion works for both.
    let key = plan.commands[0].idempotency_key();
    assert_eq!(key, link_create_key(&plan.link.clone().unwrap()));
}

proptest! {
    /// Whatever the role, file type and rights, a supporting resource is only ever created for
    /// a JPEG, and a web-link role never creates one.
    #[test]
    fn supporting_resources_are_jpeg_only(
        role_value in proptest::sample::select(vec![
            "Front Cover", "Back Cover", "Spine", "Full Cover", "Author Photo",
            "Interior Illustration", "Campaign Banner", "Social Graphic", "Promo Video", "Audio Sample",
        ]),
        mime in proptest::sample::select(vec![
            "image/jpeg", "image/png", "image/tiff", "video/mp4", "audio/mpeg", "application/pdf",
            "application/octet-stream",
        ]),
        name in proptest::sample::select(vec!["f.jpg", "f.png", "f.mp4", "f.mp3", "f.pdf", "f"]),
        version in 1u32..4,
    ) {
        let cfg = config();
        let a = AssetFacts { mime_type: mime.into(), name: name.into(), ..asset(version, role_value) };
        let plan = plan_asset(&a, TitleLookup::Found(&title()), None, &cfg, t(100));
        let role = cfg.role_for(role_value).unwrap();
        let web = cfg.resource_for(role).unwrap().route.is_web_link();
        for c in &plan.commands {
            if let Command::CreateResource { .. } = c {
                prop_assert!(!web, "{role} is a web-link role");
                prop_assert!(is_jpeg(mime, name), "{mime} {name} sent as a supporting resource");
            }
            if let Command::CreateWebLinks { .. } = c {
                prop_assert!(web);
            }
        }
    }
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
    assert_eq!(actions(&plan), vec![AuditAction::LinkReplaced]);
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
    assert!(plan.link.is_none());
    // Nothing is linked; only what an interrupted earlier attempt for version 3 may have made
    // in Consonance is looked for (by its marker) and removed.
    assert_eq!(plan.commands, vec![stale_sweep(3)]);
    assert_eq!(actions(&plan), vec![AuditAction::ApprovalStale]);
    assert!(plan.notes[0].detail.contains("version 3 arrived after version 4"));
}

fn stale_sweep(version: u32) -> Command {
    Command::RemoveResourcesMarked {
        work_id: WorkId(1001),
        marker_prefix: format!("otmm:{}:v{version}:", id(100)),
    }
}

#[test]
fn a_late_campaign_version_removes_what_its_interrupted_attempt_made() {
    // Found by the chaos run: a worker killed while v1's create was in flight (it landed, no
    // link was stored), v2 then linked, and v1's retry found itself stale: campaign roles have
    // no unlinkPrevious, so v1's resource stayed beside v2's.
    let cfg = config();
    let v2 = linked(
        &plan_asset(&asset(2, "Social Graphic"), TitleLookup::Found(&title()), None, &cfg, t(100)),
        "sr-2",
    );
    let plan = plan_asset(&asset(1, "Social Graphic"), TitleLookup::Found(&title()), Some(&v2), &cfg, t(200));
    assert_eq!(actions(&plan), vec![AuditAction::ApprovalStale]);
    assert_eq!(plan.commands, vec![stale_sweep(1)]);
    // The marker ends at the version: v1's sweep never matches v10's resources.
    let Command::RemoveResourcesMarked { marker_prefix, .. } = &plan.commands[0] else { unreachable!() };
    assert!(!format!("[otmm:{}:v10:p1]", id(100)).contains(&format!("[{marker_prefix}")));
}

#[test]
fn repeat_of_a_linked_version_is_skipped_but_an_unfinished_one_is_redone() {
    let cfg = config();
    let first = plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100));
    let done_link = linked(&first, "sr-1");
    let again =
        plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), Some(&done_link), &cfg, t(200));
    assert!(again.commands.is_empty());
    assert_eq!(actions(&again), vec![AuditAction::ApprovalRepeat]);
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
    assert_eq!(actions(&plan), vec![AuditAction::IsbnInvalid]);
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
    assert_eq!(actions(&plan), vec![AuditAction::IdentifiersAligned, AuditAction::LinkCreated]);
}

#[test]
fn not_approved_and_unmapped_assets_do_nothing() {
    let cfg = config();
    let mut a = asset(2, "Front Cover");
    a.approved = false;
    let plan = plan_asset(&a, TitleLookup::Found(&title()), None, &cfg, t(100));
    assert!(plan.commands.is_empty() && plan.link.is_none());
    assert_eq!(actions(&plan), vec![AuditAction::AssetNotApproved]);
    let plan = plan_asset(&asset(1, "Mood Board"), TitleLookup::Found(&title()), None, &cfg, t(100));
    assert_eq!(actions(&plan), vec![AuditAction::AssetUnmappedType]);
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

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

/// Products: a hardback sold in GB and IE, an ebook sold in GB, an audiobook sold worldwide.
fn regional_title() -> TitleFacts {
    let mut t = title();
    t.products[0].sales_rights =
        ProductSalesRights { for_sale: [cc("GB"), cc("IE")].into(), ..Default::default() };
    t.products[1].sales_rights = ProductSalesRights { for_sale: [cc("GB")].into(), ..Default::default() };
    t
}

fn with_territory(mut a: AssetFacts, territory: &str) -> AssetFacts {
    a.rights.territory = Territory::parse(territory).unwrap();
    a
}

fn flag(plan: &Plan) -> Option<String> {
    plan.commands.iter().find_map(|c| match c {
        Command::UpdateOtmmFields { fields, .. } => {
            fields.iter().find(|(f, _)| f == "CUSTOM.FIELD.RIGHTS_FLAG").map(|(_, v)| v.clone())
        }
        _ => None,
    })
}

#[test]
fn a_territory_removed_on_the_asset_narrows_the_link() {
    let cfg = config();
    let t = regional_title();
    let current =
        linked(&plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&t), None, &cfg, t_(0)), "sr-1");
    assert_eq!(current.product_ids.len(), 3);
    let plan = plan_asset(
        &with_territory(asset(1, "Front Cover"), "GB IE"),
        TitleLookup::Found(&t),
        Some(&current),
        &cfg,
        t_(1),
    );
    assert_eq!(actions(&plan), vec![AuditAction::LinkNarrowed]);
    assert_eq!(plan.notes[0].flow, Flow::RightsSync);
    let Command::CreateResource { product_ids, dedupe_marker, .. } = &plan.commands[0] else {
        panic!("{:?}", plan.commands)
    };
    assert_eq!(product_ids, &vec![ProductId(10010), ProductId(10011)]);
    assert_ne!(
        dedupe_marker,
        &resource_marker(&id(100), 1, &current.product_ids),
        "not mistaken for the old one"
    );
    assert_eq!(plan.commands[1], Command::DeleteResource { resource_id: "sr-1".into() });
    assert!(flag(&plan).unwrap().starts_with("narrowed "), "{:?}", flag(&plan));
    let link = plan.link.unwrap();
    assert_eq!(
        (link.status, link.product_ids.clone()),
        (LinkStatus::Linked, vec![ProductId(10010), ProductId(10011)])
    );
    assert_eq!(link.rights_denials.len(), 1);
    assert_eq!(link.rights_denials[0].product_id, ProductId(10012));
    assert!(matches!(&link.rights_denials[0].reasons[..], [RightsReason::TerritoryNotCovered { .. }]));
    assert!(plan.notes[0].detail.contains("10012: sold in WORLD -GB -IE"), "{}", plan.notes[0].detail);
}

#[test]
fn expiry_withdraws_and_a_restored_right_relinks() {
    let cfg = config();
    let t = title();
    let mut a = asset(1, "Front Cover");
    a.rights.window.expiry = Some(t_(0).date_naive());
    let current = linked(&plan_asset(&a, TitleLookup::Found(&t), None, &cfg, t_(0)), "sr-1");
    let next_day = t_(0) + chrono::Duration::days(1);
    let plan = plan_asset(&a, TitleLookup::Found(&t), Some(&current), &cfg, next_day);
    assert_eq!(actions(&plan), vec![AuditAction::LinkWithdrawn]);
    assert_eq!(plan.commands[0], Command::DeleteResource { resource_id: "sr-1".into() });
    assert_eq!(
        flag(&plan).unwrap(),
        format!("withdrawn {}: expired 2026-11-01", next_day.format("%Y-%m-%d %H:%M:%S UTC"))
    );
    let withdrawn = linked(&plan, "unused");
    let withdrawn = AssetLink { consonance_resource_id: None, ..withdrawn };
    assert_eq!((withdrawn.status, withdrawn.product_ids.len()), (LinkStatus::Withdrawn, 0));
    assert!(plan.notes[0].detail.contains("expired 2026-11-01"));

    // Nothing changed: nothing to do, and it says so.
    let again = plan_asset(&a, TitleLookup::Found(&t), Some(&withdrawn), &cfg, next_day);
    assert!(again.commands.is_empty() && again.link.is_none());
    assert_eq!(actions(&again), vec![AuditAction::RightsStillWithdrawn]);

    // The expiry is extended in OTMM: linked again, flag cleared.
    a.rights.window.expiry = Some(next_day.date_naive() + chrono::Duration::days(365));
    let plan = plan_asset(&a, TitleLookup::Found(&t), Some(&withdrawn), &cfg, next_day);
    assert_eq!(actions(&plan), vec![AuditAction::LinkRestored]);
    assert!(
        matches!(&plan.commands[0], Command::CreateResource { product_ids, .. } if product_ids.len() == 3)
    );
    assert!(flag(&plan).unwrap().starts_with("cleared "));
    assert_eq!(plan.link.unwrap().status, LinkStatus::Linked);
}

#[test]
fn a_product_newly_sold_where_the_asset_may_not_be_shown_is_dropped() {
    let cfg = config();
    let a = with_territory(asset(1, "Front Cover"), "GB IE");
    let t = regional_title();
    let mut t2 = t.clone();
    t2.products.truncate(2);
    let current = linked(&plan_asset(&a, TitleLookup::Found(&t2), None, &cfg, t_(0)), "sr-1");
    assert_eq!(current.product_ids, vec![ProductId(10010), ProductId(10011)]);
    // Consonance: the ebook is now also sold in the US.
    t2.products[1].sales_rights.for_sale.insert(cc("US"));
    let plan = plan_asset(&a, TitleLookup::Found(&t2), Some(&current), &cfg, t_(1));
    assert_eq!(actions(&plan), vec![AuditAction::LinkNarrowed]);
    assert!(plan.notes[0].detail.contains("10011: sold in US"), "{}", plan.notes[0].detail);
}

#[test]
fn an_approval_whose_rights_cover_nothing_is_withheld() {
    let cfg = config();
    let mut a = asset(1, "Front Cover");
    a.rights.window.embargo_until = Some(t_(0).date_naive() + chrono::Duration::days(10));
    let plan = plan_asset(&a, TitleLookup::Found(&title()), None, &cfg, t_(0));
    assert_eq!(actions(&plan), vec![AuditAction::LinkWithheld]);
    assert_eq!(plan.notes[0].outcome, Outcome::Rejected);
    assert!(!plan.commands.iter().any(|c| matches!(c, Command::CreateResource { .. })));
    assert!(flag(&plan).unwrap().contains("embargoed until"));
    assert_eq!(plan.link.unwrap().status, LinkStatus::Withdrawn);
}

#[test]
fn an_older_version_stays_stale_whatever_its_rights() {
    let cfg = config();
    let v4 = linked(
        &plan_asset(&asset(4, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100)),
        "sr-4",
    );
    let mut expired_v4 = v4.clone();
    expired_v4.status = LinkStatus::Withdrawn;
    let plan =
        plan_asset(&asset(3, "Front Cover"), TitleLookup::Found(&title()), Some(&expired_v4), &cfg, t(200));
    assert_eq!(actions(&plan), vec![AuditAction::ApprovalStale]);
    assert_eq!(plan.commands, vec![stale_sweep(3)]);
}

fn t_(minute: i64) -> DateTime<Utc> {
    t(minute)
}

proptest! {
    /// Whatever rights changes arrive on either side, folding the plans over a model of
    /// Consonance leaves exactly the covered products linked through one live resource (none
    /// when withdrawn), and the link says what the evaluation says.
    #[test]
    fn rights_changes_keep_consonance_and_the_link_in_step(
        steps in prop::collection::vec((prop::sample::select(vec!["WORLD", "GB IE", "GB", "WORLD -US", "FR"]), 0i64..3, any::<bool>()), 1..8)
    ) {
        let cfg = config();
        let mut current: Option<AssetLink> = None;
        let mut resources: std::collections::BTreeMap<String, Vec<ProductId>> = Default::default();
        let mut next = 0;
        for (i, (territory, expire, us)) in steps.into_iter().enumerate() {
            let now = t(i as i64 * 60 * 24 * 2);
            let mut a = with_territory(asset(1, "Front Cover"), territory);
            if expire == 0 { a.rights.window.expiry = Some(now.date_naive() - chrono::Duration::days(1)); }
            let mut ti = regional_title();
            if us { ti.products[1].sales_rights.for_sale.insert(cc("US")); }
            let plan = plan_asset(&a, TitleLookup::Found(&ti), current.as_ref(), &cfg, now);
            let mut created = None;
            for c in &plan.commands {
                match c {
                    Command::CreateResource { product_ids, .. } | Command::CreateWebLinks { product_ids, .. } => {
                        next += 1;
                        resources.insert(format!("sr-{next}"), product_ids.clone());
                        created = Some(format!("sr-{next}"));
                    }
                    Command::DeleteResource { resource_id } => { resources.remove(resource_id); }
                    Command::UpdateOtmmFields { .. } | Command::RemoveResourcesMarked { .. } => {}
                }
            }
            if let Some(mut link) = plan.link {
                if created.is_some() { link.consonance_resource_id = created; }
                link.revision += 1;
                current = Some(link);
            }
            let link = current.as_ref().unwrap();
            let eligible: Vec<&ProductFacts> = ti.products.iter().collect();
            let expected = crate::rights_eval::evaluate(&a.rights, AssetRole::FrontCover, &eligible, &cfg, now.date_naive());
            prop_assert_eq!(&link.product_ids, &expected.covered);
            prop_assert_eq!(&link.rights_denials, &expected.denied);
            if expected.covered.is_empty() {
                prop_assert_eq!(link.status, LinkStatus::Withdrawn);
                prop_assert!(resources.is_empty(), "{:?}", resources);
            } else {
                prop_assert_eq!(link.status, LinkStatus::Linked);
                let id = link.consonance_resource_id.clone().unwrap();
                prop_assert_eq!(resources.len(), 1, "{:?}", resources);
                prop_assert_eq!(resources.get(&id), Some(&expected.covered));
            }
        }
    }

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

fn stored_title(t: &TitleFacts) -> TitleRecord {
    TitleRecord {
        isbn: t.isbn.clone(),
        work_id: t.work_id,
        product_id: t.product_id,
        title: t.title.clone(),
        imprint: t.imprint.clone(),
        product_form: None,
        publication_date: None,
        sales_rights: None,
        updated_at: t0(),
        revision: 1,
    }
}

fn t0() -> DateTime<Utc> {
    t(0)
}

#[test]
fn a_repeat_is_told_without_the_title_only_when_nothing_could_change() {
    let cfg = config();
    let today = t(200).date_naive();
    let first = plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100));
    let link = linked(&first, "sr-1");
    let stored = stored_title(&title());
    let repeat = repeated_approval(&asset(1, "Front Cover"), Some(&link), Some(&stored), &cfg, today)
        .expect("the linked version approved again");
    assert_eq!(actions(&repeat), vec![AuditAction::ApprovalRepeat]);
    assert!(repeat.commands.is_empty() && repeat.link.is_none());
    assert_eq!(repeat.isbn, Some(title().isbn));

    // Each of these needs the full plan.
    let newer = asset(2, "Front Cover");
    assert!(repeated_approval(&newer, Some(&link), Some(&stored), &cfg, today).is_none(), "another version");
    let mut unfinished = link.clone();
    unfinished.status = LinkStatus::Failed;
    assert!(
        repeated_approval(&asset(1, "Front Cover"), Some(&unfinished), Some(&stored), &cfg, today).is_none()
    );
    let mut moved = asset(1, "Front Cover");
    moved.rights.window.expiry = Some(today);
    assert!(repeated_approval(&moved, Some(&link), Some(&stored), &cfg, today).is_none(), "rights changed");
    let mut hyphenated = asset(1, "Front Cover");
    hyphenated.isbn_field = Some("978-1-80001-000-0".into());
    assert!(
        repeated_approval(&hyphenated, Some(&link), Some(&stored), &cfg, today).is_none(),
        "ISBN to align"
    );
    let mut other_imprint = stored.clone();
    other_imprint.imprint = Some("Quay Books".into());
    assert!(
        repeated_approval(&asset(1, "Front Cover"), Some(&link), Some(&other_imprint), &cfg, today).is_none()
    );
    assert!(
        repeated_approval(&asset(1, "Front Cover"), Some(&link), None, &cfg, today).is_none(),
        "no title"
    );
    let mut expired = link.clone();
    let mut expiring = asset(1, "Front Cover");
    expiring.rights.window.expiry = Some(t(100).date_naive());
    expired.rights = Some(expiring.rights.clone());
    let tomorrow = t(100).date_naive().succ_opt().unwrap();
    assert!(repeated_approval(&expiring, Some(&expired), Some(&stored), &cfg, tomorrow).is_none(), "expired");
}

proptest! {
    /// Whenever the fast path answers, the full plan (with the title the stored record was
    /// made from) answers the same: a repeat, nothing to do.
    #[test]
    fn the_fast_repeat_agrees_with_the_full_plan(
        expiry_days in proptest::option::of(-3i64..3),
        start_days in proptest::option::of(-3i64..3),
        withdrawn in any::<bool>(),
        version in 1u32..3,
        imprint in prop_oneof![Just(None), Just(Some("Harbour Press")), Just(Some("Quay Books"))],
    ) {
        let cfg = config();
        let now = t(300);
        let today = now.date_naive();
        let first = plan_asset(&asset(1, "Front Cover"), TitleLookup::Found(&title()), None, &cfg, t(100));
        let link = linked(&first, "sr-1");
        let mut a = asset(version, "Front Cover");
        a.imprint_field = imprint.map(str::to_string);
        a.rights.withdrawn = withdrawn;
        a.rights.window.expiry = expiry_days.map(|d| today + chrono::Duration::days(d));
        a.rights.window.start = start_days.map(|d| today + chrono::Duration::days(d));
        let mut current = link.clone();
        current.rights = Some(a.rights.clone());
        if let Some(fast) = repeated_approval(&a, Some(&current), Some(&stored_title(&title())), &cfg, today) {
            let full = plan_asset(&a, TitleLookup::Found(&title()), Some(&current), &cfg, now);
            prop_assert_eq!(actions(&full), actions(&fast));
            prop_assert!(full.commands.is_empty() && full.link.is_none());
        }
    }
    /// The same over territories: a link narrowed or withdrawn by its products' sales rights
    /// (territory) or withdrawn for good (expired, withdrawn in OTMM) is told as a repeat without
    /// Consonance exactly as the full plan tells it.
    #[test]
    fn the_fast_repeat_agrees_with_the_full_plan_for_links_left_out_by_territory(
        territory in prop::sample::select(vec!["WORLD", "GB IE", "GB", "WORLD -GB", "FR", "US"]),
        expiry_days in proptest::option::of(-2i64..2),
        start_days in proptest::option::of(-2i64..2),
        withdrawn in any::<bool>(),
        regional in any::<bool>(),
    ) {
        let cfg = config();
        let now = t(300);
        let today = now.date_naive();
        let title = if regional { regional_title() } else { title() };
        let mut a = with_territory(asset(1, "Front Cover"), territory);
        a.rights.window.expiry = expiry_days.map(|d| today + chrono::Duration::days(d));
        a.rights.window.start = start_days.map(|d| today + chrono::Duration::days(d));
        a.rights.withdrawn = withdrawn;
        // The link as the full plan made it under these rights (linked, narrowed or withdrawn).
        let first = plan_asset(&a, TitleLookup::Found(&title), None, &cfg, now);
        prop_assume!(first.link.is_some());
        let current = linked(&first, "sr-1");
        let fast = repeated_approval(&a, Some(&current), Some(&stored_title(&title)), &cfg, today);
        let full = plan_asset(&a, TitleLookup::Found(&title), Some(&current), &cfg, now);
        if let Some(fast) = &fast {
            let said = |p: &Plan| p.notes.iter().map(|n| (n.flow, n.action, n.outcome, n.detail.clone())).collect::<Vec<_>>();
            prop_assert_eq!(said(&full), said(fast));
            prop_assert!(full.commands.is_empty() && full.link.is_none());
        }
        // Whenever the full plan would do nothing and no reason ends by itself (a start date or
        // an embargo to come), the fast path answers too.
        let ends_by_itself = current.rights_denials.iter().flat_map(|d| &d.reasons).any(|r| !r.is_lasting());
        if full.commands.is_empty() && full.link.is_none() && !ends_by_itself {
            prop_assert!(fast.is_some(), "{:?} {:?}", current.status, current.rights_denials);
        }
    }
}
