//! Inbound events: what OTMM (through a server-side listener or middleware) and Consonance (a
//! generic change notification) post to `POST /webhooks/{source}`, and the queue message the
//! intake turns each one into. The contract is documented in `docs/webhook-contract.md`.
//!
//! Parsing is by hand over `serde_json::Value` rather than derived, so that every error names
//! the field it is about (`{"error":"invalid_field","field":"asset_id","message":"..."}`),
//! unknown fields are ignored (senders may add fields before we read them) and no input can
//! make the parser panic.

use crate::audit::Actor;
use crate::ids::{AssetId, Isbn13, ProductId, WorkId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

mod follow_up;
pub use follow_up::{FollowUpEvent, FollowUpWork, LinkRead};

/// Longest accepted `event_id`.
pub const MAX_EVENT_ID_LEN: usize = 128;
/// Longest accepted actor id or name, and changed-field name.
pub const MAX_TEXT_LEN: usize = 256;
/// Most entries accepted in a Consonance notification's `fields`.
pub const MAX_CHANGED_FIELDS: usize = 200;

// ---------------------------------------------------------------------------------------------
// Identifiers

/// The sender's id for one event: 1 to 128 characters of `A-Z a-z 0-9 . _ : -` (a ULID, UUID or
/// `<server>:<counter>` all fit). Unique per source: the dedupe key is source + event id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

/// Why a string is not an [`EventId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, got {len}")]
    TooLong { max: usize, len: usize },
    #[error("contains {found:?}; only letters, digits and . _ : - are allowed")]
    BadCharacter { found: char },
}

impl EventId {
    pub fn parse(s: &str) -> Result<Self, EventIdError> {
        if s.is_empty() {
            return Err(EventIdError::Empty);
        }
        if s.len() > MAX_EVENT_ID_LEN {
            return Err(EventIdError::TooLong { max: MAX_EVENT_ID_LEN, len: s.len() });
        }
        if let Some(found) =
            s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(EventIdError::BadCharacter { found });
        }
        Ok(EventId(s.to_string()))
    }

    /// An id for an event the connector makes itself (the reconciler's repairs) from a
    /// descriptive text: the text itself when it is a valid id, else made valid (other
    /// characters become `-`) and, when too long, cut and suffixed with a digest of the whole
    /// text, so two texts never share an id because they were cut alike.
    pub fn derived(text: &str) -> EventId {
        if let Ok(id) = EventId::parse(text) {
            return id;
        }
        let cleaned: String = text
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') { c } else { '-' })
            .collect();
        if cleaned.is_empty() {
            return EventId("derived".into());
        }
        use sha2::Digest as _;
        let digest = hex::encode(&sha2::Sha256::digest(text.as_bytes())[..8]);
        // Room for "-" and the 16 hex digits; the cleaned text is ASCII, so bytes are chars.
        let keep = cleaned.len().min(MAX_EVENT_ID_LEN - 1 - digest.len());
        EventId(format!("{}-{digest}", &cleaned[..keep]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for EventId {
    type Error = EventIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        EventId::parse(&s)
    }
}
impl From<EventId> for String {
    fn from(e: EventId) -> String {
        e.0
    }
}

/// Who sent the event: the `{source}` of `POST /webhooks/{source}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Otmm,
    Consonance,
    /// The connector itself: a follow-up the flow processor enqueued ([`FollowUpEvent`]).
    Connector,
}

impl Source {
    /// The senders of webhooks (`POST /webhooks/{source}`); the connector is not one.
    pub const ALL: [Source; 2] = [Source::Otmm, Source::Consonance];
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Otmm => "otmm",
            Source::Consonance => "consonance",
            Source::Connector => "connector",
        }
    }
}
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown source {s:?}; expected otmm or consonance"))
    }
}

// ---------------------------------------------------------------------------------------------
// Event types

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OtmmEventType {
    #[serde(rename = "asset.created")]
    AssetCreated,
    #[serde(rename = "asset.metadata_changed")]
    AssetMetadataChanged,
    #[serde(rename = "asset.approved")]
    AssetApproved,
    #[serde(rename = "asset.version_added")]
    AssetVersionAdded,
    #[serde(rename = "asset.deleted")]
    AssetDeleted,
}

