//! One message, one pass (issue 15): the rooms of `connector_app` a flow message enters, read
//! from the processor's spans (each room's entry point opens one at debug level). Within one
//! message no room is entered twice, apart from the processor that owns it, so no side trip
//! goes back to a room it left; a link message builds no package (its follow-up does, in a
//! message of its own) and its follow-up enters the package room once.
//!
//! Its own test binary: the recording subscriber is the process's global one.

use connector_tests::e2e::{Backend, Harness};
use std::sync::{Arc, Mutex};
use tracing::span::{Attributes, Id};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::{Registry, filter};

/// Every span the app opens, in order: `FLOW` where a message begins, else its room (the module
/// under `connector_app`: `processor`, `readiness`, `rights`...).
#[derive(Clone, Default)]
struct Rooms(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for Rooms {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let m = attrs.metadata();
        let entry = if m.name() == "flow" { Some("FLOW".to_string()) } else { room(m) };
        if let Some(e) = entry {
            self.0.lock().unwrap().push(e);
        }
    }
}

fn room(m: &Metadata<'_>) -> Option<String> {
    m.target().strip_prefix("connector_app::").map(|rest| rest.split("::").next().unwrap_or(rest).to_string())
}

/// The rooms of one message in the order entered, a room entered again at once (a command
/// after a command) counted once.
fn messages(log: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for e in log {
        if e == "FLOW" {
            out.push(Vec::new());
        } else if let Some(m) = out.last_mut()
            && m.last() != Some(e)
        {
            m.push(e.clone());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_enters_each_room_once() {
    let rooms = Rooms::default();
    let app_only = filter::filter_fn(|m| m.target().starts_with("connector_app"));
    tracing::subscriber::set_global_default(Registry::default().with(rooms.clone().with_filter(app_only)))
        .expect("the only subscriber of this binary");

    let mut h = Harness::start(Backend::Embedded, "one_pass", 6).await;
    // One message at a time, so the spans of one message are not interleaved with another's.
    h.app.settings.concurrency = 1;
    let mut events = 0;
    for a in h.catalogue.assets.iter().filter(|a| matches!(a.asset_type.as_str(), "Front Cover" | "Spine")) {
        let v = a.versions.last().map(|v| v.version).unwrap_or(1);
        if h.sims.otmm.approve(&a.original_asset_id, v, "one-pass").is_ok() {
            events += 1;
        }
    }
    let report = h.deliver_and_drain(events).await;
    assert_eq!((report.done as usize, report.dead_lettered), (events, 0), "{report:?}");

    let log = rooms.0.lock().unwrap().clone();
    let messages = messages(&log);
    let (mut links_with_readiness, mut follow_ups) = (0, 0);
    for m in &messages {
        let outside: Vec<&String> = m.iter().filter(|r| *r != "processor").collect();
        let mut seen = std::collections::BTreeSet::new();
        for r in &outside {
            assert!(seen.insert(*r), "a message entered {r} twice: {m:?}");
        }
        if m.iter().any(|r| r == "packages") {
            follow_ups += 1;
            assert!(
                !m.iter().any(|r| r == "readiness" || r == "rights"),
                "a package follow-up did more: {m:?}"
            );
        } else if m.iter().any(|r| r == "readiness") {
            links_with_readiness += 1;
        }
    }
    // Not vacuous: links reached readiness, and packages were built by follow-ups.
    assert!(links_with_readiness > 0, "no link message reached readiness: {messages:?}");
    assert_eq!(follow_ups as u64, report.follow_ups.done, "{messages:?}");
    assert!(follow_ups > 0, "no follow-up built a package: {messages:?}");
    assert_eq!(messages.len(), events + follow_ups, "{messages:?}");
}
