//! Title records (flow 6: identifiers on both sides) from a Consonance read, and Consonance's
//! change notifications.

use super::failure::{Failure, record};
use crate::App;
use connector_core::event::{ConsonanceEvent, FlowMessage};
use connector_core::plan::TitleFacts;
use connector_core::{AssetLink, AuditAction, AuditRecord, Flow, Outcome, ProductSalesRights, TitleRecord};
use connector_store::StoreError;

/// A title whose stored record differs from what Consonance says now.
pub(super) struct TitleChange {
    title: TitleFacts,
    stored: Option<TitleRecord>,
    fresh: TitleRecord,
}

impl TitleChange {
    /// Its product's sales rights changed (flow 4: every link of the work is evaluated again).
    fn sales_changed(&self) -> bool {
        self.stored.as_ref().is_some_and(|s| s.sales_rights != self.fresh.sales_rights)
    }
}

/// Whether any of `changes` moves sales rights: the rights step then re-evaluates the work.
pub(super) fn sales_changed(changes: &[TitleChange]) -> bool {
    changes.iter().any(TitleChange::sales_changed)
}

/// The titles whose stored record Consonance's read changes (stored records read, nothing written).
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn changes(app: &App, titles: &[TitleFacts]) -> Result<Vec<TitleChange>, Failure> {
    let mut out = Vec::new();
    for title in titles {
        let stored = app.stores.mapping.get_title(&title.isbn).await?;
        let product = title.products.iter().find(|p| p.product_id == title.product_id);
        let fresh = TitleRecord {
            isbn: title.isbn.clone(),
            work_id: title.work_id,
            product_id: title.product_id,
            title: title.title.clone(),
            imprint: title.imprint.clone(),
            product_form: product.and_then(|p| p.form.as_ref()).map(|f| f.to_string()),
            publication_date: product.and_then(|p| p.publication_date),
            sales_rights: product.map(|p| p.sales_rights.clone()),
            updated_at: app.now(),
            revision: 0,
        };
        let same =
            |s: &TitleRecord| TitleRecord { updated_at: fresh.updated_at, revision: 0, ..s.clone() } == fresh;
        if !stored.as_ref().is_some_and(same) {
            out.push(TitleChange { title: title.clone(), stored, fresh });
        }
    }
    Ok(out)
}

/// Writes the changed title records, each with its audit: `title.mapped` or `title.updated`,
/// and `rights.sales_changed` naming the links re-evaluated (`reevaluated`, enqueued by the
/// rights step before this write, so a failure in between repeats them, never loses them).
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn write(
    app: &App,
    changes: Vec<TitleChange>,
    reevaluated: &[AssetLink],
    correlation_id: &str,
) -> Result<(), Failure> {
    for change in changes {
        let records = change_records(app, &change, reevaluated, correlation_id);
        let TitleChange { stored, fresh, .. } = change;
        match app.stores.mapping.put_title(&fresh, stored.map(|s| s.revision), &records).await {
            // Another worker recorded it first: theirs is as fresh as ours.
            Err(StoreError::Conflict { .. }) | Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn change_records(
    app: &App,
    change: &TitleChange,
    reevaluated: &[AssetLink],
    correlation_id: &str,
) -> Vec<AuditRecord> {
    let TitleChange { title, stored, fresh } = change;
    let action = if stored.is_some() { AuditAction::TitleUpdated } else { AuditAction::TitleMapped };
    let detail = format!(
        "ISBN {} is product {} of work {} in Consonance ({})",
        title.isbn, title.product_id, title.work_id, title.title
    );
    let mapped = AuditRecord {
        correlation_id: correlation_id.to_string(),
        data: serde_json::json!({"work_id": title.work_id, "product_id": title.product_id, "imprint": title.imprint}),
        ..record(
            app,
            Flow::IdentifierAlignment,
            action,
            Outcome::Applied,
            &detail,
            Some(title.isbn.clone()),
            None,
        )
    };
    let rights = stored.as_ref().filter(|_| change.sales_changed()).map(|before| {
        let show = |r: &Option<ProductSalesRights>| serde_json::to_string(r).unwrap_or_default();
        let detail = format!(
            "sales rights of product {} (ISBN {}) changed in Consonance: {} -> {}; {} links of work {} re-evaluated",
            title.product_id,
            title.isbn,
            show(&before.sales_rights),
            show(&fresh.sales_rights),
            reevaluated.len(),
            title.work_id
        );
        AuditRecord {
            correlation_id: correlation_id.to_string(),
            data: serde_json::json!({
                "product_id": title.product_id, "work_id": title.work_id,
                "before": before.sales_rights, "after": fresh.sales_rights,
                "links": reevaluated.iter().map(|l| serde_json::json!({"role": l.key.role, "slot": l.key.slot, "isbn": l.key.isbn, "status": l.status})).collect::<Vec<_>>(),
            }),
            ..record(app, Flow::RightsSync, AuditAction::RightsSalesChanged, Outcome::Applied, &detail, Some(title.isbn.clone()), None)
        }
    });
    std::iter::once(mapped).chain(rights).collect()
}

/// A Consonance change notification: its titles read once; then, each once, title records,
/// rights (a sales-rights change re-evaluates the work's links), requests and readiness, and
/// the work's packages.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn process_consonance(
    app: &App,
    message: &FlowMessage,
    event: &ConsonanceEvent,
) -> Result<(), Failure> {
    let titles: Vec<TitleFacts> = if let Some(isbn) = &event.isbn {
        app.pms.title_by_isbn(isbn).await?.into_iter().collect()
    } else if let Some(work_id) = event.work_id {
        app.pms.titles_of_work(work_id).await?
    } else {
        // A product id alone: the mapping knows which title it is, if any.
        Vec::new()
    };
    let Some(first) = titles.first() else {
        let detail = format!(
            "change notification names no title known to Consonance (work {:?}, product {:?}, isbn {:?})",
            event.work_id.map(|w| w.0),
            event.product_id.map(|p| p.0),
            event.isbn.as_ref().map(|i| i.to_string())
        );
        let rec = AuditRecord {
            correlation_id: message.correlation_id.clone(),
            ..record(
                app,
                Flow::IdentifierAlignment,
                AuditAction::TitleChangeIgnored,
                Outcome::Skipped,
                &detail,
                event.isbn.clone(),
                None,
            )
        };
        app.stores.audit.append(&[rec]).await?;
        return Ok(());
    };
    let changes = changes(app, &titles).await?;
    let sales = sales_changed(&changes).then_some(first);
    let reevaluated = crate::rights::after_plan(app, None, sales, &message.correlation_id).await?;
    write(app, changes, &reevaluated, &message.correlation_id).await?;
    // Flows 3 and 8: a stage or schedule change raises or re-dates requests, moves readiness.
    crate::readiness::refresh_titles(app, &titles, &message.correlation_id).await?;
    // Sales rights or dates may have changed: the work's packages are evaluated again. No link
    // is made here, so the build shares this message.
    if app.settings.packages_on_link && app.config.packages.is_some() {
        let built = crate::packages::build_for_work(app, first, None, &message.correlation_id).await;
        super::follow_up::package_result(app, message, &first.isbn, built)?;
    }
    Ok(())
}
