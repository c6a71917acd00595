//! EventBridge scheduled event in, reconcile summary out.
//!
//! The schedule's input picks the mode: `{"mode": "full"}` walks everything (weekly, or on
//! demand with `aws events put-events` / a test invoke); `{"mode": "rights"}` is the daily
//! rights pass (expiring soon reported, expired withdrawn); anything else is incremental.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use connector_app::reconciler::{Mode, Options};

/// The mode the event asks for: `detail.mode` (or a top-level `mode`, for manual invokes).
pub fn mode_of(event: &EventBridgeEvent<serde_json::Value>) -> Mode {
    match event.detail.get("mode").and_then(|m| m.as_str()) {
        Some("full") => Mode::Full,
        Some("rights") => Mode::Rights,
        _ => Mode::Incremental,
    }
}

pub fn options(mode: Mode) -> Options {
    Options { mode, ..Options::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_events_pick_their_mode() {
        let incremental: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(include_str!("../../../events/eventbridge-schedule.json")).unwrap();
        assert_eq!(mode_of(&incremental), Mode::Incremental);
        let full: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(include_str!("../../../events/eventbridge-full-scan.json")).unwrap();
        assert_eq!(mode_of(&full), Mode::Full);
        let rights: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(include_str!("../../../events/eventbridge-rights.json")).unwrap();
        assert_eq!(mode_of(&rights), Mode::Rights);
    }
}