impl OtmmEventType {
    pub const ALL: [OtmmEventType; 5] = [
        OtmmEventType::AssetCreated,
        OtmmEventType::AssetMetadataChanged,
        OtmmEventType::AssetApproved,
        OtmmEventType::AssetVersionAdded,
        OtmmEventType::AssetDeleted,
    ];
    pub const NAMES: [&'static str; 5] =
        ["asset.created", "asset.metadata_changed", "asset.approved", "asset.version_added", "asset.deleted"];
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConsonanceEventType {
    #[serde(rename = "work.changed")]
    WorkChanged,
    #[serde(rename = "product.changed")]
    ProductChanged,
}

impl ConsonanceEventType {
    pub const ALL: [ConsonanceEventType; 2] =
        [ConsonanceEventType::WorkChanged, ConsonanceEventType::ProductChanged];
    pub const NAMES: [&'static str; 2] = ["work.changed", "product.changed"];
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// An OTMM asset event, as posted by the publisher's OTMM event listener or middleware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtmmEvent {
    pub event_id: EventId,
    pub event_type: OtmmEventType,
    /// OTMM's own event id (e.g. 80008 metadata saved), when the listener knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otmm_event_id: Option<i64>,
    pub asset_id: AssetId,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
}

/// A Consonance change notification: a hint that a work or product changed. The flow
/// processor reads the current state from Consonance; the notification itself carries none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsonanceEvent {
    pub event_id: EventId,
    pub event_type: ConsonanceEventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_id: Option<WorkId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isbn: Option<Isbn13>,
    pub changed_at: DateTime<Utc>,
    /// Names of the changed fields, when the sender knows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// A validated inbound event. In JSON (inside [`FlowMessage`]) it carries a `source` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum InboundEvent {
    Otmm(OtmmEvent),
    Consonance(ConsonanceEvent),
    Connector(FollowUpEvent),
}

impl InboundEvent {
    pub fn source(&self) -> Source {
        match self {
            InboundEvent::Otmm(_) => Source::Otmm,
            InboundEvent::Consonance(_) => Source::Consonance,
            InboundEvent::Connector(_) => Source::Connector,
        }
    }
    pub fn event_id(&self) -> &EventId {
        match self {
            InboundEvent::Otmm(e) => &e.event_id,
            InboundEvent::Consonance(e) => &e.event_id,
            InboundEvent::Connector(e) => &e.event_id,
        }
    }
    pub fn event_type(&self) -> &'static str {
        match self {
            InboundEvent::Otmm(e) => e.event_type.as_str(),
            InboundEvent::Consonance(e) => e.event_type.as_str(),
            InboundEvent::Connector(e) => e.event_type(),
        }
    }
    /// When it happened at the sender.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            InboundEvent::Otmm(e) => e.occurred_at,
            InboundEvent::Consonance(e) => e.changed_at,
            InboundEvent::Connector(e) => e.requested_at,
        }
    }

    /// The idempotency key of this delivery: `intake#<source>#<event_id>`.
    ///
    /// Event ids are assigned by each sender, so they are only unique per source (an OTMM
    /// listener counter and a Consonance notifier may both send `"1"`): the source is part of
    /// the key. The body is not: a sender that retries may re-serialise the same event with
    /// other whitespace or key order, or re-sign it with a new timestamp, and that must still
    /// count as the same delivery. The content is compared separately ([`Self::payload_hash`]),
    /// so an event id reused for a different event is reported as a conflict, not dropped.
    pub fn dedupe_key(&self) -> String {
        dedupe_key(self.source(), self.event_id())
    }

    /// Hex SHA-256 of the event's canonical JSON (the typed event re-serialised: fixed key
    /// order, normalised ids and timestamps, unknown fields dropped). Equal for any two
    /// bodies that say the same thing; different when any accepted field differs.
    pub fn payload_hash(&self) -> String {
        // Serialising these types cannot fail: only strings, numbers and derived structs.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&canonical))
    }

    /// The body a sender would post for this event (the contract shape, without `source`).
    pub fn to_body(&self) -> Vec<u8> {
        let r = match self {
            InboundEvent::Otmm(e) => serde_json::to_vec(e),
            InboundEvent::Consonance(e) => serde_json::to_vec(e),
            InboundEvent::Connector(e) => serde_json::to_vec(e),
        };
        r.unwrap_or_default()
    }
}

