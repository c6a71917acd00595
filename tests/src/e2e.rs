//! End-to-end harness: both simulators over HTTP, the webhook intake served by the local
//! runner's router, and the flow processor, on embedded state or on moto.

use connector::{SIM_WEBHOOK_SECRET, Simulators, app_from_env, http, intake_deps, worker};
use connector_app::{App, Settings};
use connector_core::signature::sign;
use connector_sim::catalogue::{Catalogue, fixture_now};
use connector_store::Stores;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Moto,
}

pub struct Harness {
    pub app: App,
    pub sims: Simulators,
    pub catalogue: Catalogue,
    /// `http://127.0.0.1:<port>`: the local intake.
    pub intake_url: String,
    _dir: Option<tempfile::TempDir>,
}

/// Receives before the DLQ in end-to-end tests: the production default, so a loaded machine's
/// slow retries do not dead-letter good events.
pub const MAX_RECEIVES: u32 = 5;

/// Settings for tests: quick retries.
pub fn test_settings() -> Settings {
    Settings {
        max_receives: MAX_RECEIVES,
        retry_delay: Duration::from_millis(100),
        contention_delay: Duration::from_millis(10),
        ..Settings::default()
    }
}

pub async fn stores(backend: Backend, name: &str) -> (Stores, Option<tempfile::TempDir>) {
    match backend {
        Backend::Embedded => {
            let dir = tempfile::Builder::new().prefix(&format!("e2e-{name}-")).tempdir().expect("temp dir");
            (connector::open_state(dir.path(), MAX_RECEIVES).expect("embedded state"), Some(dir))
        }
        Backend::Moto => {
            let overrides = crate::aws::Overrides { max_receive_count: Some(MAX_RECEIVES) };
            (crate::aws::stores_with(name, overrides).await.0, None)
        }
    }
}

impl Harness {
    /// A catalogue of `titles` works in both simulators, OTMM posting to the intake.
    pub async fn start(backend: Backend, name: &str, titles: usize) -> Harness {
        Harness::start_with(backend, name, Catalogue::generate(titles, 11, fixture_now())).await
    }

    /// Both simulators seeded with `catalogue`, OTMM posting to the intake.
    pub async fn start_with(backend: Backend, name: &str, catalogue: Catalogue) -> Harness {
        Harness::start_custom(backend, name, catalogue, Default::default(), Default::default(), None).await
    }

    /// With the simulators' options (schema variant, search ids) and a mapping config of the
    /// test's own (the example when `None`).
    pub async fn start_custom(
        backend: Backend,
        name: &str,
        catalogue: Catalogue,
        otmm: connector_sim::otmm::OtmmSimOptions,
        consonance: connector_sim::consonance::ConsonanceSimOptions,
        mapping: Option<Arc<connector_core::config::MappingConfig>>,
    ) -> Harness {
        let (stores, dir) = stores(backend, name).await;
        let deps = intake_deps(&stores, SIM_WEBHOOK_SECRET, Some(SIM_WEBHOOK_SECRET)).expect("secrets");
        let addr = http::spawn(http::router(Arc::new(deps)), "127.0.0.1:0").await.expect("intake server");
        let intake_url = format!("http://{addr}");
        let sims = Simulators::start_with(
            &catalogue,
            Some(format!("{intake_url}/webhooks/otmm")),
            SIM_WEBHOOK_SECRET,
            otmm,
            consonance,
        )
        .await;
        let env: BTreeMap<String, String> = sims.env().into_iter().collect();
        let app = app_from_env(stores, &|k: &str| env.get(k).cloned(), mapping, Some(test_settings()))
            .expect("app");
        Harness { app, sims, catalogue, intake_url, _dir: dir }
    }

    /// Processes until the queue is idle (transient retries included).
    pub async fn drain(&self) -> worker::DrainReport {
        worker::drain(&self.app, Duration::from_secs(60), |_| {}).await.expect("drain")
    }

    /// The external calls logged so far by system, method and path (ids as `{id}`), most
    /// first: where a call count comes from (the flow bench prints it; the call budget test
    /// with `BUDGET_DESCRIBE`).
    pub fn calls_by_path(&self) -> Vec<(String, usize)> {
        let mut by: std::collections::BTreeMap<String, usize> = Default::default();
        for (system, faults) in
            [("otmm", self.sims.otmm.faults()), ("consonance", self.sims.consonance.faults())]
        {
            for r in faults.requests() {
                let path: Vec<&str> = r
                    .path
                    .split('/')
                    .map(|seg| {
                        if seg.len() >= 20 && seg.chars().all(|c| c.is_ascii_hexdigit()) {
                            "{id}"
                        } else {
                            seg
                        }
                    })
                    .collect();
                *by.entry(format!("{system} {} {}", r.method, path.join("/"))).or_default() += 1;
            }
        }
        let mut rows: Vec<(String, usize)> = by.into_iter().collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    }

    /// Waits for `n` webhook deliveries in total, then drains.
    pub async fn deliver_and_drain(&self, n: usize) -> worker::DrainReport {
        let delivered = self.sims.otmm.wait_for_deliveries(n, Duration::from_secs(30)).await;
        assert!(delivered.len() >= n, "expected {n} webhook deliveries, got {}", delivered.len());
        self.drain().await
    }

    /// Posts `body` to the intake again, signed now with the simulators' secret (what OTMM's
    /// listener does on a retry); answers the intake's status.
    pub async fn redeliver(&self, client: &reqwest::Client, body: &str) -> reqwest::StatusCode {
        let ts = chrono::Utc::now().timestamp();
        client
            .post(format!("{}/webhooks/otmm", self.intake_url))
            .header("content-type", "application/json")
            .header("x-signature-timestamp", ts.to_string())
            .header("x-signature-256", sign(SIM_WEBHOOK_SECRET.as_bytes(), ts, body.as_bytes()))
            .body(body.to_string())
            .send()
            .await
            .expect("intake")
            .status()
    }
}
