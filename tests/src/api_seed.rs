//! Stored data for the API and board tests: readiness reports (as the readiness evaluation
//! writes them), titles, links, an asset request, a package, audit records and a dead letter,
//! written through the store ports. Varied on purpose: every status and role state, four
//! imprints (one with `&`, `<` and quotes), four formats, a spread of dates and one undated title.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use connector_core::AuditAction;
use connector_core::event::{FlowMessage, InboundEvent, OtmmEvent, OtmmEventType};
use connector_core::package::PackageStatus;
use connector_core::readiness::{
    Milestone, MilestoneKind, PACKAGE_DOC_KIND, READINESS_DOC_KIND, REQUEST_DOC_KIND, ReadinessStatus,
    RoleReadiness, RoleState, TitleReadiness,
};
use connector_core::{
    Actor, Approval, AssetId, AssetLink, AssetRights, AssetRole, AuditId, AuditRecord, Flow, Isbn13, LinkKey,
    LinkStatus, Outcome, ProductId, TitleRecord, WorkId,
};
use connector_store::{Document, Stores, new_audit_id};
use std::time::Duration as StdDuration;

pub const IMPRINTS: [&str; 4] = ["Harbour Press", "Owl Books", r#"Fox & Hound <"Classics">"#, "Northwind"];
pub const FORMS: [&str; 4] = ["BB", "BC", "DG", "AJ"];
/// The title whose name tries to break out of the page.
pub const HOSTILE_TITLE: &str = r#"<script>alert("x")</script> & 'Quotes' <b>bold</b>"#;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn isbn(n: usize) -> Isbn13 {
    Isbn13::from_prefix12(&format!("9781{:08}", 80_010_000 + n * 7)).expect("isbn")
}

pub fn asset_id(n: usize) -> AssetId {
    AssetId::parse(&format!("{:040x}", 0xa55e7_u64 * 1000 + n as u64)).expect("asset id")
}

/// Roles a form needs for launch (as the example mapping config's launch requirements would).
fn roles_for(form: &str) -> Vec<AssetRole> {
    match form {
        "BB" => vec![AssetRole::FrontCover, AssetRole::BackCover, AssetRole::Spine, AssetRole::AuthorPhoto],
        "BC" => vec![AssetRole::FrontCover, AssetRole::BackCover, AssetRole::Spine],
        "DG" => vec![AssetRole::FrontCover, AssetRole::CampaignBanner],
        _ => vec![AssetRole::FrontCover, AssetRole::AudioSample],
    }
}

const STATES: [RoleState; 8] = [
    RoleState::Missing,
    RoleState::Requested,
    RoleState::InReview,
    RoleState::Untagged,
    RoleState::RightsBlocked,
    RoleState::CheckFailed,
    RoleState::Linked,
    RoleState::Packaged,
];

/// `n` readiness reports (n ≥ 8 covers every status, state, imprint and format).
pub fn reports(n: usize) -> Vec<TitleReadiness> {
    let base = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    (0..n)
        .map(|i| {
            let form = FORMS[i % FORMS.len()];
            let imprint = IMPRINTS[(i / 2) % IMPRINTS.len()];
            // Dates out of ISBN order, two titles on one day, and one title without a date.
            let publication_date = (i != 5).then(|| base + Duration::days(((i * 37) % 190) as i64));
            let roles: Vec<RoleReadiness> = roles_for(form)
                .into_iter()
                .enumerate()
                .map(|(j, role)| {
                    let state = STATES[(i * 3 + j) % STATES.len()];
                    RoleReadiness {
                        role,
                        state,
                        asset_id: (state >= RoleState::InReview).then(|| asset_id(i * 10 + j)),
                        version: (state >= RoleState::InReview).then_some(1 + j as u32),
                        request_id: (state == RoleState::Requested).then(|| format!("req-{i}-{j}")),
                        due: publication_date.map(|d| d - Duration::days(120)),
                        reasons: match state {
                            RoleState::Missing => vec![format!("no {} in OTMM", role.as_str())],
                            RoleState::RightsBlocked => vec!["rights exclude GB".into()],
                            RoleState::CheckFailed => vec!["delivery check failed for vendor".into()],
                            _ => vec![],
                        },
                    }
                })
                .collect();
            let worst = roles.iter().map(|r| r.state).min().unwrap_or(RoleState::Packaged);
            let status = match worst {
                RoleState::Missing | RoleState::RightsBlocked | RoleState::CheckFailed => {
                    ReadinessStatus::Blocked
                }
                RoleState::Linked | RoleState::Packaged => ReadinessStatus::Ready,
                _ => ReadinessStatus::AtRisk,
            };
            let title = if i == 3 { HOSTILE_TITLE.to_string() } else { format!("Seeded Title {i}") };
            TitleReadiness {
                isbn: isbn(i),
                work_id: WorkId(1000 + i as i64),
                product_id: ProductId(5000 + i as i64),
                title,
                imprint: Some(imprint.to_string()),
                stage: Some("Design".to_string()),
                product_form: Some(form.to_string()),
                publication_date,
                days_to_publication: publication_date.map(|d| (d - now().date_naive()).num_days()),
                status,
                reasons: if status == ReadinessStatus::Ready {
                    vec![]
                } else {
                    vec![format!("{worst:?} asset")]
                },
                milestones: vec![Milestone {
                    kind: MilestoneKind::Publication,
                    due: publication_date,
                    done: None,
                    slipped_to: None,
                }],
                roles,
                evaluated_at: now(),
            }
        })
        .collect()
}

