//! Webhook emission: the connector's OTMM event contract, signed with
//! `connector_core::signature::sign`, delivered in order by one worker with a few retries.

use connector_core::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// Where the simulator posts its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: String,
}

/// One event of the connector's inbound OTMM contract (see docs/ and API-NOTES "Events").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtmmEvent {
    pub event_id: String,
    /// `asset.approved`, `asset.version_added`, `asset.metadata_changed`, `asset.deleted`.
    pub event_type: String,
    /// The OTMM event id a server-side listener would have seen (80008 metadata edited and
    /// saved, 2229145 asset created); absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otmm_event_id: Option<u64>,
    pub asset_id: String,
    pub version: u32,
    pub occurred_at: String,
    pub actor: EventActor,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventActor {
    pub user_id: String,
    pub name: String,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookDelivery {
    pub event_id: String,
    pub event_type: String,
    pub asset_id: String,
    pub version: u32,
    pub attempts: u32,
    /// Status of the last attempt, if it got a response.
    pub last_status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    /// The exact body that was signed and sent.
    pub body: String,
}

#[derive(Default)]
pub(crate) struct DeliveryLog {
    pub(crate) entries: Mutex<Vec<WebhookDelivery>>,
    pub(crate) changed: Notify,
}

impl DeliveryLog {
    pub(crate) fn snapshot(&self) -> Vec<WebhookDelivery> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

const ATTEMPTS: u32 = 4;

/// Delivers events one by one, in order, until the channel closes.
pub(crate) async fn worker(
    target: Option<WebhookTarget>,
    mut rx: mpsc::UnboundedReceiver<OtmmEvent>,
    log: Arc<DeliveryLog>,
) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
    while let Some(event) = rx.recv().await {
        let Some(target) = &target else { continue };
        let body = serde_json::to_string(&event).unwrap_or_default();
        let mut delivery = WebhookDelivery {
            event_id: event.event_id.clone(),
            event_type: event.event_type.clone(),
            asset_id: event.asset_id.clone(),
            version: event.version,
            attempts: 0,
            last_status: None,
            error: None,
            delivered: false,
            body: body.clone(),
        };
        let mut pause = Duration::from_millis(100);
        while delivery.attempts < ATTEMPTS && !delivery.delivered {
            if delivery.attempts > 0 {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            delivery.attempts += 1;
            let ts = chrono::Utc::now().timestamp();
            let sig = sign(target.secret.as_bytes(), ts, body.as_bytes());
            let result = client
                .post(&target.url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, sig)
                .header(TIMESTAMP_HEADER, ts.to_string())
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(resp) => {
                    let status = resp.status();
                    delivery.last_status = Some(status.as_u16());
                    delivery.delivered = status.is_success();
                    delivery.error = (!status.is_success()).then(|| format!("receiver answered {status}"));
                }
                Err(e) => delivery.error = Some(e.to_string()),
            }
        }
        tracing::info!(
            event_id = %delivery.event_id,
            event_type = %delivery.event_type,
            delivered = delivery.delivered,
            attempts = delivery.attempts,
            "otmm sim webhook delivery"
        );
        log.entries.lock().unwrap_or_else(|p| p.into_inner()).push(delivery);
        log.changed.notify_waiters();
    }
}
