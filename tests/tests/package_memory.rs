//! A 50 MB asset is packaged with bounded memory: the file is streamed from OTMM (the simulator
//! generates it chunk by chunk) into S3 on moto (multipart, 8 MiB parts) while SHA-256 and MD5
//! are computed on the way. The process's peak resident set (VmHWM) may grow by far less than
//! the file. One test in its own binary, so no other test's allocations count.

use connector_app::packages::{self, BuildOutcome};
use connector_core::Channel;
use connector_sim::otmm::content_sha256;
use connector_tests::e2e::{Backend, Harness};
use connector_tests::packages::{AJ, BB, DG, Spec, catalogue, isbn_of, lineage};

const SIZE: u64 = 50 * 1024 * 1024;
/// Allowed growth of the peak RSS while packaging the 50 MB file.
const LIMIT_KB: u64 = 24 * 1024;

/// Peak resident set size of this process so far, in kB (`VmHWM` in /proc/self/status).
fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabyte_asset_is_packaged_in_bounded_memory() {
    // The ebook needs only a front cover: make it 50 MB. Nothing is packaged on link, so the
    // measurement covers the package build alone.
    let specs =
        [Spec { n: 1, asset_type: "Front Cover", mime: "image/jpeg", size: SIZE, territory: "WORLD" }];
    let mut h = Harness::start_with(Backend::Moto, "pkg_memory", catalogue(&specs, &[])).await;
    h.app.settings.packages_on_link = false;
    h.sims.otmm.approve(&lineage(1), 1, "mem.approver").unwrap();
    let report = h.deliver_and_drain(1).await;
    assert_eq!((report.done, report.dead_lettered), (1, 0), "{report:?}");

    let before = vm_hwm_kb();
    let started = std::time::Instant::now();
    let outcomes = packages::build_for_isbn(&h.app, &isbn_of(BB), "memory-test").await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let after = vm_hwm_kb();

    assert!(
        outcomes.iter().any(|o| matches!(o, BuildOutcome::Staged { channel: Channel::Ebook, .. })),
        "{outcomes:?}"
    );
    let doc = h
        .app
        .stores
        .documents
        .get_doc(packages::DOC_KIND, &packages::doc_id(&isbn_of(DG), Channel::Ebook))
        .await
        .unwrap()
        .unwrap();
    let body: packages::PackageDoc = serde_json::from_value(doc.body).unwrap();
    let file = &body.files[0];
    assert_eq!(file.size, SIZE);
    assert_eq!(file.sha256, content_sha256(&file.version_asset_id, SIZE));
    // The audio package (front cover + audio sample) stays blocked: no audio sample.
    let _ = AJ;
    let head = h.app.stores.staging.head(&file.key).await.unwrap().expect("staged");
    assert_eq!((head.size, head.sha256.as_str()), (SIZE, file.sha256.as_str()));

    let growth = after.saturating_sub(before);
    println!(
        "package_memory: {} MiB packaged to S3 (moto, multipart) in {seconds:.1}s; peak RSS {before} kB -> {after} kB, growth {growth} kB ({:.1} MiB, limit {} MiB)",
        SIZE / (1024 * 1024),
        growth as f64 / 1024.0,
        LIMIT_KB / 1024
    );
    assert!(growth < LIMIT_KB, "peak RSS grew by {growth} kB while packaging a {SIZE}-byte file");
}
