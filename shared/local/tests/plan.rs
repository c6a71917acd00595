//! `connector plan` (issue 17, item 3) against the simulators, as the real binary:
//! 1. it reports exactly what a following real run (`connector reconcile --full`) does: the
//!    same link decisions (with the rights reasons), identifier rewrites, requests, packages,
//!    dead letters and other audited decisions, as a multiset, and its planned writes are the
//!    writes that then land in the simulators;
//! 2. it writes nothing: no OTMM call but the session login, reads and searches (searches are
//!    POSTs), no Consonance GraphQL mutation (the simulator classifies each document: Consonance
//!    reads are POSTs too) and no other Consonance write, and the real state directory is
//!    byte-identical afterwards (a first install's plan leaves no state at all);
//! 3. the HTML report in headless Chromium (tests/browser/plan.mjs) shows the rows of the JSON
//!    report; the screenshot goes to target/test-output/plan-report.png (docs/img/ with
//!    UPDATE_SCREENSHOTS=1).
//!
//! Two rounds: a first install (no state), then, after changes in both systems (a new version
//! approved, rights expired, an ISBN rewritten in the wrong form, a resource deleted by hand),
//! a plan from existing state.

mod support;

use connector::Simulators;
use connector::commands::plan::report::{self, Context, Inputs, PlanReport};
use connector_app::dry_run::PlannedWrite;
use connector_core::AuditAction;
use connector_sim::catalogue::{Catalogue, otmm_fields};
use connector_sim::faults::LoggedRequest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `connector <args> --state-dir <state>` against the simulators, one message at a time: with
/// several at once the order in which a work's messages land decides e.g. whether a request is
/// raised before the link that closes it, or a slot lease makes a message retry (an
/// `approval.repeat`), so two real runs would not match each other either.
fn connector(sims: &Simulators, state: &Path, args: &[&str]) -> Command {
    let mut c = support::connector();
    c.envs(sims.env()).env("PROCESSOR_CONCURRENCY", "1").args(args).arg("--state-dir").arg(state);
    c
}

