//! Every fault the simulators can inject (`connector_sim::faults::Fault`), through the real
//! clients and adapters, classified by what it means (`connector_http::fault`): the failures of
//! the path (throttling, 5xx, timeouts, bodies cut short or replaced by an HTML page, stalled
//! bodies) are transient, so the processor retries them; the system's own well-formed "no" is
//! permanent. A table over the fault kinds and a property over every status, on both systems.

use connector_app::adapters::{ConsonancePms, OtmmDam};
use connector_app::systems::{Dam, Pms, ResourceRequest, SystemError};
use connector_core::{AssetId, Isbn13, ProductId, WorkId};
use connector_http::HttpPolicy;
use connector_sim::catalogue::{Catalogue, fixture_now};
use connector_sim::faults::Fault;
use consonance_client::{ConsonanceClient, ConsonanceConfig};
use otmm_client::{OtmmAuth, OtmmClient, OtmmConfig};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT_MS: u64 = 300;

struct Systems {
    sims: connector::Simulators,
    catalogue: Catalogue,
    dam: OtmmDam,
    pms: ConsonancePms,
}

fn policy() -> HttpPolicy {
    HttpPolicy {
        request_timeout_ms: TIMEOUT_MS,
        base_backoff_ms: 2,
        max_backoff_ms: 10,
        max_retry_after_ms: 20,
        requests_per_second: 0.0,
        ..HttpPolicy::default()
    }
}

async fn systems() -> Systems {
    let catalogue = Catalogue::generate(3, 5, fixture_now());
    let sims = connector::Simulators::start(&catalogue, None, connector::SIM_WEBHOOK_SECRET).await;
    let mapping = Arc::new(connector_app::wiring::mapping_config(&|_| None).unwrap());
    let mut otmm = OtmmConfig::new(
        sims.otmm.base_url(),
        OtmmAuth::Session { username: sims.otmm.username().into(), password: sims.otmm.password().into() },
    );
    otmm.policy = policy();
    let dam = OtmmDam::new(OtmmClient::new(otmm).unwrap(), mapping, None);
    let key = connector_sim::consonance::ConsonanceSimOptions::default().api_key;
    let pms = ConsonancePms::new(
        ConsonanceClient::new(ConsonanceConfig {
            base_url: sims.consonance.base_url().into(),
            api_key: key,
            policy: policy(),
        })
        .unwrap(),
    );
    Systems { sims, catalogue, dam, pms }
}

