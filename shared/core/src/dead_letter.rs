//! What kind of cause parked a dead letter: a short, closed set of names for counting and
//! grouping (metrics, `connector status`), beside the free-text cause people read.

use crate::audit::AuditAction;
use serde::{Deserialize, Serialize};

/// The kind of a dead letter's cause. Derived from the audit record that explains it (its
/// `action`) and whether the message gave up after its receives ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterCause {
    /// OTMM has no such asset (`asset.not_found`).
    AssetNotFound,
    /// Consonance has no product for the ISBN (`title.not_found`).
    TitleNotFound,
    /// A production package build failed for good (`package.failed`).
    PackageFailed,
    /// The message body is not a flow message (`message.unreadable`).
    MessageUnreadable,
    /// Transient failures until the queue's receives ran out.
    RetriesExhausted,
    /// Another permanent failure (a refused write, an invalid answer).
    PermanentError,
    /// The queue moved it by itself: no outcome was recorded (a worker that died every time).
    MovedByQueue,
}

impl DeadLetterCause {
    pub const ALL: [DeadLetterCause; 7] = [
        DeadLetterCause::AssetNotFound,
        DeadLetterCause::TitleNotFound,
        DeadLetterCause::PackageFailed,
        DeadLetterCause::MessageUnreadable,
        DeadLetterCause::RetriesExhausted,
        DeadLetterCause::PermanentError,
        DeadLetterCause::MovedByQueue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterCause::AssetNotFound => "asset_not_found",
            DeadLetterCause::TitleNotFound => "title_not_found",
            DeadLetterCause::PackageFailed => "package_failed",
            DeadLetterCause::MessageUnreadable => "message_unreadable",
            DeadLetterCause::RetriesExhausted => "retries_exhausted",
            DeadLetterCause::PermanentError => "permanent_error",
            DeadLetterCause::MovedByQueue => "moved_by_queue",
        }
    }

    /// The kind for a message parked by the processor: the action of the dead-lettered audit
    /// record that explains it (`None` when the processor wrote its own
    /// `message.dead_lettered`), and whether it gave up on transient failures.
    pub fn of_parking(action: Option<AuditAction>, exhausted_retries: bool) -> DeadLetterCause {
        match action {
            Some(AuditAction::AssetNotFound) => DeadLetterCause::AssetNotFound,
            Some(AuditAction::TitleNotFound) => DeadLetterCause::TitleNotFound,
            Some(AuditAction::PackageFailed) => DeadLetterCause::PackageFailed,
            Some(AuditAction::MessageUnreadable) => DeadLetterCause::MessageUnreadable,
            _ if exhausted_retries => DeadLetterCause::RetriesExhausted,
            _ => DeadLetterCause::PermanentError,
        }
    }
}

impl std::fmt::Display for DeadLetterCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explaining_action_names_the_kind() {
        assert_eq!(
            DeadLetterCause::of_parking(Some(AuditAction::AssetNotFound), false),
            DeadLetterCause::AssetNotFound
        );
        assert_eq!(
            DeadLetterCause::of_parking(Some(AuditAction::TitleNotFound), false),
            DeadLetterCause::TitleNotFound
        );
        assert_eq!(
            DeadLetterCause::of_parking(Some(AuditAction::PackageFailed), false),
            DeadLetterCause::PackageFailed
        );
        assert_eq!(
            DeadLetterCause::of_parking(Some(AuditAction::MessageUnreadable), false),
            DeadLetterCause::MessageUnreadable
        );
        // The processor's own record: given up, or another permanent failure.
        assert_eq!(DeadLetterCause::of_parking(None, true), DeadLetterCause::RetriesExhausted);
        assert_eq!(
            DeadLetterCause::of_parking(Some(AuditAction::MessageDeadLettered), true),
            DeadLetterCause::RetriesExhausted
        );
        assert_eq!(DeadLetterCause::of_parking(None, false), DeadLetterCause::PermanentError);
        // A named cause wins over the receives count: it says more.
        assert_eq!(
            DeadLetterCause::of_parking(Some(AuditAction::TitleNotFound), true),
            DeadLetterCause::TitleNotFound
        );
    }

    #[test]
    fn names_are_the_serde_names_and_distinct() {
        let names: std::collections::BTreeSet<&str> =
            DeadLetterCause::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), DeadLetterCause::ALL.len());
        for c in DeadLetterCause::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
        }
    }
}