/// Runs a connector command to the end (off the runtime's threads: the simulators run on it).
async fn output(mut cmd: Command) -> std::process::Output {
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("connector runs")).await.unwrap();
    assert!(
        out.status.success(),
        "connector failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Requests that change something: anything but GET, the session login and searches (OTMM),
/// GraphQL documents (counted as mutations by the simulator itself) on Consonance.
fn otmm_writes(log: &[LoggedRequest]) -> Vec<String> {
    log.iter()
        .filter(|r| {
            !(r.method == "GET"
                || r.method == "HEAD"
                // The session login creates a session, not data.
                || (r.method == "POST" && (r.path.ends_with("/sessions") || r.path.ends_with("/search/text"))))
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn consonance_rest_writes(log: &[LoggedRequest]) -> Vec<String> {
    log.iter()
        .filter(|r| !(r.method == "GET" || r.method == "HEAD" || r.path.ends_with("/graphql")))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(tree(&p));
        } else {
            out.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    out
}

struct Planned {
    report: PlanReport,
    html: PathBuf,
}

/// `connector plan --json --html`, checking that it writes nothing anywhere.
async fn plan(sims: &Simulators, state: &Path, work: &Path, round: &str) -> Planned {
    let before_state = tree(state);
    let otmm_before = sims.otmm.faults().requests().len();
    let cons_before = sims.consonance.faults().requests().len();
    let mutations_before = sims.consonance.mutations_received();
    let html = work.join(format!("plan-{round}.html"));
    let html_arg = html.display().to_string();
    let out = output(connector(sims, state, &["plan", "--json", "--html", &html_arg])).await;
    let report: PlanReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("plan --json is not a report ({e}):\n{}", String::from_utf8_lossy(&out.stdout))
    });
    // Test 2: nothing written to OTMM, Consonance or the state.
    let otmm_log = sims.otmm.faults().requests();
    let writes = otmm_writes(&otmm_log[otmm_before..]);
    assert!(writes.is_empty(), "{round}: the plan wrote to OTMM: {writes:?}");
    assert!(otmm_log.len() > otmm_before, "{round}: the plan read nothing from OTMM");
    assert_eq!(
        sims.consonance.mutations_received(),
        mutations_before,
        "{round}: the plan sent GraphQL mutations to Consonance"
    );
    let cons_log = sims.consonance.faults().requests();
    let writes = consonance_rest_writes(&cons_log[cons_before..]);
    assert!(writes.is_empty(), "{round}: the plan wrote to Consonance: {writes:?}");
    let after_state = tree(state);
    let changed: Vec<_> = before_state
        .keys()
        .chain(after_state.keys())
        .filter(|p| before_state.get(*p) != after_state.get(*p))
        .collect();
    assert!(changed.is_empty(), "{round}: the plan changed the state directory: {changed:?}");
    Planned { report, html }
}

/// The real run: `connector reconcile --full` (reconcile, then the worker drains the queue),
/// and the same report built from the audit records it wrote on the real state.
async fn real_run(sims: &Simulators, state: &Path) -> PlanReport {
    // Audit ids are ULIDs: everything the run writes sorts after this one.
    let start = connector_store::new_audit_id(chrono::Utc::now()).0;
    output(connector(sims, state, &["reconcile", "--full"])).await;
    let records = connector_store::embedded::audit_after(state, &start).unwrap();
    let stores = connector::open_state(state, 5).unwrap();
    let mut roles = BTreeMap::new();
    for r in records.iter().filter(|r| r.action.kind() == "link") {
        if let (Some(isbn), Some(asset)) = (&r.isbn, &r.asset_id) {
            for link in stores.mapping.links_for_asset(asset).await.unwrap() {
                if &link.key.isbn == isbn {
                    roles.insert((isbn.to_string(), asset.to_string()), link.key.role.to_string());
                }
            }
        }
    }
    drop(stores);
    report::build(Inputs {
        generated_at: chrono::Utc::now(),
        context: Context {
            otmm: String::new(),
            consonance: String::new(),
            systems: String::new(),
            state: String::new(),
        },
        records,
        writes: Vec::new(),
        roles,
    })
}

/// The report's decisions without their free text, one line each, sorted (a multiset).
fn decisions(r: &PlanReport) -> Vec<String> {
    let mut out = Vec::new();
    for l in &r.links {
        out.push(format!(
            "link {} {:?} {:?} {:?} {:?} {:?} {:?}",
            l.action, l.isbn, l.role, l.asset_id, l.version, l.product_ids, l.denied
        ));
    }
    for i in &r.identifiers {
        out.push(format!(
            "identifier {} {:?} {:?} {:?} {:?}",
            i.action, i.isbn, i.asset_id, i.version, i.fixes
        ));
    }
    for q in &r.requests {
        out.push(format!("request {} {:?} {:?} {:?} {:?}", q.action, q.isbn, q.request_id, q.role, q.due));
    }
    for p in &r.packages {
        out.push(format!("package {} {:?} {:?} {:?} {}", p.action, p.isbn, p.channel, p.reasons, p.detail));
    }
    for d in &r.dead_letters {
        out.push(format!("dead_letter {} {:?} {:?} {:?}", d.action, d.isbn, d.asset_id, d.version));
    }
    for (action, n) in &r.other_actions {
        out.push(format!("other {action} x{n}"));
    }
    out.sort();
    out
}

fn assert_same(round: &str, planned: &PlanReport, real: &PlanReport) {
    let (p, r) = (decisions(planned), decisions(real));
    let only_plan: Vec<_> = p.iter().filter(|x| !r.contains(x)).collect();
    let only_real: Vec<_> = r.iter().filter(|x| !p.contains(x)).collect();
    assert!(
        p == r,
        "{round}: the plan and the real run differ\nonly in the plan: {only_plan:#?}\nonly in the real run: {only_real:#?}"
    );
}

/// The plan's writes are the ones that landed: each resource it would create is in Consonance
/// (found by its marker) and as many were created; each request it would raise is an OTMM
/// folder; each identifier it would rewrite holds the planned value in OTMM.
fn assert_writes_landed(
    round: &str,
    planned: &PlanReport,
    sims: &Simulators,
    creates_before: usize,
    folders_before: usize,
) {
    let mut creates = 0;
    let mut requests = 0;
    for w in &planned.writes {
        match w {
            PlannedWrite::ConsonanceCreateResource { work_id, dedupe_marker, .. } => {
                creates += 1;
                let found =
                    sims.consonance.supporting_resources(work_id.0).iter().any(|r| {
                        r.caption.as_deref().is_some_and(|c| c.contains(&format!("[{dedupe_marker}]")))
                    });
                assert!(
                    found,
                    "{round}: planned resource [{dedupe_marker}] on work {work_id} was not created"
                );
            }
            PlannedWrite::OtmmCreateRequest { request_id, .. } => {
                requests += 1;
                let found = sims
                    .otmm
                    .folders()
                    .iter()
                    .any(|f| f.fields.get(otmm_fields::REQUEST_ID) == Some(request_id));
                assert!(found, "{round}: planned request {request_id} was not raised");
            }
            PlannedWrite::OtmmUpdateFields { asset_id, fields } => {
                let asset = sims.otmm.asset(asset_id.as_str()).expect("asset exists");
                for (field, value) in fields.iter().filter(|(f, _)| f == otmm_fields::ISBN) {
                    assert_eq!(asset.field(field), Some(value.as_str()), "{round}: {asset_id} {field}");
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        sims.consonance.creates().creates.len() - creates_before,
        creates,
        "{round}: resources created"
    );
    assert_eq!(sims.otmm.folders().len() - folders_before, requests, "{round}: request folders raised");
}

/// Test 3: the HTML report in headless Chromium shows the JSON's rows.
fn check_html_in_browser(planned: &Planned) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run ./scripts/test, which installs Debian's chromium"
    );
    let browser_dir = repo.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run ./scripts/test (npm ci)"
    );
    // Into target/test-output (a test must not rewrite tracked files); with
    // UPDATE_SCREENSHOTS=1, into docs/img/plan-report.png, the README's picture.
    let shot = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        repo.join("docs/img/plan-report.png")
    } else {
        repo.join("target/test-output/plan-report.png")
    };
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg("plan.mjs")
        .arg(&planned.html)
        .arg(&shot)
        .current_dir(&browser_dir)
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .expect("node runs (install Node.js: it is needed for the browser test)");
    assert!(out.status.success(), "plan.mjs failed: {}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan.mjs prints JSON");
    let r = &planned.report;
    let rows = |section: &str| -> Vec<Vec<String>> {
        seen["rows"][section]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|row| row.as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect())
            .collect()
    };
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let links: Vec<Vec<String>> = r
        .links
        .iter()
        .map(|l| {
            vec![
                l.action.clone(),
                dash(&l.isbn),
                dash(&l.role),
                dash(&l.asset_id),
                l.version.map_or("-".into(), |v| format!("v{v}")),
                l.product_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
                if l.denied.is_empty() { "-".into() } else { report::denied_text(&l.denied) },
            ]
        })
        .collect();
    assert_eq!(rows("links"), links, "the links table shows the JSON's links");
    let requests: Vec<Vec<String>> = r
        .requests
        .iter()
        .map(|q| vec![q.action.clone(), dash(&q.isbn), dash(&q.role), dash(&q.due)])
        .collect();
    assert_eq!(rows("requests"), requests);
    assert_eq!(rows("identifiers").len(), r.identifiers.len());
    assert_eq!(rows("packages").len(), r.packages.len());
    assert_eq!(rows("dead_letters").len(), r.dead_letters.len());
    assert_eq!(rows("writes").len(), r.writes.len());
    let cards = &seen["cards"];
    assert_eq!(cards["links"], serde_json::json!(r.links.len().to_string()));
    assert_eq!(cards["dead letters"], serde_json::json!(r.dead_letters.len().to_string()));
    assert_eq!(cards["writes"], serde_json::json!(r.writes.len().to_string()));
    assert_eq!(seen["scripts"], 0, "the report runs no script");
    assert_eq!(seen["external_requests"], serde_json::json!([]), "the report loads nothing from outside");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    println!("plan report screenshot: {}", shot.display());
}

