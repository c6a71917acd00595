//! Decoding answers: the GraphQL envelope, HTTP statuses, GraphQL `errors` and a mutation
//! payload's own `errors`, each mapped to one [`ConsonanceError`].

use super::*;

#[derive(Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub(super) data: Option<Value>,
    #[serde(default)]
    pub(super) errors: Option<Vec<GraphqlError>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GraphqlError {
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) path: Option<Vec<Value>>,
    #[serde(default)]
    pub(super) extensions: Option<Value>,
}

pub(super) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let t: String = text.chars().take(200).collect();
    if text.chars().count() > 200 { format!("{t}…") } else { t }
}

/// Maps GraphQL `errors` (HTTP 200) to one error. Codes are read from `extensions.code` when
/// present (graphql-ruby sets none by default, so messages are also looked at).
pub(super) fn map_graphql_errors(operation: &'static str, errors: &[GraphqlError]) -> ConsonanceError {
    let message =
        errors.iter().map(|e| e.message.as_str()).filter(|m| !m.is_empty()).collect::<Vec<_>>().join("; ");
    let message = if message.is_empty() { "GraphQL error without a message".to_string() } else { message };
    let code = errors
        .iter()
        .find_map(|e| e.extensions.as_ref()?.get("code")?.as_str().map(str::to_ascii_uppercase))
        .unwrap_or_default();
    let path = errors.iter().find_map(|e| {
        let p = e.path.as_ref()?;
        Some(
            p.iter()
                .map(|s| s.as_str().map(str::to_string).unwrap_or_else(|| s.to_string()))
                .collect::<Vec<_>>()
                .join("."),
        )
    });
    let lower = message.to_lowercase();
    match code.as_str() {
        "UNAUTHORIZED" | "UNAUTHENTICATED" | "FORBIDDEN" => {
            ConsonanceError::Unauthorized { operation, message }
        }
        "NOT_FOUND" => ConsonanceError::NotFound { operation, what: message },
        "RATE_LIMITED" | "THROTTLED" | "TOO_MANY_REQUESTS" => {
            ConsonanceError::Transient { operation, status: 429, retry_after: None }
        }
        _ if lower.contains("not authorized") || lower.contains("unauthorized") => {
            ConsonanceError::Unauthorized { operation, message }
        }
        _ if code.is_empty() && lower.contains("not found") => {
            ConsonanceError::NotFound { operation, what: message }
        }
        _ => ConsonanceError::Validation { operation, message, path },
    }
}

pub(super) fn retry_after_of(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    connector_http::parse_retry_after(v, std::time::SystemTime::now())
}

