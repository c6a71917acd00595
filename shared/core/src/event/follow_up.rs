//! Work the connector gives itself after a message, done in a queue message of its own: it is
//! retried and dead-lettered on its own, and never takes the message it follows with it (a
//! package that cannot be built does not undo, or dead-letter, the link it follows).

use super::EventId;
use crate::ids::Isbn13;
use crate::plan::{AssetFacts, TitleFacts};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A follow-up the flow processor enqueued. In a [`super::FlowMessage`] its source is
/// `connector`: no webhook sends one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpEvent {
    pub event_id: EventId,
    pub work: FollowUpWork,
    /// The event whose processing asked for it (for the trail).
    pub after: EventId,
    pub requested_at: DateTime<Utc>,
}

/// What a follow-up does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FollowUpWork {
    /// Build or confirm the production packages of the work this ISBN belongs to (flow 5),
    /// after a link of a role a package takes was made, replaced or withdrawn.
    Packages {
        isbn: Isbn13,
        /// What the link step read, when it read it: the builder may use it instead of reading
        /// the title and the linked version again (absent after a withdrawal, and in messages
        /// of earlier releases, which are read as before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read: Option<Box<LinkRead>>,
    },
}

/// The facts a link was decided on, carried to its package follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRead {
    /// When the link step read them (the follow-up reads again when they are older than it
    /// allows).
    pub read_at: DateTime<Utc>,
    /// The title and its work's products, from Consonance.
    pub title: TitleFacts,
    /// The version linked, from OTMM.
    pub asset: AssetFacts,
}

impl FollowUpEvent {
    /// The package build after `after` changed a link of `isbn`'s work, with what the link
    /// read (`read`). Its id is derived from `isbn` and `after`, so a retried message enqueues a
    /// follow-up with the same id.
    pub fn packages(
        isbn: Isbn13,
        after: &EventId,
        requested_at: DateTime<Utc>,
        read: Option<LinkRead>,
    ) -> Self {
        FollowUpEvent {
            event_id: EventId::derived(&format!("packages-{isbn}-after-{after}")),
            work: FollowUpWork::Packages { isbn, read: read.map(Box::new) },
            after: after.clone(),
            requested_at,
        }
    }

    /// The title it is about.
    pub fn isbn(&self) -> &Isbn13 {
        match &self.work {
            FollowUpWork::Packages { isbn, .. } => isbn,
        }
    }

    pub fn event_type(&self) -> &'static str {
        match self.work {
            FollowUpWork::Packages { .. } => "follow_up.packages",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A follow-up an earlier release enqueued (no `read`) is still read: as one to read afresh.
    #[test]
    fn a_follow_up_without_the_links_read_is_read_as_before() {
        let earlier = r#"{"event_id":"packages-1","work":{"kind":"packages","isbn":"9780306406157"},
            "after":"e-1","requested_at":"2026-12-01T10:00:00Z"}"#;
        let event: FollowUpEvent = serde_json::from_str(earlier).unwrap();
        assert_eq!(
            event.work,
            FollowUpWork::Packages { isbn: Isbn13::parse("9780306406157").unwrap(), read: None }
        );
        // And one without a read is written without the field, as before.
        let written = serde_json::to_value(&event).unwrap();
        assert!(written["work"].get("read").is_none(), "{written}");
        // Its id depends on the title and the event it follows only (a retry enqueues the same).
        let isbn = Isbn13::parse("9780306406157").unwrap();
        let at = event.requested_at;
        let after = EventId::derived("e-1");
        assert_eq!(
            FollowUpEvent::packages(isbn.clone(), &after, at, None).event_id,
            FollowUpEvent::packages(isbn, &after, at + chrono::Duration::seconds(5), None).event_id
        );
    }
}
