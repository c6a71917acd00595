//! What the handlers count, through `connector_metrics` (names and dimensions are defined
//! there; the recorder is the binary's: EMF in Lambda, Prometheus in `connector serve`).

use crate::packages::{BuildOutcome, PackageError};
use crate::processor::Disposition;
use crate::reconciler::Summary;

impl Disposition {
    /// The `outcome` dimension of `events_processed`: `done`, `retry` or `dead_letter`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Disposition::Done => "done",
            Disposition::Retry { .. } => "retry",
            Disposition::DeadLetter { .. } => "dead_letter",
        }
    }
}

/// Counts a processed message under `source` and hands its disposition on.
pub(crate) fn processed(source: &'static str, disposition: Disposition) -> Disposition {
    connector_metrics::event_processed(source, disposition.outcome());
    disposition
}

/// The `status` dimension of `package_builds` for one product's outcome.
pub fn build_status(outcome: &BuildOutcome) -> &'static str {
    match outcome {
        BuildOutcome::Staged { .. } => "staged",
        BuildOutcome::Unchanged { .. } => "unchanged",
        BuildOutcome::Blocked { .. } => "blocked",
        BuildOutcome::NotStarted { .. } => "not_started",
        BuildOutcome::NotPackaged { .. } => "not_packaged",
    }
}

/// Counts a work's package builds: one per product, or one `failed`.
pub(crate) fn package_builds(result: &Result<Vec<BuildOutcome>, PackageError>) {
    match result {
        Ok(outcomes) => outcomes.iter().for_each(|o| connector_metrics::package_build(build_status(o))),
        Err(_) => connector_metrics::package_build("failed"),
    }
}

/// The mode's name as in the reconciler's input (`incremental`, `full`, `rights`, ...).
fn mode_name(summary: &Summary) -> String {
    summary
        .mode
        .and_then(|m| serde_json::to_value(m).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Counts a reconciler run: the run (for the lag alarm), its drift by kind, what it enqueued
/// and, for the rights pass, the links reported expiring.
pub(crate) fn reconcile_run(summary: &Summary) {
    let drift = summary.drift.iter().map(|(kind, n)| (kind.as_str(), *n));
    connector_metrics::reconcile_run(&mode_name(summary), summary.finished, drift, summary.enqueued);
    if let Some(rights) = &summary.rights {
        connector_metrics::rights_expiring(rights.expiring_reported);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconciler::Mode;
    use connector_core::Isbn13;
    use connector_core::rights::Channel;

    #[test]
    fn outcomes_and_statuses_are_the_documented_names() {
        assert_eq!(Disposition::Done.outcome(), "done");
        let retry = Disposition::Retry { after: std::time::Duration::ZERO, reason: "x".into() };
        assert_eq!(retry.outcome(), "retry");
        assert_eq!(Disposition::DeadLetter { cause: "x".into() }.outcome(), "dead_letter");
        let isbn = Isbn13::parse("9781800100008").unwrap();
        let blocked = BuildOutcome::Blocked { isbn: isbn.clone(), channel: Channel::Print, reasons: vec![] };
        assert_eq!(build_status(&blocked), "blocked");
        assert_eq!(build_status(&BuildOutcome::NotPackaged { isbn, reason: "x".into() }), "not_packaged");
        let help = connector_metrics::def(connector_metrics::names::PACKAGE_BUILDS).unwrap().help;
        for status in ["staged", "unchanged", "blocked", "not_started", "not_packaged", "failed"] {
            assert!(help.contains(status), "{status} is not documented in {help}");
        }
    }

    #[test]
    fn the_mode_dimension_is_the_input_name() {
        for (mode, name) in
            [(Mode::Incremental, "incremental"), (Mode::Full, "full"), (Mode::Rights, "rights")]
        {
            let summary = Summary { mode: Some(mode), ..Default::default() };
            assert_eq!(mode_name(&summary), name);
        }
        assert_eq!(mode_name(&Summary::default()), "unknown");
    }
}