/// Maps a non-2xx status to an error; `body` gives the message where there is one. Only
/// Consonance's own error body (GraphQL `errors`, or REST's `error`) makes a verdict of a status
/// that is not transient: the same 400 or 404 as an HTML page comes from something in front of
/// Consonance ([`connector_http::fault::answer_fault`]).
pub fn map_status(
    operation: &'static str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ConsonanceError {
    let graphql = envelope_of(body)
        .ok()
        .and_then(|e| e.errors)
        .map(|es| es.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; "));
    let rest = || serde_json::from_slice::<Value>(body).ok()?.get("error")?.as_str().map(str::to_string);
    let own = graphql.or_else(rest);
    let shaped = own.is_some();
    let message = own.filter(|m| !m.is_empty()).unwrap_or_else(|| snippet(body));
    match connector_http::fault::answer_fault(status, shaped) {
        FaultKind::Status(_) => ConsonanceError::Transient { operation, status, retry_after },
        FaultKind::Unreadable => ConsonanceError::Unreadable { operation, status: Some(status), message },
        _ if matches!(status, 401 | 403) => ConsonanceError::Unauthorized { operation, message },
        _ => ConsonanceError::Rejected { operation, status, message },
    }
}

/// The body as a GraphQL envelope, only if it is valid JSON throughout: parsing straight into
/// [`Envelope`] skips the fields it ignores without checking them, so a body garbled in transit
/// (invalid UTF-8 in an unknown field) would pass as an answer (found by fuzzing; the input is
/// kept in `fuzz/regressions/consonance_answer/`).
pub(super) fn envelope_of(body: &[u8]) -> Result<Envelope, serde_json::Error> {
    serde_json::from_slice::<Value>(body).and_then(serde_json::from_value)
}

/// One whole GraphQL answer (status and body as read): its `data`, or what the answer means.
/// A body that is not a GraphQL envelope (cut short, an HTML page, JSON with neither `data` nor
/// `errors`) is [`ConsonanceError::Unreadable`]; GraphQL `errors` are Consonance's verdict.
pub fn decode_answer(
    operation: &'static str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<Value, ConsonanceError> {
    if !(200..300).contains(&status) {
        return Err(map_status(operation, status, retry_after, body));
    }
    let envelope: Envelope = envelope_of(body).map_err(|e| ConsonanceError::Unreadable {
        operation,
        status: None,
        message: format!("response is not GraphQL JSON ({e}); body starts {:?}", snippet(body)),
    })?;
    if let Some(errors) = envelope.errors.filter(|e| !e.is_empty()) {
        return Err(map_graphql_errors(operation, &errors));
    }
    match envelope.data {
        Some(Value::Object(map)) => Ok(Value::Object(map)),
        _ => Err(ConsonanceError::Unreadable {
            operation,
            status: None,
            message: format!("response has neither data nor errors; body starts {:?}", snippet(body)),
        }),
    }
}

pub(super) fn decode<T: DeserializeOwned>(
    operation: &'static str,
    what: &str,
    value: Value,
) -> Result<T, ConsonanceError> {
    serde_path_to_error::deserialize(value).map_err(|e| ConsonanceError::Protocol {
        operation,
        message: format!("{what} at {}: {}", e.path(), e.inner()),
    })
}

/// The field `name` of a GraphQL answer's `data` (from [`decode_answer`]), decoded into the
/// client's type; `None` when it is null. A missing field or another shape is
/// [`ConsonanceError::Protocol`] naming the JSON path (a contract mismatch).
pub fn decode_field<T: DeserializeOwned>(
    operation: &'static str,
    data: &mut Value,
    name: &str,
) -> Result<Option<T>, ConsonanceError> {
    match data.get_mut(name).map(Value::take) {
        None => Err(ConsonanceError::Protocol { operation, message: format!("data has no field {name:?}") }),
        Some(Value::Null) => Ok(None),
        Some(v) => decode(operation, name, v).map(Some),
    }
}

/// A mutation payload's own `errors` as one error: `NotFound` when a message says so, else
/// `Validation` naming the field. `errors` may list `{field|attribute|path, message|messages}`
/// (the official examples use all of these spellings).
pub(super) fn payload_error(operation: &'static str, payload: &Value) -> Option<ConsonanceError> {
    let errors = payload.get("errors")?.as_array().filter(|e| !e.is_empty())?;
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    };
    let mut parts = Vec::new();
    let mut first_field = None;
    for e in errors {
        let field = text(e.get("field").or_else(|| e.get("attribute")).or_else(|| e.get("path")));
        let message = text(e.get("message").or_else(|| e.get("messages"))).unwrap_or_else(|| e.to_string());
        if first_field.is_none() {
            first_field = field.clone();
        }
        parts.push(match field {
            Some(f) => format!("{f}: {message}"),
            None => message,
        });
    }
    let message = parts.join("; ");
    let lower = message.to_lowercase();
    if lower.contains("not found") || lower.contains("couldn't find") || lower.contains("does not exist") {
        return Some(ConsonanceError::NotFound { operation, what: message });
    }
    Some(ConsonanceError::Validation { operation, message, path: first_field })
}
