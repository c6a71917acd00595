//! Launch readiness (flow 8): gathers a title's facts, evaluates it with
//! [`connector_core::readiness::evaluate_readiness`], stores the report and reports back.
//!
//! - Stored as a `Documents` record of kind `readiness`, id the ISBN-13, rewritten only when it
//!   says something new; a status transition is audited in the same write as
//!   `readiness.changed` (from → to, with the reasons).
//! - Reported back to Consonance as a web link on the product to the readiness page
//!   (`<PUBLIC_BASE_URL>/titles/<isbn>/readiness`, created once) and, with
//!   `[requests] readiness_field`, as a metadata field on the title's request folders in OTMM.
//!
//! Entry points: [`refresh_titles`] (the hooks: a Consonance change, an asset link, the
//! reconciler), [`evaluate_title`] (one ISBN, e.g. from the API), [`stored`] and [`list`]
//! (reads for the API and the board), [`reevaluate_stored`] (time moves: at risk becomes
//! blocked without any event).

use crate::App;
use crate::once::{Once, once};
use crate::requests;
use crate::systems::SystemError;
use connector_core::plan::TitleFacts;
use connector_core::readiness::{
    ObservedAsset, PACKAGE_DOC_KIND, PackageSummary, READINESS_DOC_KIND, ReadinessFacts, ReadinessFilter,
    ReadinessStatus, ScheduleFacts, TitleReadiness, evaluate_readiness, milestones, summarise,
};
use connector_core::requests::{AssetRequest, RequestCommand, RequestFacts};
use connector_core::{AssetLink, AssetRole, AuditAction, AuditRecord, Flow, Isbn13, Outcome, WorkId};
use connector_store::{Document, Page, PageRequest, StoreError, keys, new_audit_id};
use serde::Serialize;
use std::collections::BTreeMap;

/// ONIX list 73 role of the readiness web link: `00` (unspecified; an internal page).
pub const READINESS_LINK_ROLE: &str = "00";

#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    #[error(transparent)]
    System(#[from] SystemError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Consonance has no product with ISBN {0}")]
    UnknownTitle(Isbn13),
    /// Another worker is raising the same request; try again shortly.
    #[error("{0}")]
    Busy(String),
}

impl ReadinessError {
    /// Worth retrying as is.
    pub fn is_transient(&self) -> bool {
        match self {
            ReadinessError::System(e) => e.is_transient(),
            ReadinessError::Store(e) => e.is_transient() || e.is_conflict(),
            ReadinessError::UnknownTitle(_) => false,
            ReadinessError::Busy(_) => true,
        }
    }
}

/// A status transition written by a refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub isbn: Isbn13,
    /// `None`: the title's first evaluation.
    pub from: Option<ReadinessStatus>,
    pub to: ReadinessStatus,
}

/// What a refresh did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RefreshReport {
    /// Request commands carried out in OTMM.
    pub requests: Vec<RequestCommand>,
    /// The titles' reports, as evaluated.
    pub readiness: Vec<TitleReadiness>,
    pub transitions: Vec<Transition>,
    /// Web links created in Consonance.
    pub links_created: u64,
}

impl RefreshReport {
    fn merge(&mut self, other: RefreshReport) {
        self.requests.extend(other.requests);
        self.readiness.extend(other.readiness);
        self.transitions.extend(other.transitions);
        self.links_created += other.links_created;
    }
}

/// Asset requests and readiness for these titles (any mix of works): the hook the flow
/// processor and the reconciler call when Consonance or a link changes for a title.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn refresh_titles(
    app: &App,
    titles: &[TitleFacts],
    correlation_id: &str,
) -> Result<RefreshReport, ReadinessError> {
    let mut by_work: BTreeMap<WorkId, Vec<&TitleFacts>> = BTreeMap::new();
    for t in titles {
        by_work.entry(t.work_id).or_default().push(t);
    }
    let mut report = RefreshReport::default();
    for (work_id, titles) in by_work {
        report.merge(refresh_work(app, work_id, &titles, None, &Observe::Live, correlation_id).await?);
    }
    Ok(report)
}

