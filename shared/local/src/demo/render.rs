//! The demo's report: the summary as a person reads it, and the one line it ends with.

use super::DemoSummary;
use connector_core::AssetRole;

/// The human-readable report (stdout).
pub fn render(s: &DemoSummary) -> String {
    let mut out = String::new();
    let mut line = |t: String| {
        out.push_str(&t);
        out.push('\n');
    };
    line(format!(
        "Catalogue: {} works, {} products, {} asset versions",
        s.works, s.products, s.asset_versions
    ));
    line(format!(
        "Webhook path: {} approvals made in OTMM, {} webhooks delivered, {} messages processed ({} done, {} retried, {} dead-lettered)",
        s.approvals_sent, s.webhooks_delivered, s.messages, s.done, s.retried, s.dead_lettered
    ));
    line(format!(
        "Links made (flows 1 and 2): {} titles linked, {} supporting resources in Consonance",
        s.titles_linked, s.consonance_resources
    ));
    for role in AssetRole::ALL {
        if let Some(n) = s.links_by_role.get(role.as_str()) {
            line(format!("  {:<22} {n}", role.as_str()));
        }
    }
    line(format!(
        "Versions: {} late approvals of older versions ignored (newer version kept)",
        s.stale_approvals_ignored
    ));
    line(format!(
        "Identifiers (flow 6): {} assets aligned to Consonance, {} invalid ISBNs rejected (never written)",
        s.identifiers_aligned, s.invalid_isbns_rejected
    ));
    if !s.dead_letters.is_empty() {
        line(format!("Dead letters: {} (replay with `connector replay`)", s.dead_letters.len()));
    }
    if let (Some(inc), Some(full)) = (&s.reconcile_incremental, &s.reconcile_full) {
        line(format!(
            "Reconciler (webhooks off): {} new versions approved silently, {} resources deleted by hand in Consonance",
            s.silent_approvals, s.resources_deleted_by_hand
        ));
        line(format!(
            "  incremental: {} pages, {} assets and {} works seen, drift {:?}, {} enqueued -> {} of {} silent approvals linked",
            inc.pages,
            inc.assets_seen,
            inc.works_seen,
            inc.drift,
            inc.enqueued,
            s.silent_approvals_linked,
            s.silent_approvals
        ));
        line(format!(
            "  full scan: {} pages, {} links checked, drift {:?}, {} enqueued -> {} of {} deleted resources restored",
            full.pages,
            full.links_checked,
            full.drift,
            full.enqueued,
            s.resources_restored,
            s.resources_deleted_by_hand
        ));
    }
    line(format!(
        "Asset requests (flow 3): {} raised in OTMM ({} open, {} closed by an arriving approval)",
        s.requests_open + s.requests_closed,
        s.requests_open,
        s.requests_closed
    ));
    for (role, n) in &s.requests_by_role {
        line(format!("  {role:<22} {n}"));
    }
    let count = |k: &str| s.readiness.get(k).copied().unwrap_or(0);
    line(format!(
        "Launch readiness (flow 8): {} ready, {} at risk, {} blocked",
        count("ready"),
        count("at_risk"),
        count("blocked")
    ));
    for e in &s.readiness_examples {
        line(format!("  {e}"));
    }
    line(format!(
        "Rights (flow 4): {} approved links withheld because the asset's rights covered none of the products",
        s.withheld_by_rights
    ));
    if !s.rights_changes.is_empty() {
        line("Rights changes in the simulators, and what the connector did:".to_string());
        for c in &s.rights_changes {
            line(format!("  {}", c.change));
            line(format!("    -> {:<18} ISBN {}: {}", c.action, c.isbn, c.detail));
        }
        line(format!("  daily rights pass: {} links reported as expiring soon", s.expiring_reported));
    }
    line(format!(
        "Production packages (flow 5): {} staged, {} released, {} blocked; a final rebuild of every work found {} unchanged and staged {} (staging: {})",
        s.packages_staged,
        s.packages_released,
        s.packages_blocked,
        s.packages_rebuild_unchanged,
        s.packages_rebuild_staged,
        s.staging_dir
    ));
    for p in &s.package_samples {
        line(format!("  staged  {p}"));
    }
    for b in &s.blocked_samples {
        line(format!("  blocked {b}"));
    }
    if !s.delivery_by_recipient.is_empty() {
        let by: Vec<String> = s
            .delivery_by_recipient
            .iter()
            .map(|(r, (passed, blocked))| format!("{r} {passed} passed / {blocked} blocked"))
            .collect();
        line(format!("Delivery checks (issue 18), ebook packages by recipient: {}", by.join(", ")));
        for x in &s.delivery_samples {
            line(format!("  {x}"));
        }
        if let Some(r) = &s.release_refused {
            line(format!("  release refused: {r}"));
        }
    }
    if let Some(isbn) = &s.sample_title {
        line(format!("Audit trail (flow 7), newest first, for ISBN {isbn}:"));
        for r in &s.sample_audit {
            line(format!(
                "  {} {:<20} {:<22} v{:<2} by {:<14} {}",
                r.at.format("%H:%M:%S%.3f"),
                r.flow.as_str(),
                r.action,
                r.asset_version.map(|v| v.to_string()).unwrap_or_default(),
                r.actor.as_ref().map(|a| a.user_id.as_str()).unwrap_or("-"),
                r.detail
            ));
        }
    }
    out
}

/// The one-line summary the demo ends with.
pub fn one_line(s: &DemoSummary) -> String {
    format!(
        "demo ok: {} titles linked ({} links), {} stale approvals ignored, {} invalid ISBNs rejected, {} asset requests raised, readiness {} ready / {} at risk / {} blocked, reconciler linked {}/{} silent approvals and restored {}/{} deleted resources, {} packages staged ({} blocked), {} dead letters, {} audit records in {:.1}s",
        s.titles_linked,
        s.links_by_role.values().sum::<usize>(),
        s.stale_approvals_ignored,
        s.invalid_isbns_rejected,
        s.requests_open + s.requests_closed,
        s.readiness.get("ready").copied().unwrap_or(0),
        s.readiness.get("at_risk").copied().unwrap_or(0),
        s.readiness.get("blocked").copied().unwrap_or(0),
        s.silent_approvals_linked,
        s.silent_approvals,
        s.resources_restored,
        s.resources_deleted_by_hand,
        s.packages_staged + s.packages_released,
        s.packages_blocked,
        s.dead_letters.len(),
        s.audit_records,
        s.seconds
    )
}