fn title_record(r: &TitleReadiness) -> TitleRecord {
    TitleRecord {
        isbn: r.isbn.clone(),
        work_id: r.work_id,
        product_id: r.product_id,
        title: r.title.clone(),
        imprint: r.imprint.clone(),
        product_form: r.product_form.clone(),
        publication_date: r.publication_date,
        sales_rights: None,
        updated_at: now(),
        revision: 0,
    }
}

fn audit(
    isbn: Option<&Isbn13>,
    asset: Option<&AssetId>,
    action: AuditAction,
    outcome: Outcome,
    corr: &str,
    at: DateTime<Utc>,
) -> AuditRecord {
    AuditRecord {
        id: new_audit_id(at),
        at,
        flow: Flow::LaunchReadiness,
        action,
        outcome,
        isbn: isbn.cloned(),
        asset_id: asset.cloned(),
        asset_version: asset.map(|_| 1),
        actor: None,
        correlation_id: corr.into(),
        detail: format!("{action} (seeded)"),
        data: serde_json::Value::Null,
    }
}

pub struct Seeded {
    pub reports: Vec<TitleReadiness>,
    /// A title with a record but no readiness report.
    pub unevaluated: Isbn13,
    /// The title with links, a request, a package and audit records.
    pub rich: Isbn13,
    pub links: Vec<AssetLink>,
    /// Audit ids written for `rich`, oldest first.
    pub rich_audit: Vec<AuditId>,
    /// The dead letter's message id and the asset it is about.
    pub dead_letter: (String, AssetId),
}

