//! `connector backfill` as an operator meets it (issue 17, item 4): the real binary against
//! `connector sim` (the simulators in their own process, so their state outlives the
//! connector), SIGKILLed in the middle of its OTMM pass and started again with the same
//! command: it ends in the same state as an uninterrupted backfill of the same catalogue.

mod support;

use chrono::{DateTime, SubsecRound, Utc};
use connector::sim_process::SimInfo;
use connector_sim::catalogue::Catalogue;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use support::Proc;

const TITLES: usize = 24;
const SEED: u64 = 11;
const PAGE: &str = "8";

fn start_sims(now: DateTime<Utc>) -> (Proc, SimInfo) {
    let (titles, seed, now) = (TITLES.to_string(), SEED.to_string(), now.to_rfc3339());
    support::start_sims(&["--titles", &titles, "--seed", &seed, "--now", &now], Stdio::null())
}

fn backfill(sims: &SimInfo, state: &Path) -> Command {
    let mut c = support::connector();
    c.args(["backfill", "--page-size", PAGE, "--json", "--state-dir"])
        .arg(state)
        .envs(sims.env.iter().cloned())
        .env("RUST_LOG", "connector_app::reconciler=debug");
    c
}

async fn approve_everything(sims: &SimInfo, catalogue: &Catalogue) {
    let client = reqwest::Client::new();
    for a in catalogue.assets.iter().filter(|a| !a.deleted) {
        for v in &a.versions {
            client
                .post(format!("{}/__sim/otmm/approve", sims.otmm_sim))
                .json(&json!({"original_asset_id": a.original_asset_id, "version": v.version, "approver": "team"}))
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .expect("approve");
        }
    }
}

/// The links of the state and the supporting resources in the Consonance simulator.
async fn end_state(
    sims: &SimInfo,
    catalogue: &Catalogue,
    state: &Path,
) -> (BTreeSet<String>, BTreeMap<i64, BTreeSet<String>>) {
    let stores = connector::open_state(state, 5).expect("state");
    let mut links = BTreeSet::new();
    for work in &catalogue.works {
        for p in &work.products {
            let Ok(isbn) = connector_core::Isbn13::parse(&p.isbn13) else { continue };
            for l in stores.mapping.links_for_title(&isbn).await.unwrap() {
                links.insert(format!(
                    "{} {} {} {} v{} {:?}",
                    l.key.isbn, l.key.role, l.key.slot, l.approval.asset_id, l.approval.version, l.status
                ));
            }
        }
    }
    let client = reqwest::Client::new();
    let mut resources = BTreeMap::new();
    for work in &catalogue.works {
        let url =
            format!("{}/__sim/consonance/works/{}/supporting-resources", sims.consonance_sim, work.work_id);
        let live = support::get_json(&client, &url).await;
        let set = live
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{} {} {}", r["caption"], r["product_ids"], r["resource_variant"]))
            .collect();
        resources.insert(work.work_id, set);
    }
    (links, resources)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_half_way_and_started_again_ends_as_an_uninterrupted_one() {
    let now = Utc::now().trunc_subsecs(0);
    let catalogue = Catalogue::generate(TITLES, SEED, now);

    // The reference: one uninterrupted backfill.
    let (_ref_sims, ref_info) = start_sims(now);
    approve_everything(&ref_info, &catalogue).await;
    let ref_dir = tempfile::tempdir().unwrap();
    let out = backfill(&ref_info, ref_dir.path()).stderr(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the JSON report");
    assert_eq!(report["walk"]["finished"], true, "{report}");
    assert!(report["processed"]["done"].as_u64().unwrap() > 20, "{report}");
    assert_eq!(report["left_in_queue"], 0, "{report}");
    let expected = end_state(&ref_info, &catalogue, ref_dir.path()).await;
    assert!(expected.0.len() > 20, "a meaningful mapping: {}", expected.0.len());

    // Killed after its second page of assets, then the same command again.
    let (_sims, info) = start_sims(now);
    approve_everything(&info, &catalogue).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child =
        Proc(backfill(&info, dir.path()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let mut pages = 0;
    for line in BufReader::new(child.0.stderr.take().unwrap()).lines() {
        if line.unwrap().contains("assets page read") {
            pages += 1;
            if pages == 2 {
                break;
            }
        }
    }
    assert_eq!(pages, 2, "the backfill read two pages before the kill");
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    drop(child);
    {
        let stores = connector::open_state(dir.path(), 5).unwrap();
        let cp =
            stores.checkpoints.get_checkpoint("backfill/otmm-assets").await.unwrap().expect("a checkpoint");
        assert!(!cp.cursor.contains("\"done\""), "killed inside the OTMM pass: {}", cp.cursor);
    }
    let out = backfill(&info, dir.path()).stderr(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the JSON report");
    assert_eq!(report["walk"]["finished"], true, "{report}");
    // (How far it re-reads is the library's business: tests/tests/reconciler.rs counts it.)
    assert_eq!(end_state(&info, &catalogue, dir.path()).await, expected, "the same links and resources");
}
