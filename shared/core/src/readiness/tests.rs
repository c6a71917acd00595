use super::*;
use crate::requests::tests::{config, date, facts, link, now};
use crate::requests::{apply_commands, needed_assets, plan_requests};
use crate::rights::{AssetRights, Territory};
use proptest::prelude::*;

fn rfacts(form: &str, publication: NaiveDate) -> ReadinessFacts {
    ReadinessFacts {
        title: facts(form, "Production", Some(publication)),
        sales_rights: ProductSalesRights { for_sale_worldwide: true, ..Default::default() },
    }
}

fn isbn() -> Isbn13 {
    Isbn13::parse("9780306406157").unwrap()
}

fn all_linked(roles: &[AssetRole]) -> Vec<AssetLink> {
    roles.iter().enumerate().map(|(i, r)| link(&isbn(), *r, &[70], i as u8 + 1, LinkStatus::Linked)).collect()
}

const BC: [AssetRole; 3] = [AssetRole::FrontCover, AssetRole::BackCover, AssetRole::Spine];

#[test]
fn everything_linked_is_ready_and_packaged_counts_too() {
    let c = config();
    let f = rfacts("BC", date(2027, 6, 1));
    let r = evaluate_readiness(&f, &[], &all_linked(&BC), &[], &[], &[], &c, now());
    assert_eq!(r.status, ReadinessStatus::Ready, "{r:#?}");
    assert!(r.reasons.is_empty());
    assert_eq!(r.roles.len(), 3);
    assert!(r.roles.iter().all(|x| x.state == RoleState::Linked));
    assert_eq!(r.days_to_publication, Some(212));
    let pkg = PackageSummary::from_doc(
        "print",
        &serde_json::json!({"status": PackageStatus::Staged, "files": [{"role": "front_cover", "asset_id": "x", "version": 2}, {"role": "nonsense"}]}),
    )
    .unwrap();
    let r = evaluate_readiness(&f, &[], &all_linked(&BC), &[], &[], std::slice::from_ref(&pkg), &c, now());
    assert_eq!(r.role(AssetRole::FrontCover).unwrap().state, RoleState::Packaged);
    assert_eq!(r.role(AssetRole::Spine).unwrap().state, RoleState::Linked);
    assert_eq!(r.status, ReadinessStatus::Ready);
    // A blocked package packages nothing.
    let blocked = PackageSummary { status: PackageStatus::Blocked, ..pkg };
    let r = evaluate_readiness(&f, &[], &all_linked(&BC), &[], &[], &[blocked], &c, now());
    assert_eq!(r.role(AssetRole::FrontCover).unwrap().state, RoleState::Linked);
}

/// A file that failed a recipient's delivery check blocks its role, with the recipient, the
/// file, the check, the measured value and the limit in the reason; the other roles of the
/// package stay packaged.
#[test]
fn a_failed_delivery_check_blocks_the_role_naming_file_check_value_and_limit() {
    let c = config();
    let f = rfacts("BC", date(2027, 6, 1));
    let reason = "front_cover.jpg: image.short_side is 400 px; the limit is at least 500 px";
    let body = serde_json::json!({
        "status": PackageStatus::Staged,
        "files": [
            {"role": "front_cover", "key": "packages/x/print/front_cover.jpg"},
            {"role": "spine", "key": "packages/x/print/spine.jpg"},
        ],
        "delivery_checks": [
            {"recipient": "lenient", "passed": true, "checks": [{"file": "front_cover.jpg", "passed": true, "reason": "ok"}]},
            {"recipient": "strict", "passed": false, "checks": [
                {"file": "front_cover.jpg", "passed": false, "reason": reason},
                {"file": "spine.jpg", "passed": true, "reason": "ok"},
                {"file": "package", "passed": false, "reason": "package: a package-wide check"},
            ]},
        ],
    });
    let pkg = PackageSummary::from_doc("print", &body).unwrap();
    assert_eq!(
        pkg.check_failures,
        [CheckFailure { role: AssetRole::FrontCover, recipient: "strict".into(), reason: reason.into() }]
    );
    let r = evaluate_readiness(&f, &[], &all_linked(&BC), &[], &[], std::slice::from_ref(&pkg), &c, now());
    let front = r.role(AssetRole::FrontCover).unwrap();
    assert_eq!(front.state, RoleState::CheckFailed);
    assert_eq!(front.reasons, [format!("front_cover: delivery check failed for strict: {reason}")]);
    assert_eq!(r.role(AssetRole::Spine).unwrap().state, RoleState::Packaged);
    assert_eq!(r.status, ReadinessStatus::Blocked, "a failed check blocks the launch, whatever the dates");
    assert!(r.reasons[0].contains(reason), "{:?}", r.reasons);
    // Every recipient passed: packaged, ready.
    let passed = PackageSummary { check_failures: Vec::new(), ..pkg };
    let r = evaluate_readiness(&f, &[], &all_linked(&BC), &[], &[], &[passed], &c, now());
    assert_eq!(r.role(AssetRole::FrontCover).unwrap().state, RoleState::Packaged);
    assert_eq!(r.status, ReadinessStatus::Ready);
}