/// Writes `n` reports and their titles, and the extras of [`Seeded`].
pub async fn seed(stores: &Stores, n: usize) -> Seeded {
    let reports = reports(n);
    for r in &reports {
        stores.mapping.put_title(&title_record(r), None, &[]).await.expect("put title");
        let doc = Document {
            kind: READINESS_DOC_KIND.into(),
            id: r.isbn.to_string(),
            body: serde_json::to_value(r).unwrap(),
            updated_at: now(),
            revision: 0,
        };
        stores.documents.put_doc(&doc, None, &[]).await.expect("put readiness");
    }
    let unevaluated = isbn(n + 1);
    let mut extra = title_record(&reports[0]);
    extra.isbn = unevaluated.clone();
    extra.title = "Not yet evaluated".into();
    stores.mapping.put_title(&extra, None, &[]).await.expect("put title");

    // Links of the first title: a cover at version 2 with a rights snapshot, a campaign banner.
    let rich = reports[0].isbn.clone();
    let mut rights = AssetRights::unrestricted();
    rights.window.expiry = NaiveDate::from_ymd_opt(2030, 1, 1);
    let links = vec![
        AssetLink {
            key: LinkKey { isbn: rich.clone(), role: AssetRole::FrontCover, slot: String::new() },
            version_asset_id: Some(asset_id(901)),
            approval: Approval {
                asset_id: asset_id(900),
                version: 2,
                approved_at: now() - Duration::days(3),
            },
            status: LinkStatus::Linked,
            approved_by: Some(Actor { user_id: "mpatel".into(), name: Some("M. Patel".into()) }),
            work_id: Some(reports[0].work_id),
            product_ids: vec![reports[0].product_id],
            consonance_resource_id: Some("sr-77".into()),
            rights: Some(rights),
            rights_denials: Vec::new(),
            updated_at: now() - Duration::days(3),
            revision: 0,
        },
        AssetLink {
            key: LinkKey::for_asset(rich.clone(), AssetRole::CampaignBanner, &asset_id(910)),
            version_asset_id: Some(asset_id(910)),
            approval: Approval {
                asset_id: asset_id(910),
                version: 1,
                approved_at: now() - Duration::days(1),
            },
            status: LinkStatus::Pending,
            approved_by: None,
            work_id: Some(reports[0].work_id),
            product_ids: vec![],
            consonance_resource_id: None,
            rights: None,
            rights_denials: Vec::new(),
            updated_at: now() - Duration::days(1),
            revision: 0,
        },
    ];
    let mut rich_audit = Vec::new();
    for (k, link) in links.iter().enumerate() {
        let rec = audit(
            Some(&rich),
            Some(&link.approval.asset_id),
            AuditAction::LinkCreated,
            Outcome::Applied,
            "seed",
            now() - Duration::days(3 - k as i64),
        );
        rich_audit.push(rec.id.clone());
        stores.mapping.put_link(link, None, &[rec]).await.expect("put link");
    }
    let request = Document {
        kind: REQUEST_DOC_KIND.into(),
        id: format!("{rich}#{}", AssetRole::AuthorPhoto.as_str()),
        body: serde_json::json!({"role": "author_photo", "otmm_request_id": "req-0-3", "due": "2026-08-03", "status": "open"}),
        updated_at: now(),
        revision: 0,
    };
    let rec = audit(
        Some(&rich),
        None,
        AuditAction::RequestCreated,
        Outcome::Applied,
        "seed",
        now() - Duration::hours(5),
    );
    rich_audit.push(rec.id.clone());
    stores.documents.put_doc(&request, None, &[rec]).await.expect("put request");
    let package = Document {
        kind: PACKAGE_DOC_KIND.into(),
        id: format!("{rich}#print"),
        body: serde_json::json!({"channel": "print", "status": PackageStatus::Staged, "manifest_key": format!("packages/{rich}/print/manifest.json")}),
        updated_at: now(),
        revision: 0,
    };
    stores.documents.put_doc(&package, None, &[]).await.expect("put package");
    for k in 0..4 {
        let rec = audit(
            Some(&rich),
            None,
            AuditAction::ReadinessChanged,
            Outcome::Applied,
            "seed",
            now() - Duration::hours(4 - k),
        );
        rich_audit.push(rec.id.clone());
        stores.audit.append(&[rec]).await.expect("audit");
    }

    // One dead letter about an unknown asset, with the audit record that says why.
    let lost = asset_id(999);
    let event = InboundEvent::Otmm(OtmmEvent {
        event_id: connector_core::event::EventId::parse("evt-dead-1").unwrap(),
        event_type: OtmmEventType::AssetApproved,
        otmm_event_id: None,
        asset_id: lost.clone(),
        version: 1,
        occurred_at: now(),
        actor: Actor { user_id: "mpatel".into(), name: None },
    });
    let message = FlowMessage::new(event, now(), "corr-dead-1");
    stores.queue.send(&message.to_json()).await.expect("send");
    let received = stores.queue.receive(1, StdDuration::from_secs(30)).await.expect("receive");
    let m = received.into_iter().next().expect("the message");
    let cause =
        audit(None, Some(&lost), AuditAction::AssetNotFound, Outcome::DeadLettered, "corr-dead-1", now());
    let cause =
        AuditRecord { detail: format!("OTMM has no asset {lost}"), flow: Flow::LinkApprovedAsset, ..cause };
    stores.audit.append(&[cause]).await.expect("audit");
    stores.queue.dead_letter(&m, "OTMM has no asset").await.expect("dead letter");
    // On SQS the parked copy is a new message with its own id.
    let parked = stores.queue.dead_letters(10).await.expect("dead letters");
    assert_eq!(parked.len(), 1, "one dead letter seeded");

    Seeded {
        reports,
        unevaluated,
        rich,
        links,
        rich_audit,
        dead_letter: (parked[0].message_id.clone(), lost),
    }
}

/// The board's order: publication date (undated last), then ISBN.
pub fn board_order(reports: &[TitleReadiness]) -> Vec<String> {
    let mut v: Vec<&TitleReadiness> = reports.iter().collect();
    v.sort_by_key(|t| (t.publication_date.is_none(), t.publication_date, t.isbn.to_string()));
    v.into_iter().map(|t| t.isbn.to_string()).collect()
}