fn count(r: &PlanReport, section: &str, action: &str) -> usize {
    match section {
        "links" => r.links.iter().filter(|l| l.action == action).count(),
        "identifiers" => r.identifiers.iter().filter(|l| l.action == action).count(),
        "requests" => r.requests.iter().filter(|l| l.action == action).count(),
        "packages" => r.packages.iter().filter(|l| l.action == action).count(),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_reports_what_the_real_run_does_and_writes_nothing() {
    let catalogue = Catalogue::generate(16, 7, chrono::Utc::now());
    let sims = Simulators::start(&catalogue, None, "secret").await;
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");

    // Round 1: a first install, no state yet.
    let first = plan(&sims, &state, work.path(), "first install").await;
    assert!(!state.join("state.sqlite").exists(), "a first install's plan leaves no state behind");
    let p = &first.report;
    assert!(count(p, "links", "created") > 0, "a seeded catalogue links something: {p:#?}");
    assert!(count(p, "links", "withheld") > 0, "some rights withhold a link");
    assert!(count(p, "identifiers", "aligned") > 0, "an ISBN in the wrong form is rewritten");
    assert!(count(p, "requests", "created") > 0, "a title missing assets gets a request");
    assert!(!p.packages.is_empty(), "packages are staged or blocked");
    assert!(
        p.links.iter().filter(|l| l.action == "withheld").all(|l| !l.denied.is_empty()),
        "withheld links say why"
    );
    let (creates, folders) = (sims.consonance.creates().creates.len(), sims.otmm.folders().len());
    let real = real_run(&sims, &state).await;
    assert_same("first install", p, &real);
    assert_writes_landed("first install", p, &sims, creates, folders);
    check_html_in_browser(&first);

    // Round 2: things change in both systems; plan from the existing state.
    let linked: Vec<_> = p.links.iter().filter(|l| l.action == "created").collect();
    let newer = linked[0].asset_id.clone().unwrap();
    let v = sims.otmm.add_version(&newer, "In Review").unwrap();
    let version = sims.otmm.asset(&v).unwrap().version;
    sims.otmm.approve(&newer, version, "mpatel").unwrap();
    let expiring = linked.last().unwrap().asset_id.clone().unwrap();
    let latest = |lineage: &str| {
        sims.otmm.assets().into_iter().find(|a| a.original_asset_id == lineage && a.latest_version).unwrap()
    };
    sims.otmm.set_field(&latest(&expiring).asset_id, otmm_fields::EXPIRATION_DATE, "2020-01-31").unwrap();
    // An ISBN Consonance does not know (a valid one): the approval would be dead-lettered.
    let unknown = linked[1].asset_id.clone().unwrap();
    sims.otmm.set_field(&latest(&unknown).asset_id, otmm_fields::ISBN, "9780306406157").unwrap();
    // A linked asset's ISBN written in the wrong form (hyphenated): rewritten.
    let hyphenated = linked[2].asset_id.clone().unwrap();
    let isbn = linked[2].isbn.clone().unwrap();
    let linked_version = sims
        .otmm
        .assets()
        .into_iter()
        .find(|a| a.original_asset_id == hyphenated && Some(a.version) == linked[2].version)
        .unwrap();
    sims.otmm.set_field(&linked_version.asset_id, otmm_fields::ISBN, &format!("978-{}", &isbn[3..])).unwrap();
    // A resource deleted by hand in Consonance: the full scan links it again.
    let gone = linked[3].asset_id.clone().unwrap();
    let resource = sims
        .consonance
        .creates()
        .creates
        .into_iter()
        .find(|r| r.caption.as_deref().is_some_and(|c| c.contains(&format!("[otmm:{gone}:"))))
        .expect("the linked asset's resource");
    sims.consonance.delete_supporting_resource_by_hand(resource.id).unwrap();

    let second = plan(&sims, &state, work.path(), "existing state").await;
    let p = &second.report;
    assert!(
        p.dead_letters.iter().any(|d| d.action == AuditAction::TitleNotFound),
        "an unknown ISBN is dead-lettered with its cause: {:#?}",
        p.dead_letters
    );
    assert!(
        p.identifiers.iter().any(|i| i.action == "aligned" && i.isbn.as_ref() == Some(&isbn)),
        "the hyphenated ISBN is rewritten: {:#?}",
        p.identifiers
    );
    assert!(
        p.other_actions.contains_key(AuditAction::LinkResourceMissing.as_str()),
        "{:#?}",
        p.other_actions
    );
    assert!(count(p, "links", "replaced") > 0, "the new version replaces the old: {:#?}", p.links);
    assert!(count(p, "links", "withdrawn") > 0, "expired rights withdraw a link: {:#?}", p.links);
    let (creates, folders) = (sims.consonance.creates().creates.len(), sims.otmm.folders().len());
    let real = real_run(&sims, &state).await;
    assert_same("existing state", p, &real);
    assert_writes_landed("existing state", p, &sims, creates, folders);
}

/// The binary with none of the variables that name systems. One message at a time (as in the
/// first test): with more, two messages of one work contend for its request claim and the
/// loser waits out a 30 s retry, which only makes the test slow.
fn bare_connector(state: &Path, args: &[&str]) -> Command {
    let mut c = support::connector();
    c.env("PROCESSOR_CONCURRENCY", "1").args(args).arg("--state-dir").arg(state);
    c
}

#[test]
fn plan_finds_its_systems_like_reconcile_does() {
    // No systems, no serve: a precise error, and nothing written.
    let empty = tempfile::tempdir().unwrap();
    let state = empty.path().join("state");
    let out = bare_connector(&state, &["plan"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no systems to plan against") && err.contains("--sim-titles"), "{err}");
    assert!(!state.exists(), "a refused plan creates no state");

    // --sim-titles: simulators of its own.
    let out = bare_connector(&state, &["plan", "--sim-titles", "4"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("(own simulators, 4 titles)"), "{table}");
    assert!(table.contains("\nLinks\n") && table.contains("created"), "{table}");
    assert!(!state.exists(), "the plan on its own simulators creates no state");

    // Beside a running `connector serve`: its simulators, and a copy of its live state.
    let serve_dir = tempfile::tempdir().unwrap();
    let _serve = support::serve(serve_dir.path(), &[("PROCESSOR_CONCURRENCY", "1".into())], None);
    // A first plan while serve's state is live (its -wal open), then one after its own run.
    for round in ["live", "after reconcile"] {
        let out = bare_connector(serve_dir.path(), &["plan", "--json"]).output().unwrap();
        assert!(out.status.success(), "{round}: {}", String::from_utf8_lossy(&out.stderr));
        let report: PlanReport = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report.context.systems, "serve simulators", "{round}");
        assert_eq!(report.context.state, serve_dir.path().display().to_string(), "{round}");
        assert!(!report.links.is_empty() || !report.other_actions.is_empty(), "{round}: {report:#?}");
        if round == "live" {
            let out = bare_connector(serve_dir.path(), &["reconcile", "--full"]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
