//! The fuzz targets' bodies: everything the connector parses from outside, as functions of
//! arbitrary bytes that must never panic and must keep their contract. `fuzz_targets/*.rs`
//! (cargo-fuzz, libFuzzer) call them; `tests/tests/fuzz_smoke.rs` runs them over the seed corpus
//! and every crash input kept in `fuzz/regressions/` in the normal suite. See docs/FUZZING.md.
//!
//! Each input is split by [`Input`] into a few fields (a selector byte, short strings, the
//! rest as a body), so one byte string drives headers and body together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_store::{Claim, Idempotency, IdempotencyTtl, Queue, QueueDepth, QueueMessage, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reads fields off the front of a byte string; what is left is the body.
pub struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input(data)
    }
    pub fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }
    /// Up to the next 0xFF (not included), as lossy UTF-8.
    pub fn text(&mut self) -> String {
        let end = self.0.iter().position(|b| *b == 0xFF).unwrap_or(self.0.len());
        let text = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = self.0.get(end + 1..).unwrap_or(&[]);
        text
    }
    pub fn rest(self) -> &'a [u8] {
        self.0
    }
}

const SECRET: &[u8] = b"fuzzing-webhook-secret-0123456789";

/// Claims and a queue in memory, with the stores' semantics (payload hash checked).
#[derive(Default)]
struct Memory {
    claims: Mutex<HashMap<String, (Option<String>, bool)>>,
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl Idempotency for Memory {
    async fn claim(
        &self,
        key: &str,
        hash: Option<&str>,
        _: DateTime<Utc>,
        _: IdempotencyTtl,
    ) -> Result<Claim, StoreError> {
        let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        match claims.get(key) {
            Some((stored, _)) if hash.is_some() && stored.is_some() && stored.as_deref() != hash => {
                Err(StoreError::PayloadMismatch { key: key.into() })
            }
            Some((_, true)) => Ok(Claim::Completed { data: None }),
            Some((_, false)) => Ok(Claim::InProgress { until: Utc::now() }),
            None => {
                claims.insert(key.into(), (hash.map(str::to_string), false));
                Ok(Claim::Acquired)
            }
        }
    }
    async fn complete(
        &self,
        key: &str,
        _: Option<&str>,
        _: DateTime<Utc>,
        _: IdempotencyTtl,
    ) -> Result<(), StoreError> {
        if let Some(c) = self.claims.lock().unwrap_or_else(|p| p.into_inner()).get_mut(key) {
            c.1 = true;
        }
        Ok(())
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.claims.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        Ok(())
    }
}

#[async_trait]
impl Queue for Memory {
    async fn send(&self, body: &str) -> Result<String, StoreError> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(body.to_string());
        Ok("m".into())
    }
    async fn receive(&self, _: usize, _: Duration) -> Result<Vec<QueueMessage>, StoreError> {
        Ok(Vec::new())
    }
    async fn ack(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn retry_later(&self, _: &str, _: Duration) -> Result<(), StoreError> {
        Ok(())
    }
    async fn dead_letter(&self, _: &QueueMessage, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn dead_letters(&self, _: usize) -> Result<Vec<QueueMessage>, StoreError> {
        Ok(Vec::new())
    }
    async fn redrive(&self, _: Option<&[String]>) -> Result<usize, StoreError> {
        Ok(0)
    }
    async fn depth(&self) -> Result<QueueDepth, StoreError> {
        Ok(QueueDepth::default())
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
}

/// A webhook delivery: method, path, headers and body from the input, signed correctly when
/// the selector says so (so parsing past the signature is reached). The answer is always JSON
/// with a known status, an error code on refusals, and a queued message only on "accepted";
/// the same delivery twice is accepted once.
pub fn webhook(data: &[u8]) {
    use axum::body::Body;
    use axum::http::{HeaderValue, Request};
    use connector_web::intake::{self, IntakeDeps, Secret, Secrets};
    use tower::ServiceExt;
    let mut input = Input::new(data);
    let flags = input.byte();
    let content_type = input.text();
    let timestamp_text = input.text();
    let signature_text = input.text();
    let correlation = input.text();
    let content_length = input.text();
    let body = input.rest().to_vec();
    let now = Utc::now();
    let source = if flags & 1 == 0 { "otmm" } else { "consonance" };
    let method = if flags & 2 == 0 { "POST" } else { "PUT" };
    // Header values an HTTP request cannot carry (control characters) are left out, as a server
    // would refuse them before any handler runs.
    let mut headers = Vec::new();
    let mut header = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.push((name, value));
        }
    };
    header("content-type", if flags & 4 == 0 { "application/json".into() } else { content_type });
    let ts = if flags & 8 == 0 { now.timestamp().to_string() } else { timestamp_text };
    let signature = if flags & 16 == 0 {
        connector_core::signature::sign(SECRET, ts.trim().parse().unwrap_or(0), &body)
    } else {
        signature_text
    };
    header(connector_core::signature::TIMESTAMP_HEADER, ts);
    header(connector_core::signature::SIGNATURE_HEADER, signature);
    header("x-correlation-id", correlation);
    if flags & 32 != 0 {
        header("content-length", content_length);
    }
    let request = || {
        let mut req = Request::builder().method(method).uri(format!("/webhooks/{source}"));
        for (name, value) in &headers {
            req = req.header(*name, value.clone());
        }
        req.body(Body::from(body.clone())).expect("a valid request")
    };
    let memory = Arc::new(Memory::default());
    let secret = || Secret::new(SECRET.to_vec()).expect("long enough");
    let secrets = Secrets::new()
        .with(connector_core::event::Source::Otmm, secret())
        .with(connector_core::event::Source::Consonance, secret());
    let mut deps = IntakeDeps::new(memory.clone(), memory.clone(), secrets);
    deps.duplicate_wait = Duration::ZERO;
    let router = intake::router(Arc::new(deps));
    let answer = |req: Request<Body>| {
        let router = router.clone();
        async move {
            let resp = router.oneshot(req).await.expect("infallible");
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("a body");
            let body: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON body");
            (status, body)
        }
    };
    RUNTIME.with(|rt| {
        let first = rt.block_on(answer(request()));
        assert!([202, 400, 401, 404, 405, 409, 413, 415].contains(&first.0), "{first:?}");
        assert!(first.0 == 202 || first.1["error"].is_string(), "{first:?}");
        let queued = memory.sent.lock().unwrap_or_else(|p| p.into_inner()).len();
        assert_eq!(queued, usize::from(first.1["status"] == "accepted"), "{first:?}");
        if first.0 == 202 {
            let again = rt.block_on(answer(request()));
            assert_eq!((again.0, &again.1["status"]), (202, &serde_json::json!("duplicate")), "{again:?}");
            assert_eq!(memory.sent.lock().unwrap_or_else(|p| p.into_inner()).len(), 1);
        }
    });
}

/// An OTMM answer (status from the first two bytes, then the body), decoded as the client does:
/// no panic; a 2xx body that is not JSON is unreadable (transient); only OTMM's own error body
/// makes a non-transient status a verdict.
pub fn otmm_answer(data: &[u8]) {
    let mut input = Input::new(data);
    let status = 100 + (u16::from(input.byte()) << 8 | u16::from(input.byte())) % 500;
    let body = input.rest();
    match otmm_client::decode_asset_answer(status, None, body) {
        Ok(asset) => {
            assert!((200..300).contains(&status));
            let _ = asset.field_str("CUSTOM.FIELD.ISBN");
        }
        Err(e) => {
            let json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
            if (200..300).contains(&status) && !json {
                assert!(matches!(e, otmm_client::OtmmError::Unreadable { .. }) && e.is_transient(), "{e:?}");
            }
            if connector_http::fault::status_is_transient(status) {
                assert!(e.is_transient(), "{status}: {e:?}");
            }
            let _ = e.to_string();
        }
    }
}

/// A Consonance GraphQL answer decoded, then its data read into the client's types: no panic,
/// and the same table as OTMM's (a body that is no GraphQL envelope is unreadable).
pub fn consonance_answer(data: &[u8]) {
    let mut input = Input::new(data);
    let status = 100 + (u16::from(input.byte()) << 8 | u16::from(input.byte())) % 500;
    let body = input.rest();
    match consonance_client::decode_answer("fuzz", status, None, body) {
        Ok(data) => {
            assert!((200..300).contains(&status));
            use consonance_client::{Product, SupportingResource, Work, decode_field};
            let _ =
                decode_field::<Work>("fuzz", &mut data.clone(), "work").map(|w| w.map(|w| w.products.len()));
            let _ = decode_field::<Product>("fuzz", &mut data.clone(), "product")
                .map(|p| p.map(|p| (p.isbn13(), p.sales_rights())));
            let _ = decode_field::<Vec<Work>>("fuzz", &mut data.clone(), "works");
            let _ = decode_field::<Vec<SupportingResource>>("fuzz", &mut data.clone(), "supportingResources");
        }
        Err(e) => {
            if (200..300).contains(&status) && serde_json::from_slice::<serde_json::Value>(body).is_err() {
                assert!(matches!(e, consonance_client::ConsonanceError::Unreadable { .. }), "{e:?}");
            }
            if connector_http::fault::status_is_transient(status) {
                assert!(e.is_transient(), "{status}: {e:?}");
            }
            let _ = (e.to_string(), e.retry_after(), e.write_outcome_unknown());
        }
    }
}

/// A mapping config (TOML): loads or is refused with an error naming the source; never panics.
pub fn mapping_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match connector_core::config::MappingConfig::from_toml_str(&text, "fuzz.toml") {
        Ok(config) => {
            let _ = config.role_for("Front Cover");
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
    }
}