impl Systems {
    fn asset(&self) -> AssetId {
        AssetId::parse(&self.catalogue.assets[0].versions[0].asset_id).unwrap()
    }
    fn isbn(&self) -> Isbn13 {
        Isbn13::parse(&self.catalogue.works[0].products[0].isbn13).unwrap()
    }
    /// Reads the asset from OTMM with `fault` on its route.
    async fn otmm_with(&self, fault: Fault) -> Result<(), SystemError> {
        let path = format!("/otmmapi/v6/assets/{}", self.asset());
        self.sims.otmm.faults().set(Some("GET"), &path, fault);
        let result = self.dam.asset(&self.asset()).await.map(|_| ());
        self.sims.otmm.faults().clear();
        result
    }
    /// Looks a title up in Consonance with `fault` on GraphQL.
    async fn consonance_with(&self, fault: Fault) -> Result<(), SystemError> {
        self.sims.consonance.faults().set(Some("POST"), "/graphql", fault);
        let result = self.pms.title_by_isbn(&self.isbn()).await.map(|_| ());
        self.sims.consonance.faults().clear();
        result
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Transient,
    Permanent,
}

fn outcome(r: &Result<(), SystemError>) -> Expect {
    match r {
        Ok(()) => Expect::Ok,
        Err(e) if e.is_transient() => Expect::Transient,
        Err(_) => Expect::Permanent,
    }
}

fn status(s: u16) -> Fault {
    Fault { error_rate: 1.0, status: Some(s), ..Default::default() }
}

/// Every kind of `Fault`, with what it must mean.
fn table() -> Vec<(&'static str, Fault, Expect)> {
    vec![
        (
            "latency within the timeout",
            Fault { latency_ms: TIMEOUT_MS / 3, ..Default::default() },
            Expect::Ok,
        ),
        (
            "latency past the timeout",
            Fault { latency_ms: TIMEOUT_MS * 2, ..Default::default() },
            Expect::Transient,
        ),
        ("429 with Retry-After", Fault { retry_after_secs: Some(0), ..status(429) }, Expect::Transient),
        ("500", status(500), Expect::Transient),
        ("502", status(502), Expect::Transient),
        ("503 with Retry-After", Fault { retry_after_secs: Some(0), ..status(503) }, Expect::Transient),
        ("504", status(504), Expect::Transient),
        (
            "fail_next past the in-call retries",
            Fault { fail_next: 50, status: Some(503), ..Default::default() },
            Expect::Transient,
        ),
        (
            "fail_next within the in-call retries",
            Fault { fail_next: 1, status: Some(503), ..Default::default() },
            Expect::Ok,
        ),
        ("truncated body", Fault { truncate_body: true, ..Default::default() }, Expect::Transient),
        (
            "an HTML page instead of JSON",
            Fault { invalid_json: true, ..Default::default() },
            Expect::Transient,
        ),
        (
            "a body that stalls past the timeout",
            Fault { slow_body_ms: TIMEOUT_MS * 2, ..Default::default() },
            Expect::Transient,
        ),
        ("a slow body within the timeout", Fault { slow_body_ms: 10, ..Default::default() }, Expect::Ok),
        // Once, then whole: asked again in the call, so one flaky answer does not send the
        // whole message back to the queue (the chaos run's receives ran out on these).
        (
            "a body that stalls past the timeout once",
            Fault { slow_body_ms: TIMEOUT_MS * 2, corrupt_next: 1, ..Default::default() },
            Expect::Ok,
        ),
        (
            "a truncated body once",
            Fault { truncate_body: true, corrupt_next: 1, ..Default::default() },
            Expect::Ok,
        ),
        (
            "an HTML page once",
            Fault { invalid_json: true, corrupt_next: 1, ..Default::default() },
            Expect::Ok,
        ),
        ("500 once", Fault { fail_next: 1, status: Some(500), ..Default::default() }, Expect::Ok),
        ("the system's own 400", status(400), Expect::Permanent),
        ("the system's own 404", status(404), Expect::Permanent),
        ("the system's own 422", status(422), Expect::Permanent),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injectable_fault_is_classified_by_what_it_means() {
    let s = systems().await;
    let mut wrong = Vec::new();
    for (name, fault, expect) in table() {
        let otmm = s.otmm_with(fault.clone()).await;
        if outcome(&otmm) != expect {
            wrong.push(format!("OTMM, {name}: expected {expect:?}, got {otmm:?}"));
        }
        let consonance = s.consonance_with(fault).await;
        if outcome(&consonance) != expect {
            wrong.push(format!("Consonance, {name}: expected {expect:?}, got {consonance:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // A throttled answer carries its Retry-After to the queue.
    let e = s.otmm_with(Fault { retry_after_secs: Some(7), ..status(429) }).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{e:?}");
    // Unknown asset and unknown ISBN are the systems' verdicts: not found, and no title.
    let missing = AssetId::parse("5effffffffffffffffffffffffffffffffffffff").unwrap();
    assert!(matches!(s.dam.asset(&missing).await, Err(SystemError::NotFound { .. })));
    assert_eq!(s.pms.title_by_isbn(&Isbn13::parse("9780306406157").unwrap()).await.unwrap(), None);
}

/// What a status injected in the system's own error shape must mean.
fn expected(system: &str, status: u16) -> Expect {
    let busy = system == "otmm" && matches!(status, 409 | 423);
    if connector_http::fault::status_is_transient(status) || busy {
        Expect::Transient
    } else {
        Expect::Permanent
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any error status, on either system: transient exactly when the status says "not now".
    #[test]
    fn any_status_means_what_the_table_says(code in 400u16..600, otmm in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let s = systems().await;
            let (system, got) = if otmm {
                ("otmm", s.otmm_with(status(code)).await)
            } else {
                ("consonance", s.consonance_with(status(code)).await)
            };
            prop_assert_eq!(outcome(&got), expected(system, code), "{} {}: {:?}", system, code, got);
            Ok(())
        })?;
    }
}

/// A create whose answer was lost, then another cover's create (`unlinkPrevious`) took its
/// products: the retry finds it by its marker, sees it links nothing it was made for, and makes
/// it again. And a version's create sweeps an emptied leftover of the same asset. (Both found by
/// the chaos run: a worker killed with a create in flight.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_resource_is_made_again_and_leftovers_of_the_asset_are_swept() {
    let s = systems().await;
    let work = &s.catalogue.works[0];
    let products: Vec<ProductId> = work.products.iter().map(|p| ProductId(p.product_id)).collect();
    let request = |lineage: &str, version: u32| ResourceRequest {
        work_id: WorkId(work.work_id),
        product_ids: products.clone(),
        resource_variant: "front_cover".into(),
        status: "approved".into(),
        dedupe_marker: format!("otmm:{lineage}:v{version}:p1"),
        unlink_previous: true,
        file_url: format!("https://staging.example/{lineage}-v{version}.jpg"),
        file_name: format!("{lineage}-v{version}.jpg"),
        mime_type: "image/jpeg".into(),
        caption: format!("front_cover [otmm:{lineage}:v{version}:p1]"),
        listed: None,
    };
    let (a, b) = ("5e00000000000000000000000000000000000042", "5e00000000000000000000000000000000000043");
    let live = |id: &str| {
        s.sims.consonance.supporting_resources(work.work_id).into_iter().find(|r| r.id.to_string() == id)
    };
    // Sweep: version 2 of asset a empties version 1's resource, which goes.
    let a1 = s.pms.ensure_resource(&request(a, 1)).await.unwrap();
    let a2 = s.pms.ensure_resource(&request(a, 2)).await.unwrap();
    assert!(live(&a1.id).is_none(), "the emptied leftover of the same asset is swept");
    // Repair: another cover (asset b) takes a2's products; a2 asked again is made again.
    let b1 = s.pms.ensure_resource(&request(b, 1)).await.unwrap();
    assert!(live(&a2.id).unwrap().product_ids.is_empty(), "b's create took a2's products");
    let again = s.pms.ensure_resource(&request(a, 2)).await.unwrap();
    assert_ne!(again.id, a2.id);
    assert!(live(&a2.id).is_none(), "the emptied one is deleted before it is made again");
    assert_eq!(live(&again.id).expect("made again").product_ids.len(), products.len());
    assert!(live(&b1.id).is_some(), "another asset's resource is the planner's to delete, not the sweep's");
    // Asked once more: found, intact, nothing created.
    let creates = s.sims.consonance.creates().creates.len();
    assert_eq!(s.pms.ensure_resource(&request(a, 2)).await.unwrap().id, again.id);
    assert_eq!(s.sims.consonance.creates().creates.len(), creates);
}

/// A stale approval's sweep (`Command::RemoveResourcesMarked`) deletes the resources carrying
/// its own version's marker and nothing else: not another version's (v1 against v10), not
/// another asset's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_versions_sweep_removes_only_its_own_marked_resources() {
    let s = systems().await;
    let work = &s.catalogue.works[0];
    let products: Vec<ProductId> = work.products.iter().map(|p| ProductId(p.product_id)).collect();
    let lineage = "5e00000000000000000000000000000000000051";
    let request = |version: u32| ResourceRequest {
        work_id: WorkId(work.work_id),
        product_ids: products.clone(),
        resource_variant: "marketing_banner".into(),
        status: "approved".into(),
        dedupe_marker: format!("otmm:{lineage}:v{version}:p1"),
        unlink_previous: false,
        file_url: format!("https://staging.example/{lineage}-v{version}.jpg"),
        file_name: format!("{lineage}-v{version}.jpg"),
        mime_type: "image/jpeg".into(),
        caption: format!("campaign_banner [otmm:{lineage}:v{version}:p1]"),
        listed: None,
    };
    let v1 = s.pms.ensure_resource(&request(1)).await.unwrap();
    let v10 = s.pms.ensure_resource(&request(10)).await.unwrap();
    let live = |id: &str| {
        s.sims.consonance.supporting_resources(work.work_id).into_iter().any(|r| r.id.to_string() == id)
    };
    assert!(live(&v1.id) && live(&v10.id), "campaign resources accumulate");
    let gone =
        s.pms.delete_resources_marked(WorkId(work.work_id), &format!("otmm:{lineage}:v1:")).await.unwrap();
    assert_eq!(gone, 1);
    assert!(!live(&v1.id), "v1's resource is removed");
    assert!(live(&v10.id), "v10's is not v1's");
    assert_eq!(
        s.pms.delete_resources_marked(WorkId(work.work_id), &format!("otmm:{lineage}:v1:")).await.unwrap(),
        0
    );
}
