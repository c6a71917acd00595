//! Files that are not JPG images reach Consonance as web links, never as supporting resources
//! (Consonance's supporting resources take JPG only): an audio sample as a link to a staged copy
//! on the audio product, a promo video as a link to its OTMM delivery URL on every product.
//! Redelivery creates nothing twice, the full scan leaves them be, a link deleted by hand is
//! restored, and a new version replaces the links of the old. On embedded state and on moto.

use connector_app::reconciler::{self, Mode, Options};
use connector_core::LinkStatus;
use connector_sim::otmm::content_sha256;
use connector_tests::e2e::{Backend, Harness};
use connector_tests::packages::{AJ, BB, DG, Spec, catalogue, isbn_of, lineage};
use sha2::{Digest, Sha256};
use std::time::Duration;

const APPROVER: &str = "links.approver";

fn specs() -> Vec<Spec> {
    let s = |n, asset_type, mime, size| Spec { n, asset_type, mime, size, territory: "WORLD" };
    vec![
        s(1, "Front Cover", "image/jpeg", 400_000),
        s(2, "Audio Sample", "audio/mpeg", 200_003),
        s(3, "Promo Video", "video/mp4", 900_001),
    ]
}

async fn start(backend: Backend, name: &str) -> Harness {
    let mut cat = catalogue(&specs(), &[]);
    // The shared package catalogue names non-audio files .jpg: the promo video is an .mp4.
    for a in cat.assets.iter_mut().filter(|a| a.asset_type == "Promo Video") {
        a.name = a.name.replace(".jpg", ".mp4");
        a.content_type = "VIDEO".into();
    }
    let h = Harness::start_with(backend, name, cat).await;
    for s in specs() {
        h.sims.otmm.approve(&lineage(s.n), 1, APPROVER).unwrap();
    }
    let report = h.deliver_and_drain(3).await;
    assert_eq!(report.dead_lettered, 0, "{report:?}");
    h
}

fn links(h: &Harness, product: i64) -> Vec<connector_sim::consonance::WebLinkRec> {
    h.sims.consonance.web_links(product).into_iter().filter(|l| l.link.contains("#otmm:")).collect()
}

async fn full_scan(h: &Harness) -> reconciler::Summary {
    let s = reconciler::run(&h.app, &Options { mode: Mode::Full, ..Default::default() }, &|| Duration::MAX)
        .await
        .unwrap();
    h.drain().await;
    s
}

async fn audio_and_video_arrive_as_web_links(backend: Backend) {
    let h = start(backend, "web_links").await;
    let work = h.catalogue.works[0].work_id;

    // Only the JPG is a supporting resource.
    let resources = h.sims.consonance.supporting_resources(work);
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert_eq!(resources[0].image_content_type.as_deref(), Some("image/jpeg"));
    assert!(resources[0].filename.as_deref().unwrap().ends_with(".jpg"));

    // The audio sample: one link on the audio product, role 28, to a staged copy of OTMM's file.
    let audio = links(&h, AJ);
    let sample = audio.iter().find(|l| l.role == "_28").expect("an audio sample link on the AJ product");
    let marker = format!("#otmm:{}:v1:p{AJ}", lineage(2));
    assert!(sample.link.ends_with(&marker), "{}", sample.link);
    let key = sample.link.strip_prefix("https://assets.example.com/").unwrap().split('#').next().unwrap();
    assert!(key.starts_with(&format!("links/{}/audio_sample/", isbn_of(BB))), "{key}");
    let (info, bytes) = h.app.stores.staging.get(key).await.unwrap().expect("the staged copy");
    assert_eq!(info.size, 200_003);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), content_sha256(&lineage(2), 200_003), "OTMM's bytes");
    assert!(links(&h, BB).iter().all(|l| l.role != "_28") && links(&h, DG).iter().all(|l| l.role != "_28"));

    // The promo video: a link on every product, role 02, to its OTMM delivery URL.
    for p in [BB, DG, AJ] {
        let video: Vec<_> = links(&h, p).into_iter().filter(|l| l.role == "_02").collect();
        assert_eq!(video.len(), 1, "product {p}: {video:?}");
        assert!(
            video[0].link.contains(&format!("/otmmapi/v6/assets/{}/contents/", lineage(3))),
            "{}",
            video[0].link
        );
        assert!(
            video[0].link.ends_with(&format!("#otmm:{}:v1:p{BB}+{DG}+{AJ}", lineage(3))),
            "{}",
            video[0].link
        );
    }
    // The mapping records each as linked, under the links' ids.
    let isbn = isbn_of(BB);
    let stored = h.app.stores.mapping.links_for_title(&isbn).await.unwrap();
    for role in ["audio_sample", "promo_video"] {
        let l = stored.iter().find(|l| l.key.role.to_string() == role).unwrap();
        assert_eq!(l.status, LinkStatus::Linked);
        assert!(l.consonance_resource_id.as_deref().unwrap().starts_with("weblink:"), "{l:?}");
    }

    // The same events again: nothing is created twice.
    let before: usize = [BB, DG, AJ].iter().map(|p| links(&h, *p).len()).sum();
    for s in specs() {
        h.sims.otmm.approve(&lineage(s.n), 1, APPROVER).unwrap();
    }
    h.deliver_and_drain(6).await;
    assert_eq!([BB, DG, AJ].iter().map(|p| links(&h, *p).len()).sum::<usize>(), before);
    // The full scan finds every link in place.
    let scan = full_scan(&h).await;
    assert_eq!(scan.drift.get("resource_missing"), None, "{scan:?}");
    assert_eq!([BB, DG, AJ].iter().map(|p| links(&h, *p).len()).sum::<usize>(), before);

    // A video link deleted by hand comes back with the next full scan.
    let gone = links(&h, DG).into_iter().find(|l| l.role == "_02").unwrap();
    h.sims.consonance.delete_web_link_by_hand(gone.id).unwrap();
    let scan = full_scan(&h).await;
    assert_eq!(scan.drift.get("resource_missing"), Some(&1), "{scan:?}");
    let back: Vec<_> = links(&h, DG).into_iter().filter(|l| l.role == "_02").collect();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].link, gone.link);
    assert_eq!(links(&h, BB).iter().filter(|l| l.role == "_02").count(), 1, "the others were not duplicated");

    // A new version of the video replaces its links on every product.
    let v2 = h.sims.otmm.add_version(&lineage(3), "In Review").unwrap();
    h.sims.otmm.approve(&lineage(3), 2, APPROVER).unwrap();
    h.deliver_and_drain(8).await;
    for p in [BB, DG, AJ] {
        let video: Vec<_> = links(&h, p).into_iter().filter(|l| l.role == "_02").collect();
        assert_eq!(video.len(), 1, "product {p}: {video:?}");
        assert!(video[0].link.contains(&v2) && video[0].link.contains(":v2:"), "{}", video[0].link);
    }
    assert_eq!(h.sims.consonance.supporting_resources(work).len(), 1, "still only the cover");
}

connector_tests::on_both_backends!(audio_and_video_arrive_as_web_links);
