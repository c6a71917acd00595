//! Work the connector gives itself after a message, done in a queue message of its own: it is
//! retried and dead-lettered on its own, and never takes the message it follows with it (a
//! package that cannot be built does not undo, or dead-letter, the link it follows).

use super::EventId;
use crate::ids::Isbn13;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A follow-up the flow processor enqueued. In a [`super::FlowMessage`] its source is
/// `connector`: no webhook sends one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpEvent {
    pub event_id: EventId,
    pub work: FollowUpWork,
    /// The event whose processing asked for it (for the trail).
    pub after: EventId,
    pub requested_at: DateTime<Utc>,
}

/// What a follow-up does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FollowUpWork {
    /// Build or confirm the production packages of the work this ISBN belongs to (flow 5),
    /// after a link of a role a package takes was made, replaced or withdrawn.
    Packages { isbn: Isbn13 },
}

impl FollowUpEvent {
    /// The package build after `after` changed a link of `isbn`'s work. Its id is derived from
    /// both, so a retried message enqueues a follow-up with the same id.
    pub fn packages(isbn: Isbn13, after: &EventId, requested_at: DateTime<Utc>) -> Self {
        FollowUpEvent {
            event_id: EventId::derived(&format!("packages-{isbn}-after-{after}")),
            work: FollowUpWork::Packages { isbn },
            after: after.clone(),
            requested_at,
        }
    }

    /// The title it is about.
    pub fn isbn(&self) -> &Isbn13 {
        match &self.work {
            FollowUpWork::Packages { isbn } => isbn,
        }
    }

    pub fn event_type(&self) -> &'static str {
        match self.work {
            FollowUpWork::Packages { .. } => "follow_up.packages",
        }
    }
}