#[test]
fn missing_roles_are_at_risk_before_their_due_date_and_blocked_after() {
    let c = config();
    // Due 2027-02-01 (120 days before 2027-06-01).
    let f = rfacts("BC", date(2027, 6, 1));
    let links = all_linked(&BC[..2]);
    let r = evaluate_readiness(&f, &[], &links, &[], &[], &[], &c, now());
    assert_eq!(r.status, ReadinessStatus::AtRisk);
    assert_eq!(r.role(AssetRole::Spine).unwrap().state, RoleState::Missing);
    assert!(r.reasons[0].contains("spine") && r.reasons[0].contains("due 2027-02-01"), "{:?}", r.reasons);
    let late = Utc.with_ymd_and_hms(2027, 2, 10, 9, 0, 0).unwrap();
    let r = evaluate_readiness(&f, &[], &links, &[], &[], &[], &c, late);
    assert_eq!(r.status, ReadinessStatus::Blocked);
    assert!(r.reasons[0].contains("9 days ago"), "{:?}", r.reasons);
    let published = Utc.with_ymd_and_hms(2027, 6, 2, 9, 0, 0).unwrap();
    let r = evaluate_readiness(&f, &[], &links, &[], &[], &[], &c, published);
    assert!(r.reasons[0].contains("published on 2027-06-01 without it"), "{:?}", r.reasons);
    assert_eq!(r.days_to_publication, Some(-1));
}