/// After an asset of `title` was linked: requests and readiness of every product of its work
/// (a cover linked with the hardback's ISBN counts for the ebook too). Built from the title's
/// facts, which list the work's products, so no further Consonance read is needed.
///
/// Only roles some product of the work needs for launch matter: a campaign banner changes no
/// request and no readiness, so it costs nothing here. `schedule` is the work's, read with the
/// title ([`crate::systems::Pms::title_and_schedule_by_isbn`]): no second read. The work's
/// assets in OTMM as `observe` says ([`Observe::AfterRead`]: as last searched, with the asset
/// the link step read).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn refresh_after_link(
    app: &App,
    title: &TitleFacts,
    schedule: &ScheduleFacts,
    role: AssetRole,
    observe: &Observe,
    correlation_id: &str,
) -> Result<RefreshReport, ReadinessError> {
    let required = title.products.iter().any(|p| {
        p.form.as_ref().and_then(|f| app.config.launch_for(f)).is_some_and(|l| l.roles.contains(&role))
    });
    if !required {
        return Ok(RefreshReport::default());
    }
    let titles: Vec<TitleFacts> = title
        .products
        .iter()
        .filter_map(|p| Some(TitleFacts { isbn: p.isbn.clone()?, product_id: p.product_id, ..title.clone() }))
        .collect();
    let titles: Vec<&TitleFacts> = titles.iter().collect();
    refresh_work(app, title.work_id, &titles, Some(schedule), observe, correlation_id).await
}

/// How readiness learns a work's assets in OTMM (roles uploaded, in review, their launch
/// fields): one search for the ISBNs of the work where OTMM ORs conditions, else one per ISBN.
#[derive(Debug, Clone, PartialEq)]
pub enum Observe {
    /// Search each ISBN now (the reconciler's refresh, the API's, a withdrawal, time moving).
    Live,
    /// After a link: each ISBN's last search where it is younger than
    /// `Settings::observations_max_age`, with `asset` (the version the link step just read,
    /// with the ISBN it names) in place of what that search said of its asset; else a search.
    /// A request is raised only on searches made now: raising one is a write, and an asset
    /// uploaded since the last search would make it wrong. An upload since then shows in the
    /// report at the next refresh (the next link after the age, the reconciler's).
    AfterRead { isbn: Isbn13, asset: ObservedAsset },
}

/// The stored body of an [`keys::OBSERVED_ASSETS_KIND`] document.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct Observations {
    searched_at: chrono::DateTime<chrono::Utc>,
    assets: Vec<ObservedAsset>,
}

/// An ISBN's stored observations: the document's revision, and its body where `observe`
/// may use it instead of a search.
async fn stored_observations(
    app: &App,
    isbn: &Isbn13,
    observe: &Observe,
    search_now: bool,
) -> Result<(Option<u64>, Option<Observations>), ReadinessError> {
    let doc = app.stores.documents.get_doc(keys::OBSERVED_ASSETS_KIND, isbn.as_str()).await?;
    let revision = doc.as_ref().map(|d| d.revision);
    let max_age = chrono::Duration::from_std(app.settings.observations_max_age).unwrap_or_default();
    // An unreadable body (another release's shape) is searched again, not an error.
    let reusable = doc.and_then(|d| serde_json::from_value::<Observations>(d.body).ok()).filter(|o| {
        !search_now && matches!(observe, Observe::AfterRead { .. }) && app.now() - o.searched_at < max_age
    });
    Ok((revision, reusable))
}

