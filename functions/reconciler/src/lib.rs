//! The reconciler's input, as its schedules deliver it, and its run options.
//!
//! EventBridge delivers one of two shapes (infra/template.yaml, `ReconcilerFunction.Events`):
//! - a schedule **with** a constant `Input` delivers exactly that JSON and nothing else:
//!   `{"mode": "full"}` (weekly full scan), `{"mode": "rights"}` (daily rights pass);
//! - a schedule **without** one delivers the `Scheduled Event` envelope (`detail-type`,
//!   `source: aws.events`, `detail: {}`): the incremental run.
//!
//! A manual invoke may send either shape (`{"mode": "incremental"}` too, or an envelope whose
//! `detail` names the mode). Anything else is refused with the reason, never run as an
//! incremental pass by default: a typo in a schedule's `Input` must fail loudly.
//!
//! The first install is a manual invoke of `{"mode": "backfill", "since": "2024-01-01"}`
//! (`since` a date or an RFC 3339 time, optional: the whole catalogue without it), repeated
//! until its answer says `"finished": true`; each invocation continues from the checkpoints.

use connector_app::reconciler::{Mode, Options, parse_since};
use serde_json::Value;

const MODES: &str = "\"incremental\", \"full\", \"rights\" or \"backfill\"";

/// Why an input is refused (the invocation fails with this message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// Neither a `{"mode": ...}` object nor an EventBridge event.
    Shape(String),
    UnknownMode(String),
    /// `since` is not a date (`2024-01-01`) or an RFC 3339 time, or given to another mode.
    Since(String),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Shape(why) => write!(
                f,
                "reconciler input {why}: expected {{\"mode\": {MODES}}} (a schedule's Input) or an \
                 EventBridge scheduled event"
            ),
            InputError::UnknownMode(found) => {
                write!(f, "reconciler input: unknown mode {found}; the modes are {MODES}")
            }
            InputError::Since(why) => write!(f, "reconciler input: \"since\" {why}"),
        }
    }
}

impl std::error::Error for InputError {}

fn mode(value: &Value) -> Result<Mode, InputError> {
    match value.as_str() {
        Some("incremental") => Ok(Mode::Incremental),
        Some("full") => Ok(Mode::Full),
        Some("rights") => Ok(Mode::Rights),
        Some("backfill") => Ok(Mode::Backfill),
        _ => Err(InputError::UnknownMode(value.to_string())),
    }
}

/// The mode an invocation's payload asks for.
pub fn mode_of(input: &Value) -> Result<Mode, InputError> {
    options_of(input).map(|o| o.mode)
}

/// The run options an invocation's payload asks for: its mode and, for a backfill, `since`.
pub fn options_of(input: &Value) -> Result<Options, InputError> {
    let Some(object) = input.as_object() else {
        return Err(InputError::Shape(format!("is {input}, not an object")));
    };
    // An EventBridge event (a schedule without Input: detail is {}, or a manual one) carries
    // its request in `detail`; a schedule's constant Input (or a manual invoke) is the request.
    let request = if object.contains_key("detail-type") {
        match input.get("detail").and_then(Value::as_object) {
            Some(detail) if detail.contains_key("mode") => detail,
            _ => return Ok(options(Mode::Incremental)),
        }
    } else {
        if let Some(other) = object.keys().find(|k| *k != "mode" && *k != "since") {
            return Err(InputError::Shape(format!("has an unknown field {other:?}")));
        }
        object
    };
    let mode = match request.get("mode") {
        Some(m) => mode(m)?,
        None => return Err(InputError::Shape("has no \"mode\"".into())),
    };
    let since = match request.get("since") {
        None | Some(Value::Null) => None,
        Some(_) if mode != Mode::Backfill => {
            return Err(InputError::Since("is for the backfill mode only".into()));
        }
        Some(Value::String(text)) => Some(parse_since(text).map_err(|e| InputError::Since(e.to_string()))?),
        Some(other) => return Err(InputError::Since(format!("is {other}, not a string"))),
    };
    Ok(Options { since, ..options(mode) })
}

pub fn options(mode: Mode) -> Options {
    Options { mode, ..Options::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn the_sample_events_pick_their_mode() {
        assert_eq!(mode_of(&sample("eventbridge-schedule.json")), Ok(Mode::Incremental));
        assert_eq!(mode_of(&sample("eventbridge-full-scan.json")), Ok(Mode::Full));
        assert_eq!(mode_of(&sample("eventbridge-rights.json")), Ok(Mode::Rights));
    }

    #[test]
    fn a_schedule_input_is_the_whole_payload() {
        assert_eq!(mode_of(&json!({"mode": "full"})), Ok(Mode::Full));
        assert_eq!(mode_of(&json!({"mode": "rights"})), Ok(Mode::Rights));
        assert_eq!(mode_of(&json!({"mode": "incremental"})), Ok(Mode::Incremental));
    }

    #[test]
    fn an_envelope_may_name_the_mode_in_its_detail() {
        let mut envelope = sample("eventbridge-schedule.json");
        assert_eq!(mode_of(&envelope), Ok(Mode::Incremental), "a schedule without Input");
        envelope["detail"] = json!({"mode": "full"});
        assert_eq!(mode_of(&envelope), Ok(Mode::Full));
        envelope["detail"] = json!({"mode": "weekly"});
        assert_eq!(mode_of(&envelope), Err(InputError::UnknownMode("\"weekly\"".into())));
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let err = mode_of(&json!({"mode": "ful"})).unwrap_err();
        assert_eq!(err, InputError::UnknownMode("\"ful\"".into()));
        assert!(err.to_string().contains("\"ful\"") && err.to_string().contains("\"full\""), "{err}");
        let err = mode_of(&json!({"mdoe": "full"})).unwrap_err();
        assert!(err.to_string().contains("unknown field \"mdoe\""), "{err}");
        assert!(mode_of(&json!({})).unwrap_err().to_string().contains("no \"mode\""));
        assert!(mode_of(&json!({"mode": 1})).is_err());
        assert!(mode_of(&json!("full")).unwrap_err().to_string().contains("not an object"));
        assert!(mode_of(&json!({"mode": "full", "extra": true})).is_err());
    }

    #[test]
    fn a_backfill_takes_an_optional_look_back_date() {
        let o = options_of(&sample("reconciler-backfill.json")).unwrap();
        assert_eq!(
            (o.mode, o.since.map(|s| s.to_rfc3339())),
            (Mode::Backfill, Some("2024-01-01T00:00:00+00:00".into()))
        );
        let o = options_of(&json!({"mode": "backfill", "since": "2024-03-01"})).unwrap();
        assert_eq!(o.mode, Mode::Backfill);
        assert_eq!(o.since.unwrap().to_rfc3339(), "2024-03-01T00:00:00+00:00");
        let o = options_of(&json!({"mode": "backfill", "since": "2024-03-01T12:30:00+02:00"})).unwrap();
        assert_eq!(o.since.unwrap().to_rfc3339(), "2024-03-01T10:30:00+00:00");
        assert_eq!(options_of(&json!({"mode": "backfill"})).unwrap().since, None);
        let err = options_of(&json!({"mode": "backfill", "since": "last year"})).unwrap_err();
        assert!(err.to_string().contains("\"last year\""), "{err}");
        let err = options_of(&json!({"mode": "full", "since": "2024-03-01"})).unwrap_err();
        assert!(err.to_string().contains("backfill mode only"), "{err}");
        assert!(options_of(&json!({"mode": "backfill", "since": 2024})).is_err());
    }
}