#[test]
fn requested_in_review_untagged_and_rights_blocked() {
    let c = config();
    let f = rfacts("BC", date(2027, 6, 1));
    let needs = needed_assets(&f.title, &c);
    let requests = apply_commands(&[], &plan_requests(&f.title, &needs, &[], &[], now()), now());
    let mut links = all_linked(&BC[..2]);
    // Front cover: approved but its territory field is empty; back cover: rights exclude the US.
    links[1].rights = Some(AssetRights {
        territory: Territory::parse("WORLD -US").unwrap(),
        ..AssetRights::unrestricted()
    });
    let observed = vec![ObservedAsset {
        lineage_id: links[0].approval.asset_id.clone(),
        role: AssetRole::FrontCover,
        version: 2,
        approved: true,
        missing_fields: vec![FieldName::Territory],
    }];
    let r = evaluate_readiness(&f, &[], &links, &observed, &requests, &[], &c, now());
    assert_eq!(r.role(AssetRole::FrontCover).unwrap().state, RoleState::Untagged);
    assert_eq!(r.role(AssetRole::BackCover).unwrap().state, RoleState::RightsBlocked);
    let spine = r.role(AssetRole::Spine).unwrap();
    assert_eq!(
        (spine.state, spine.request_id.as_deref()),
        (RoleState::Requested, Some("9780306406157#spine"))
    );
    assert_eq!(r.status, ReadinessStatus::Blocked);
    assert!(
        r.reasons[0].contains("back_cover: rights do not clear it") && r.reasons[0].contains("US"),
        "{:?}",
        r.reasons
    );
    // The product not sold in the US: the same asset is cleared.
    let f2 = ReadinessFacts {
        sales_rights: ProductSalesRights {
            for_sale_worldwide: true,
            not_for_sale: [CountryCode::parse("US").unwrap()].into_iter().collect(),
            ..Default::default()
        },
        ..f.clone()
    };
    let r = evaluate_readiness(&f2, &[], &links, &observed, &requests, &[], &c, now());
    assert_eq!(r.role(AssetRole::BackCover).unwrap().state, RoleState::Linked);
    // An asset in review for the spine.
    let in_review = ObservedAsset {
        lineage_id: AssetId::parse(&format!("{:040x}", 99)).unwrap(),
        role: AssetRole::Spine,
        version: 1,
        approved: false,
        missing_fields: vec![],
    };
    let r = evaluate_readiness(&f2, &[], &links, &[in_review], &requests, &[], &c, now());
    assert_eq!(r.role(AssetRole::Spine).unwrap().state, RoleState::InReview);
    // A withdrawn link is rights-blocked while its asset is in OTMM; missing once deleted.
    let mut withdrawn = all_linked(&BC);
    withdrawn[2].status = LinkStatus::Withdrawn;
    let still_there = ObservedAsset {
        lineage_id: withdrawn[2].approval.asset_id.clone(),
        role: AssetRole::Spine,
        version: 2,
        approved: true,
        missing_fields: vec![],
    };
    let r = evaluate_readiness(&f2, &[], &withdrawn, &[still_there], &[], &[], &c, now());
    assert_eq!(r.role(AssetRole::Spine).unwrap().state, RoleState::RightsBlocked);
    assert_eq!(r.status, ReadinessStatus::Blocked);
    let r = evaluate_readiness(&f2, &[], &withdrawn, &[], &[], &[], &c, now());
    assert_eq!(r.role(AssetRole::Spine).unwrap().state, RoleState::Missing);
    assert_eq!(r.status, ReadinessStatus::AtRisk);
}

#[test]
fn milestones_from_the_schedule_and_a_slip_is_a_risk() {
    let schedule = ScheduleFacts {
        stage: Some("Editorial".into()),
        ms_delivery_date: Some(date(2026, 10, 1)),
        revised_ms_delivery_date: Some(date(2026, 12, 1)),
        actual_ms_delivery_date: None,
        delivery_dates: vec![("Design".into(), date(2027, 1, 15), None)],
        production_run_dates: vec![date(2027, 5, 10)],
        unavailable: Vec::new(),
    };
    let today = now().date_naive();
    let ms = milestones(&schedule, Some(date(2027, 7, 1)), Some(date(2027, 6, 1)), today);
    assert_eq!(ms.len(), 3);
    assert_eq!(ms[0].kind, MilestoneKind::ManuscriptApproval);
    assert_eq!(ms[0].slipped_to, Some(date(2026, 12, 1)));
    assert_eq!(ms[1].due, Some(date(2027, 1, 15)));
    assert_eq!(ms[1].done, None);
    assert_eq!((ms[2].due, ms[2].slipped_to), (Some(date(2027, 6, 1)), Some(date(2027, 7, 1))));
    let c = config();
    let f = rfacts("BC", date(2027, 7, 1));
    let r = evaluate_readiness(&f, &ms, &all_linked(&BC), &[], &[], &[], &c, now());
    assert_eq!(r.status, ReadinessStatus::AtRisk);
    assert_eq!(r.reasons, vec!["manuscript approval slipped from 2026-10-01 to 2026-12-01".to_string()]);
    // Delivered: no longer a risk.
    let done = ScheduleFacts { actual_ms_delivery_date: Some(date(2026, 11, 20)), ..schedule };
    let ms = milestones(&done, Some(date(2027, 7, 1)), None, today);
    let r = evaluate_readiness(&f, &ms, &all_linked(&BC), &[], &[], &[], &c, now());
    assert_eq!(r.status, ReadinessStatus::Ready);
}