pub fn dedupe_key(source: Source, event_id: &EventId) -> String {
    format!("intake#{source}#{event_id}")
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a body was refused. Each variant names the field (dotted for nested ones: `actor.user_id`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("body is not valid JSON at line {line}, column {column}: {message}")]
    InvalidJson { line: usize, column: usize, message: String },
    #[error("body must be a JSON object, got {found}")]
    NotAnObject { found: &'static str },
    #[error("field {field} is required")]
    MissingField { field: String },
    #[error("field {field} {message}")]
    InvalidField { field: String, message: String },
    #[error("field event_type: unknown event type {value:?}; accepted: {}", accepted.join(", "))]
    UnknownEventType { value: String, accepted: &'static [&'static str] },
}

impl EventError {
    /// Machine-readable code: `invalid_json`, `invalid_body`, `missing_field`, `invalid_field`.
    pub fn code(&self) -> &'static str {
        match self {
            EventError::InvalidJson { .. } => "invalid_json",
            EventError::NotAnObject { .. } => "invalid_body",
            EventError::MissingField { .. } => "missing_field",
            EventError::InvalidField { .. } | EventError::UnknownEventType { .. } => "invalid_field",
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            EventError::MissingField { field } | EventError::InvalidField { field, .. } => Some(field),
            EventError::UnknownEventType { .. } => Some("event_type"),
            _ => None,
        }
    }

    /// The HTTP response body: `{"error", "field"?, "message", ...details}`.
    pub fn to_json(&self) -> Value {
        let mut body = json!({ "error": self.code() });
        if let Some(field) = self.field() {
            body["field"] = json!(field);
        }
        match self {
            EventError::InvalidJson { line, column, message } => {
                body["message"] = json!(format!("not valid JSON: {message}"));
                body["line"] = json!(line);
                body["column"] = json!(column);
            }
            EventError::MissingField { field } => {
                body["message"] = json!(format!("field {field} is required"))
            }
            EventError::InvalidField { message, .. } => body["message"] = json!(message),
            EventError::UnknownEventType { value, accepted } => {
                body["message"] =
                    json!(format!("unknown event type {value:?}; accepted: {}", accepted.join(", ")));
                body["accepted"] = json!(accepted);
            }
            EventError::NotAnObject { .. } => body["message"] = json!(self.to_string()),
        }
        body
    }
}

fn invalid(field: &str, message: impl Into<String>) -> EventError {
    EventError::InvalidField { field: field.to_string(), message: message.into() }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// A JSON object with the path prefix of its fields, for error messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> Obj<'a> {
    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_string() } else { format!("{}.{key}", self.prefix) }
    }
    /// The value, with `null` read as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }
    fn required(&self, key: &str) -> Result<&'a Value, EventError> {
        self.get(key).ok_or_else(|| EventError::MissingField { field: self.name(key) })
    }
    fn string(&self, v: &'a Value, key: &str) -> Result<&'a str, EventError> {
        v.as_str().ok_or_else(|| invalid(&self.name(key), format!("must be a string, got {}", kind(v))))
    }
    fn required_str(&self, key: &str) -> Result<&'a str, EventError> {
        self.string(self.required(key)?, key)
    }
    fn optional_str(&self, key: &str) -> Result<Option<&'a str>, EventError> {
        self.get(key).map(|v| self.string(v, key)).transpose()
    }
    fn text(&self, key: &str, s: &str) -> Result<(), EventError> {
        if s.chars().count() > MAX_TEXT_LEN {
            return Err(invalid(&self.name(key), format!("must be at most {MAX_TEXT_LEN} characters")));
        }
        Ok(())
    }
    fn timestamp(&self, key: &str) -> Result<DateTime<Utc>, EventError> {
        let s = self.required_str(key)?;
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| {
            invalid(
                &self.name(key),
                format!("must be an RFC 3339 timestamp such as 2026-03-01T09:30:00Z ({e})"),
            )
        })
    }
    /// A positive integer: a JSON integer, or a string of digits.
    fn positive_id(&self, key: &str) -> Result<Option<i64>, EventError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(invalid(&self.name(key), format!("must be a positive integer, got {v}"))),
        }
    }
}