/// Stores what is now known of `isbn`'s assets (a conflicting write is dropped: another
/// worker observed it meanwhile, and theirs serves as well).
async fn store_observations(
    app: &App,
    isbn: &Isbn13,
    revision: Option<u64>,
    obs: &Observations,
) -> Result<(), ReadinessError> {
    let doc = Document {
        kind: keys::OBSERVED_ASSETS_KIND.to_string(),
        id: isbn.to_string(),
        body: serde_json::to_value(obs).unwrap_or_default(),
        updated_at: app.now(),
        revision: 0,
    };
    match app.stores.documents.put_doc(&doc, revision, &[]).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Puts `asset` in place of what `assets` holds of its lineage (unless that is a later
/// version), or adds it. Returns whether anything changed.
fn fold(assets: &mut Vec<ObservedAsset>, asset: &ObservedAsset) -> bool {
    match assets.iter_mut().find(|a| a.lineage_id == asset.lineage_id) {
        Some(a) if a.version > asset.version || a == asset => false,
        Some(a) => {
            *a = asset.clone();
            true
        }
        None => {
            assets.push(asset.clone());
            true
        }
    }
}

/// The assets of each of `isbns` in OTMM as `observe` says, by ISBN, and the ISBNs whose
/// assets were not searched now. Those searched now are searched together
/// ([`crate::systems::Dam::titles_assets`]: one OTMM search for a work where
/// `otmm.search.or_conditions` is on); the asset the link read is folded in either way.
async fn observe_work(
    app: &App,
    isbns: &[Isbn13],
    observe: &Observe,
    search_now: bool,
) -> Result<(Vec<(Isbn13, ObservedAsset)>, Vec<Isbn13>), ReadinessError> {
    let mut stored = Vec::with_capacity(isbns.len());
    for isbn in isbns {
        stored.push(stored_observations(app, isbn, observe, search_now).await?);
    }
    let to_search: Vec<Isbn13> =
        isbns.iter().zip(&stored).filter(|(_, (_, o))| o.is_none()).map(|(i, _)| i.clone()).collect();
    let mut searched =
        if to_search.is_empty() { Vec::new() } else { app.dam.titles_assets(&to_search).await? }.into_iter();
    let read = match observe {
        Observe::AfterRead { isbn, asset } => Some((isbn, asset)),
        Observe::Live => None,
    };
    let mut assets = Vec::new();
    let mut reused = Vec::new();
    for (isbn, (revision, reusable)) in isbns.iter().zip(stored) {
        let (mut obs, live) = match reusable {
            Some(o) => (o, false),
            None => {
                (Observations { searched_at: app.now(), assets: searched.next().unwrap_or_default() }, true)
            }
        };
        let folded = read.is_some_and(|(read_isbn, asset)| read_isbn == isbn && fold(&mut obs.assets, asset));
        if live || folded {
            store_observations(app, isbn, revision, &obs).await?;
        }
        if !live {
            reused.push(isbn.clone());
        }
        assets.extend(obs.assets.into_iter().map(|a| (isbn.clone(), a)));
    }
    Ok((assets, reused))
}

/// Asset requests and readiness for the title with this ISBN, now (e.g. `GET
/// /titles/{isbn}/readiness?refresh=true`). Its report is stored as [`refresh_titles`] does.
pub async fn evaluate_title(app: &App, isbn: &Isbn13) -> Result<TitleReadiness, ReadinessError> {
    let title =
        app.pms.title_by_isbn(isbn).await?.ok_or_else(|| ReadinessError::UnknownTitle(isbn.clone()))?;
    let correlation = format!("evaluate-{}", new_audit_id(app.now()));
    let report = refresh_titles(app, std::slice::from_ref(&title), &correlation).await?;
    report
        .readiness
        .into_iter()
        .find(|r| &r.isbn == isbn)
        .ok_or_else(|| ReadinessError::UnknownTitle(isbn.clone()))
}

/// The stored report of a title (`None`: never evaluated).
pub async fn stored(app: &App, isbn: &Isbn13) -> Result<Option<TitleReadiness>, StoreError> {
    match app.stores.documents.get_doc(READINESS_DOC_KIND, isbn.as_str()).await? {
        Some(doc) => Ok(Some(parse(&doc)?)),
        None => Ok(None),
    }
}

fn parse(doc: &Document) -> Result<TitleReadiness, StoreError> {
    serde_json::from_value(doc.body.clone())
        .map_err(|e| StoreError::Corrupt { key: format!("{}/{}", doc.kind, doc.id), message: e.to_string() })
}

/// Stored reports matching `filter`, in ISBN order. Reads store pages of `page.limit` until it
/// has at least `page.limit` matches or the store ends, so a page may hold more than
/// `page.limit` items (never fewer unless it is the last); `next` resumes after it.
pub async fn list(
    app: &App,
    filter: &ReadinessFilter,
    page: PageRequest,
) -> Result<Page<TitleReadiness>, StoreError> {
    let limit = page.limit.max(1);
    let mut cursor = page.cursor;
    let mut items = Vec::new();
    loop {
        let docs = app
            .stores
            .documents
            .list_docs(READINESS_DOC_KIND, PageRequest { limit, cursor: cursor.clone() })
            .await?;
        for doc in &docs.items {
            let r = parse(doc)?;
            if filter.matches(&r) {
                items.push(r);
            }
        }
        cursor = docs.next;
        if items.len() >= limit || cursor.is_none() {
            return Ok(Page { items, next: cursor });
        }
    }
}

/// Counts of stored reports by status (the demo's summary, the board's header).
pub async fn counts(app: &App) -> Result<BTreeMap<ReadinessStatus, u64>, StoreError> {
    let mut out = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = list(app, &ReadinessFilter::default(), PageRequest { limit: 200, cursor }).await?;
        for r in &page.items {
            *out.entry(r.status).or_default() += 1;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Stored reports whose status the passing of time alone changes (a due date or the
/// publication date passed since they were evaluated): (ISBN, work). No system is called.
pub async fn stale_by_time(app: &App) -> Result<Vec<(Isbn13, WorkId)>, StoreError> {
    let today = app.now().date_naive();
    let mut stale = Vec::new();
    let mut cursor = None;
    loop {
        let page = list(app, &ReadinessFilter::default(), PageRequest { limit: 200, cursor }).await?;
        for r in &page.items {
            let (now, _) = summarise(&r.roles, &r.milestones, r.publication_date, today);
            if now != r.status {
                stale.push((r.isbn.clone(), r.work_id));
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(stale),
        }
    }
}

/// Whether the stored reports of a work from the change feed no longer match it (another
/// stage, publication date or form): the reconciler then enqueues the work. Titles never
/// evaluated are not drift (their first event evaluates them).
pub async fn work_is_stale(app: &App, work: &crate::systems::WorkChange) -> Result<bool, StoreError> {
    for title in &work.titles {
        let Some(r) = stored(app, &title.isbn).await? else { continue };
        let facts = request_facts(title, work.stage.clone());
        if r.stage != facts.stage
            || r.publication_date != facts.publication_date
            || r.product_form != facts.form.as_ref().map(|f| f.to_string())
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Re-evaluates every stored report whose status the passing of time alone changes: the
/// sweep, since no event announces it (the reconciler enqueues the same works once a day).
/// Only those titles are fetched again. Returns the refresh of the titles that changed.
pub async fn reevaluate_stored(app: &App, correlation_id: &str) -> Result<RefreshReport, ReadinessError> {
    let stale: Vec<Isbn13> = stale_by_time(app).await?.into_iter().map(|(isbn, _)| isbn).collect();
    let mut titles = Vec::new();
    for isbn in &stale {
        if let Some(t) = app.pms.title_by_isbn(isbn).await? {
            titles.push(t);
        }
    }
    refresh_titles(app, &titles, correlation_id).await
}

/// The request facts of a title from its Consonance facts and the work's stage.
pub fn request_facts(title: &TitleFacts, stage: Option<String>) -> RequestFacts {
    let product = title.products.iter().find(|p| p.product_id == title.product_id);
    RequestFacts {
        isbn: title.isbn.clone(),
        work_id: title.work_id,
        product_id: title.product_id,
        title: title.title.clone(),
        imprint: title.imprint.clone(),
        form: product.and_then(|p| p.form.clone()),
        publication_date: product.and_then(|p| p.publication_date),
        stage,
    }
}

async fn refresh_work(
    app: &App,
    work_id: WorkId,
    titles: &[&TitleFacts],
    schedule: Option<&ScheduleFacts>,
    observe: &Observe,
    correlation_id: &str,
) -> Result<RefreshReport, ReadinessError> {
    let schedule = match schedule {
        Some(s) => s.clone(),
        None => app.pms.work_schedule(work_id).await?,
    };
    // Links and OTMM assets of every product of the work: a cover approved with the hardback's
    // ISBN is linked to the ebook too.
    let mut isbns: Vec<Isbn13> = titles
        .iter()
        .flat_map(|t| t.products.iter().filter_map(|p| p.isbn.clone()))
        .chain(titles.iter().map(|t| t.isbn.clone()))
        .collect();
    isbns.sort();
    isbns.dedup();
    let mut links: Vec<AssetLink> = Vec::new();
    for isbn in &isbns {
        links.extend(app.stores.mapping.links_for_title(isbn).await?);
    }
    let (mut assets, mut reused) = observe_work(app, &isbns, observe, false).await?;
    let mut report = RefreshReport::default();
    for title in titles {
        let facts = request_facts(title, schedule.stage.clone());
        let product = title.products.iter().find(|p| p.product_id == title.product_id);
        let form = facts.form.clone();
        let observed_of = |assets: &[(Isbn13, ObservedAsset)]| -> Vec<ObservedAsset> {
            assets
                .iter()
                .filter(|(isbn, a)| {
                    isbn == &title.isbn || form.as_ref().is_some_and(|f| app.config.links_to(a.role, f))
                })
                .map(|(_, a)| a.clone())
                .collect()
        };
        let present_in = |observed: &[ObservedAsset]| observed.iter().map(|a| a.role).collect::<Vec<_>>();
        let mut observed = observed_of(&assets);
        let mut planned = requests::plan_title(app, &facts, &links, &present_in(&observed)).await?;
        if planned.raises() && !reused.is_empty() {
            // A request is raised on what OTMM says now (see `Observe`): the ISBNs not searched
            // now are searched again.
            let (fresh, _) = observe_work(app, &reused, observe, true).await?;
            assets.retain(|(isbn, _)| !reused.contains(isbn));
            assets.extend(fresh);
            reused.clear();
            observed = observed_of(&assets);
            planned = requests::plan_title(app, &facts, &links, &present_in(&observed)).await?;
        }
        let packages = packages_of(app, &title.isbn, form.as_ref()).await?;
        let today = app.now().date_naive();
        let rfacts = ReadinessFacts {
            title: facts.clone(),
            sales_rights: product.map(|p| p.sales_rights.clone()).unwrap_or_default(),
        };
        let evaluate = |requests: &[AssetRequest]| {
            let first_publication = requests.iter().filter_map(|r| r.first_publication_date).min();
            let ms = milestones(&schedule, rfacts.title.publication_date, first_publication, today);
            evaluate_readiness(&rfacts, &ms, &links, &observed, requests, &packages, &app.config, app.now())
        };
        // Evaluated ahead on the requests as they will be, so a request raised now carries
        // the status from its creation rather than in an update after it.
        let ahead = planned.raises().then(|| evaluate(&planned.projected(app.now())).status);
        let carried = requests::carry_out(app, &facts, planned, ahead, correlation_id).await?;
        report.requests.extend(carried.done);
        let requests = carried.requests;
        let mut readiness = evaluate(&requests);
        // What the tenant could not tell (no path to the contract): said, not failed.
        readiness.reasons.extend(schedule.unavailable.iter().cloned());
        // Raised now with the status it has: not updated again for it. Evaluated otherwise
        // (a command not carried out: another worker's write won), those raised now are told
        // the status at once, whether or not the stored report changes.
        let stamped: Vec<&str> = carried.created_with_readiness.iter().map(String::as_str).collect();
        if ahead.is_some_and(|s| s != readiness.status) {
            let raised_now = requests.iter().filter(|r| stamped.contains(&r.key.as_str()));
            tell_requests(app, &readiness, raised_now).await?;
        }
        if let Some(t) = store(app, &readiness, correlation_id).await? {
            report.links_created += report_back(app, &readiness, &requests, &stamped, correlation_id).await?;
            report.transitions.push(t);
        }
        connector_metrics::readiness_evaluated(readiness.status.as_str());
        report.readiness.push(readiness);
    }
    Ok(report)
}

async fn packages_of(
    app: &App,
    isbn: &Isbn13,
    form: Option<&connector_core::config::ProductForm>,
) -> Result<Vec<PackageSummary>, ReadinessError> {
    let mut out = Vec::new();
    let Some(channels) = form.and_then(|f| app.config.default_channels(f)) else { return Ok(out) };
    for channel in channels {
        let id = format!("{isbn}#{channel}");
        if let Some(doc) = app.stores.documents.get_doc(PACKAGE_DOC_KIND, &id).await?
            && let Some(p) = PackageSummary::from_doc(channel.as_str(), &doc.body)
        {
            out.push(p);
        }
    }
    Ok(out)
}

/// Writes the report when it says something new; a status change is audited with it.
async fn store(
    app: &App,
    readiness: &TitleReadiness,
    correlation_id: &str,
) -> Result<Option<Transition>, ReadinessError> {
    let previous = app.stores.documents.get_doc(READINESS_DOC_KIND, readiness.isbn.as_str()).await?;
    let before = previous.as_ref().map(parse).transpose()?;
    if before.as_ref().is_some_and(|b| b.same_as(readiness)) {
        return Ok(None);
    }
    let from = before.as_ref().map(|b| b.status);
    let changed = from != Some(readiness.status);
    let mut audit = Vec::new();
    if changed {
        let head: Vec<&str> = readiness.reasons.iter().take(3).map(String::as_str).collect();
        let detail = format!(
            "launch readiness {} → {}{}",
            from.map_or("(new)", |s| s.as_str()),
            readiness.status.as_str(),
            if head.is_empty() { String::new() } else { format!(": {}", head.join("; ")) }
        );
        let data = serde_json::json!({
            "from": from, "to": readiness.status, "reasons": readiness.reasons,
            "days_to_publication": readiness.days_to_publication,
        });
        audit.push(readiness_record(
            app,
            readiness,
            AuditAction::ReadinessChanged,
            detail,
            data,
            correlation_id,
        ));
    }
    let doc = Document {
        kind: READINESS_DOC_KIND.to_string(),
        id: readiness.isbn.to_string(),
        body: serde_json::to_value(readiness).unwrap_or_default(),
        updated_at: app.now(),
        revision: 0,
    };
    match app.stores.documents.put_doc(&doc, previous.map(|p| p.revision), &audit).await {
        Ok(_) => {}
        // Another worker evaluated it meanwhile: theirs is as fresh as ours.
        Err(StoreError::Conflict { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    Ok(changed.then(|| Transition { isbn: readiness.isbn.clone(), from, to: readiness.status }))
}

/// A launch-readiness record about `readiness`'s title, now.
fn readiness_record(
    app: &App,
    readiness: &TitleReadiness,
    action: AuditAction,
    detail: String,
    data: serde_json::Value,
    correlation_id: &str,
) -> AuditRecord {
    let at = app.now();
    AuditRecord {
        isbn: Some(readiness.isbn.clone()),
        correlation_id: correlation_id.to_string(),
        detail,
        data,
        ..AuditRecord::new(new_audit_id(at), at, Flow::LaunchReadiness, action, Outcome::Applied)
    }
}

/// Sets `requests.readiness_field` (where the mapping config names one) on these requests'
/// folders or placeholders to the title's status.
async fn tell_requests(
    app: &App,
    readiness: &TitleReadiness,
    requests: impl Iterator<Item = &AssetRequest>,
) -> Result<(), ReadinessError> {
    let Some(field) = requests::readiness_field(app) else { return Ok(()) };
    let fields = vec![(field.clone(), readiness.status.as_str().to_string())];
    for at in requests.filter_map(|r| r.otmm.as_ref()) {
        app.dam.update_request(at, &fields).await?;
    }
    Ok(())
}

/// The readiness page's URL for a title.
pub fn readiness_url(base: &str, isbn: &Isbn13) -> String {
    format!("{}/titles/{isbn}/readiness", base.trim_end_matches('/'))
}

/// Tells Consonance (a web link to the readiness page, once) and OTMM (the readiness field on
/// the title's request folders, but those in `stamped`: raised now with this status) after a
/// status change. Returns the web links created.
async fn report_back(
    app: &App,
    readiness: &TitleReadiness,
    requests: &[AssetRequest],
    stamped: &[&str],
    correlation_id: &str,
) -> Result<u64, ReadinessError> {
    tell_requests(app, readiness, requests.iter().filter(|r| !stamped.contains(&r.key.as_str()))).await?;
    let Some(base) = &app.settings.public_base_url else { return Ok(0) };
    let key = keys::readiness_link(&readiness.isbn);
    let ttl = connector_store::IdempotencyTtl {
        completed: std::time::Duration::from_secs(10 * 365 * 24 * 3600),
        ..app.settings.idempotency_ttl
    };
    let url = readiness_url(base, &readiness.isbn);
    let link = || async {
        let made =
            app.pms.ensure_web_link(&readiness.isbn, &url, READINESS_LINK_ROLE, "Launch readiness").await;
        made.map_err(ReadinessError::from)
    };
    // Once per title: the link is new or was made by an earlier attempt whose completion was
    // lost; either way it is recorded once.
    let Once::Ran(_web_link_id) = once(app, &key, ttl, |_| None, link).await? else {
        return Ok(0);
    };
    let detail = format!("Consonance product {} links to {url}", readiness.product_id);
    let data = serde_json::json!({ "url": url, "product_id": readiness.product_id });
    let rec = readiness_record(app, readiness, AuditAction::ReadinessLinked, detail, data, correlation_id);
    app.stores.audit.append(&[rec]).await?;
    Ok(1)
}