#[test]
fn filter_and_same_as() {
    let c = config();
    let f = rfacts("BC", date(2027, 6, 1));
    let r = evaluate_readiness(&f, &[], &[], &[], &[], &[], &c, now());
    let later = evaluate_readiness(&f, &[], &[], &[], &[], &[], &c, now() + chrono::Duration::hours(3));
    assert!(r.same_as(&later));
    let mut filter = ReadinessFilter { status: Some(ReadinessStatus::AtRisk), ..Default::default() };
    assert!(filter.matches(&r));
    filter.imprint = Some("harbour press".into());
    filter.form = Some("BC".into());
    filter.from = Some(date(2027, 6, 1));
    filter.to = Some(date(2027, 6, 1));
    assert!(filter.matches(&r));
    filter.to = Some(date(2027, 5, 31));
    assert!(!filter.matches(&r));
    assert!(!ReadinessFilter { form: Some("BB".into()), ..Default::default() }.matches(&r));
}

use chrono::TimeZone;

fn arb_state() -> impl Strategy<Value = RoleState> {
    prop::sample::select(RoleState::ALL.to_vec())
}

fn role_entry(i: usize, state: RoleState, due: Option<NaiveDate>) -> RoleReadiness {
    RoleReadiness {
        role: AssetRole::ALL[i],
        state,
        asset_id: None,
        version: None,
        request_id: None,
        due,
        reasons: vec![format!("{}: {}", AssetRole::ALL[i], state.as_str())],
    }
}

proptest! {
    /// Improving any one role (by rank) never worsens the status.
    #[test]
    fn improving_a_role_never_worsens_the_status(
        states in prop::collection::vec(arb_state(), 1..6),
        which in any::<prop::sample::Index>(),
        better in arb_state(),
        due_offset in -30i64..60,
        pub_offset in -10i64..200,
    ) {
        let today = now().date_naive();
        let due = Some(today + chrono::Duration::days(due_offset));
        let publication = Some(today + chrono::Duration::days(pub_offset));
        let roles: Vec<RoleReadiness> = states.iter().enumerate().map(|(i, s)| role_entry(i, *s, due)).collect();
        let i = which.index(roles.len());
        prop_assume!(better.rank() > roles[i].state.rank());
        let mut improved = roles.clone();
        improved[i].state = better;
        let (before, _) = summarise(&roles, &[], publication, today);
        let (after, _) = summarise(&improved, &[], publication, today);
        prop_assert!(after <= before, "{:?} -> {:?}", before, after);
    }

    /// A title with every required role packaged is ready, whatever the dates.
    #[test]
    fn every_role_packaged_is_ready(form in prop::sample::select(vec!["BB", "BC", "DG", "AJ"]), days in -100i64..400) {
        let c = config();
        let f = rfacts(form, now().date_naive() + chrono::Duration::days(days));
        let roles = c.launch_for(f.title.form.as_ref().unwrap()).unwrap().roles.clone();
        let pkg = PackageSummary { channel: "print".into(), status: PackageStatus::Released, roles: roles.iter().copied().collect(), check_failures: Vec::new() };
        let r = evaluate_readiness(&f, &[], &all_linked(&roles), &[], &[], &[pkg], &c, now());
        prop_assert_eq!(r.status, ReadinessStatus::Ready);
        prop_assert!(r.roles.iter().all(|x| x.state == RoleState::Packaged));
    }

    /// Reasons come most serious first: a blocked status has a blocking reason first, and a
    /// status other than ready always has a reason.
    #[test]
    fn a_status_other_than_ready_has_reasons(states in prop::collection::vec(arb_state(), 1..6), due_offset in -30i64..60) {
        let today = now().date_naive();
        let roles: Vec<RoleReadiness> = states.iter().enumerate()
            .map(|(i, s)| role_entry(i, *s, Some(today + chrono::Duration::days(due_offset)))).collect();
        let (status, reasons) = summarise(&roles, &[], Some(today + chrono::Duration::days(200)), today);
        prop_assert_eq!(status == ReadinessStatus::Ready, reasons.is_empty());
        prop_assert_eq!(status == ReadinessStatus::Ready, roles.iter().all(|r| r.state.is_ready()));
    }
}