fn event_id(o: &Obj<'_>) -> Result<EventId, EventError> {
    EventId::parse(o.required_str("event_id")?).map_err(|e| invalid("event_id", e.to_string()))
}

/// Parses a webhook body from `source` into a validated event.
pub fn parse_event(source: Source, body: &[u8]) -> Result<InboundEvent, EventError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| EventError::InvalidJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let Value::Object(map) = &value else { return Err(EventError::NotAnObject { found: kind(&value) }) };
    let o = Obj { map, prefix: "" };
    match source {
        Source::Otmm => parse_otmm(&o).map(InboundEvent::Otmm),
        Source::Consonance => parse_consonance(&o).map(InboundEvent::Consonance),
        // Its follow-ups go straight to the queue: no webhook may post one.
        Source::Connector => Err(invalid("source", "connector is not a webhook source")),
    }
}

fn event_type<T: Copy>(o: &Obj<'_>, all: &[T], names: &'static [&'static str]) -> Result<T, EventError> {
    let s = o.required_str("event_type")?;
    names
        .iter()
        .position(|n| *n == s)
        .map(|i| all[i])
        .ok_or_else(|| EventError::UnknownEventType { value: s.to_string(), accepted: names })
}

fn parse_otmm(o: &Obj<'_>) -> Result<OtmmEvent, EventError> {
    let event_id = event_id(o)?;
    let event_type = event_type(o, &OtmmEventType::ALL, &OtmmEventType::NAMES)?;
    let otmm_event_id = match o.get("otmm_event_id") {
        None => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            invalid("otmm_event_id", format!("must be an integer (OTMM's event id, e.g. 80008), got {v}"))
        })?),
    };
    let asset_id = AssetId::parse(o.required_str("asset_id")?)
        .map_err(|_| invalid("asset_id", "must be 40 hexadecimal characters"))?;
    let version = {
        let v = o.required("version")?;
        v.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= 1).ok_or_else(|| {
            invalid("version", format!("must be an integer from 1 to {}, got {v}", u32::MAX))
        })?
    };
    let occurred_at = o.timestamp("occurred_at")?;
    let actor_value = o.required("actor")?;
    let Value::Object(actor_map) = actor_value else {
        return Err(invalid(
            "actor",
            format!("must be an object with user_id and name, got {}", kind(actor_value)),
        ));
    };
    let a = Obj { map: actor_map, prefix: "actor" };
    let user_id = a.required_str("user_id")?;
    if user_id.trim().is_empty() {
        return Err(invalid("actor.user_id", "must not be empty"));
    }
    a.text("user_id", user_id)?;
    let name = a.optional_str("name")?;
    if let Some(n) = name {
        a.text("name", n)?;
    }
    Ok(OtmmEvent {
        event_id,
        event_type,
        otmm_event_id,
        asset_id,
        version,
        occurred_at,
        actor: Actor { user_id: user_id.to_string(), name: name.map(str::to_string) },
    })
}

