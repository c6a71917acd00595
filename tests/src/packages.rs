//! A small catalogue for production-package tests: one work with a hardback (print), an ebook
//! and an audio download, and the final files their packages need.

use chrono::Duration;
use connector_core::Isbn13;
use connector_sim::catalogue::{Catalogue, SeedAsset, SeedProduct, SeedVersion, SeedWork, fixture_now};

pub const WORK_ID: i64 = 5000;
pub const BB: i64 = 50_000;
pub const DG: i64 = 50_001;
pub const AJ: i64 = 50_002;

pub fn isbn_of(product_id: i64) -> Isbn13 {
    Isbn13::from_prefix12(&format!("97818{:07}", product_id % 10_000_000)).expect("valid prefix")
}

/// One asset of the package catalogue.
pub struct Spec {
    pub n: u64,
    pub asset_type: &'static str,
    pub mime: &'static str,
    pub size: u64,
    pub territory: &'static str,
}

pub fn lineage(n: u64) -> String {
    format!("7a{n:038x}")
}

/// The default set: a 9 MB full cover (over one multipart part), two interior illustrations,
/// a front cover and an audio sample.
pub fn default_specs() -> Vec<Spec> {
    let s = |n, asset_type, mime, size| Spec { n, asset_type, mime, size, territory: "WORLD" };
    vec![
        s(1, "Full Cover", "image/jpeg", 9_000_000),
        s(2, "Interior Illustration", "image/jpeg", 300_000),
        s(3, "Interior Illustration", "image/jpeg", 250_001),
        s(4, "Front Cover", "image/jpeg", 400_000),
        s(5, "Audio Sample", "audio/mpeg", 200_003),
    ]
}

/// The work and its assets; `not_for_sale[product]` lists countries a product is not sold in.
pub fn catalogue(specs: &[Spec], not_for_sale: &[(i64, &[&str])]) -> Catalogue {
    let now = fixture_now();
    let product = |product_id: i64, form: &str, name: &str| SeedProduct {
        product_id,
        isbn13: isbn_of(product_id).to_string(),
        product_form: form.into(),
        in_house_format: name.into(),
        publication_date: None,
        planned_publication_date: (now + Duration::days(90)).date_naive(),
        publishing_status: "02".into(),
        for_sale_worldwide: true,
        for_sale_countries: Vec::new(),
        not_for_sale_countries: not_for_sale
            .iter()
            .find(|(p, _)| *p == product_id)
            .map(|(_, c)| c.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    };
    let work = SeedWork {
        work_id: WORK_ID,
        title: "The Packaged Tide".into(),
        subtitle: None,
        imprint_id: 1,
        imprint: "Harbour Press".into(),
        project_stage: "Production".into(),
        contributors: Vec::new(),
        products: vec![
            product(BB, "BB", "Hardback"),
            product(DG, "DG", "Ebook"),
            product(AJ, "AJ", "Audio download"),
        ],
        contract: None,
        updated_at: now - Duration::days(1),
    };
    let lead = isbn_of(BB).to_string();
    let assets = specs
        .iter()
        .map(|s| {
            let id = lineage(s.n);
            let ext = if s.mime == "audio/mpeg" { "mp3" } else { "jpg" };
            SeedAsset {
                original_asset_id: id.clone(),
                name: format!("{lead}_{}_{}.{ext}", s.asset_type.to_lowercase().replace(' ', "_"), s.n),
                isbn: lead.clone(),
                asset_type: s.asset_type.into(),
                mime_type: s.mime.into(),
                content_type: if s.mime.starts_with("audio") { "AUDIO" } else { "BITMAP" }.into(),
                imprint: "Harbour Press".into(),
                versions: vec![SeedVersion {
                    asset_id: id,
                    version: 1,
                    approval_status: "Approved".into(),
                    approved_by: Some("designer".into()),
                    approved_at: Some(now - Duration::days(2)),
                    size_bytes: s.size,
                    imported_at: now - Duration::days(3),
                    last_updated: now - Duration::days(2),
                }],
                territory: s.territory.into(),
                channels: String::new(),
                expiration_date: None,
                embargo_until: None,
                deleted: false,
            }
        })
        .collect();
    Catalogue { works: vec![work], assets }
}