fn parse_consonance(o: &Obj<'_>) -> Result<ConsonanceEvent, EventError> {
    let event_id = event_id(o)?;
    let event_type = event_type(o, &ConsonanceEventType::ALL, &ConsonanceEventType::NAMES)?;
    let work_id = o.positive_id("work_id")?.map(WorkId);
    let product_id = o.positive_id("product_id")?.map(ProductId);
    let isbn = o
        .optional_str("isbn")?
        .map(|s| Isbn13::parse(s).map_err(|e| invalid("isbn", format!("is not a valid ISBN: {e}"))))
        .transpose()?;
    if work_id.is_none() && product_id.is_none() && isbn.is_none() {
        return Err(EventError::MissingField { field: "work_id|product_id|isbn".into() });
    }
    let changed_at = o.timestamp("changed_at")?;
    let fields = match o.get("fields") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_CHANGED_FIELDS {
                return Err(invalid("fields", format!("must have at most {MAX_CHANGED_FIELDS} entries")));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let name = format!("fields[{i}]");
                let s = item
                    .as_str()
                    .ok_or_else(|| invalid(&name, format!("must be a string, got {}", kind(item))))?;
                if s.is_empty() || s.chars().count() > MAX_TEXT_LEN {
                    return Err(invalid(&name, format!("must be 1 to {MAX_TEXT_LEN} characters")));
                }
                out.push(s.to_string());
            }
            out
        }
        Some(v) => {
            return Err(invalid("fields", format!("must be an array of field names, got {}", kind(v))));
        }
    };
    Ok(ConsonanceEvent { event_id, event_type, work_id, product_id, isbn, changed_at, fields })
}

// ---------------------------------------------------------------------------------------------
// The queue message

/// Version of [`FlowMessage`]'s shape; a consumer refuses other versions.
pub const FLOW_MESSAGE_SCHEMA: u32 = 1;

/// The SQS message body the intake sends for each accepted event, and the flow processor reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowMessage {
    pub schema: u32,
    pub event_id: EventId,
    pub source: Source,
    /// When the intake accepted it.
    pub received_at: DateTime<Utc>,
    /// Carried into every log line and audit record of the flow it starts.
    pub correlation_id: String,
    pub event: InboundEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowMessageError {
    #[error("flow message is not valid: {0}")]
    Invalid(String),
    #[error("flow message schema {found} is not supported; this build reads schema {FLOW_MESSAGE_SCHEMA}")]
    Schema { found: u32 },
    #[error("flow message says {field} {outer:?} but its event says {inner:?}")]
    Inconsistent { field: &'static str, outer: String, inner: String },
}

impl FlowMessage {
    pub fn new(event: InboundEvent, received_at: DateTime<Utc>, correlation_id: impl Into<String>) -> Self {
        FlowMessage {
            schema: FLOW_MESSAGE_SCHEMA,
            event_id: event.event_id().clone(),
            source: event.source(),
            received_at,
            correlation_id: correlation_id.into(),
            event,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail (see `InboundEvent::payload_hash`).
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a queue body, checking the schema version and that the envelope agrees with the event.
    pub fn from_json(body: &str) -> Result<Self, FlowMessageError> {
        let schema = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("schema").and_then(Value::as_u64))
            .and_then(|n| u32::try_from(n).ok());
        if let Some(found) = schema.filter(|s| *s != FLOW_MESSAGE_SCHEMA) {
            return Err(FlowMessageError::Schema { found });
        }
        let m: FlowMessage =
            serde_json::from_str(body).map_err(|e| FlowMessageError::Invalid(e.to_string()))?;
        if m.source != m.event.source() {
            return Err(FlowMessageError::Inconsistent {
                field: "source",
                outer: m.source.to_string(),
                inner: m.event.source().to_string(),
            });
        }
        if &m.event_id != m.event.event_id() {
            return Err(FlowMessageError::Inconsistent {
                field: "event_id",
                outer: m.event_id.to_string(),
                inner: m.event.event_id().to_string(),
            });
        }
        Ok(m)
    }
}

/// The source a queue body says it is from, read without the rest of the message (a drain's
/// report counts the connector's follow-ups apart). `None` when the body is no flow message.
pub fn source_of(body: &str) -> Option<Source> {
    #[derive(Deserialize)]
    struct Envelope {
        source: Source,
    }
    serde_json::from_str::<Envelope>(body).ok().map(|e| e.source)
}

#[cfg(test)]
mod tests;
