//! The seed data shared by both simulators: works and products (Consonance's side) and assets
//! with versions, approval state and rights (OTMM's side). Loadable from JSON, or generated
//! deterministically at any size for demos and benchmarks.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use connector_core::Isbn13;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// OTMM metadata field ids the simulator uses (and the example mapping config names).
/// Real installations differ: the connector reads them from its mapping config.
pub mod otmm_fields {
    pub const ISBN: &str = "CUSTOM.FIELD.ISBN";
    pub const ASSET_TYPE: &str = "CUSTOM.FIELD.ASSET_TYPE";
    pub const APPROVAL_STATUS: &str = "CUSTOM.FIELD.APPROVAL_STATUS";
    pub const APPROVED_BY: &str = "CUSTOM.FIELD.APPROVED_BY";
    pub const APPROVED_DATE: &str = "CUSTOM.FIELD.APPROVED_DATE";
    pub const IMPRINT: &str = "CUSTOM.FIELD.IMPRINT";
    pub const TERRITORY: &str = "CUSTOM.FIELD.RIGHTS_TERRITORY";
    pub const CHANNELS: &str = "CUSTOM.FIELD.RIGHTS_CHANNELS";
    pub const EMBARGO_UNTIL: &str = "CUSTOM.FIELD.EMBARGO_UNTIL";
    /// The standard expiry field (with the space, as OTMM spells it).
    pub const EXPIRATION_DATE: &str = "ARTESIA.FIELD.EXPIRATION DATE";
    /// Written by the connector when rights no longer cover a linked product.
    pub const RIGHTS_FLAG: &str = "CUSTOM.FIELD.RIGHTS_FLAG";
    /// Written by the connector when a file fails a recipient's delivery check
    /// (`[packages] check_flag_field`).
    pub const DELIVERY_CHECK: &str = "CUSTOM.FIELD.DELIVERY_CHECK";
    /// Carried by asset-request folders/placeholders.
    pub const REQUEST_ID: &str = "CUSTOM.FIELD.REQUEST_ID";
    pub const DUE_DATE: &str = "CUSTOM.FIELD.DUE_DATE";
    /// The request's state (Open / Fulfilled) and the title's launch readiness, written by the
    /// connector on request folders (`[requests] status_field`, `readiness_field`).
    pub const REQUEST_STATUS: &str = "CUSTOM.FIELD.REQUEST_STATUS";
    pub const LAUNCH_READINESS: &str = "CUSTOM.FIELD.LAUNCH_READINESS";
    /// The value of APPROVAL_STATUS that means approved.
    pub const APPROVED_VALUE: &str = "Approved";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    pub works: Vec<SeedWork>,
    pub assets: Vec<SeedAsset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedWork {
    pub work_id: i64,
    pub title: String,
    #[serde(default)]
    pub subtitle: Option<String>,
    pub imprint_id: i64,
    pub imprint: String,
    /// Consonance `projectStage`, e.g. "Acquisition", "Editorial", "Design", "Production", "Published".
    pub project_stage: String,
    pub contributors: Vec<SeedContributor>,
    pub products: Vec<SeedProduct>,
    #[serde(default)]
    pub contract: Option<SeedContract>,
    /// When the work or any of its products last changed (drives `changedSince`).
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedContributor {
    pub id: i64,
    pub name: String,
    /// ONIX contributor role (A01 author, B06 translator, E07 reader).
    pub role_code: String,
    #[serde(default)]
    pub biographical_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedProduct {
    pub product_id: i64,
    pub isbn13: String,
    /// ONIX 2.1 product form as Consonance reports it: BB hardback, BC paperback, DG ebook, AJ audio download.
    pub product_form: String,
    pub in_house_format: String,
    #[serde(default)]
    pub publication_date: Option<NaiveDate>,
    pub planned_publication_date: NaiveDate,
    /// ONIX publishing status: 02 forthcoming, 04 active.
    pub publishing_status: String,
    pub for_sale_worldwide: bool,
    #[serde(default)]
    pub for_sale_countries: Vec<String>,
    #[serde(default)]
    pub not_for_sale_countries: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedContract {
    pub contract_id: i64,
    #[serde(default)]
    pub ms_delivery_date: Option<NaiveDate>,
    #[serde(default)]
    pub actual_ms_delivery_date: Option<NaiveDate>,
    /// Licensed rights: (right type, e.g. "Print", "Ebook", "Audio").
    #[serde(default)]
    pub licensed_rights: Vec<String>,
    /// Production milestones as contract delivery dates: (deliverable type, due date).
    #[serde(default)]
    pub delivery_dates: Vec<SeedDeliveryDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedDeliveryDate {
    pub deliverable_type: String,
    pub date_due: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedAsset {
    /// The id of the first version (OTMM `original_asset_id`); each version has its own
    /// `asset_id` (see [`SeedVersion::asset_id`]).
    pub original_asset_id: String,
    pub name: String,
    /// As written in the asset's ISBN field: usually the ISBN-13 of one product, occasionally
    /// hyphenated, an ISBN-10, or wrong (the connector must report, never write, a bad one).
    pub isbn: String,
    /// The value of the asset-type field, e.g. "Front Cover" (see [`role_values`]).
    pub asset_type: String,
    pub mime_type: String,
    /// OTMM content type: BITMAP, VIDEO, AUDIO, ACROBAT.
    pub content_type: String,
    pub imprint: String,
    pub versions: Vec<SeedVersion>,
    /// Compact territory, e.g. "WORLD", "GB IE", "WORLD -US".
    pub territory: String,
    /// Comma-separated channels, empty for all.
    #[serde(default)]
    pub channels: String,
    #[serde(default)]
    pub expiration_date: Option<NaiveDate>,
    #[serde(default)]
    pub embargo_until: Option<NaiveDate>,
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedVersion {
    pub asset_id: String,
    pub version: u32,
    /// "Approved", "In Review", "Draft", "Rejected".
    pub approval_status: String,
    #[serde(default)]
    pub approved_by: Option<String>,
    #[serde(default)]
    pub approved_at: Option<DateTime<Utc>>,
    pub size_bytes: u64,
    pub imported_at: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
}

/// Asset-type field values per connector role name, as the simulator's metadata model has them.
pub fn role_values() -> &'static [(&'static str, &'static str)] {
    &[
        ("Front Cover", "front_cover"),
        ("Back Cover", "back_cover"),
        ("Spine", "spine"),
        ("Full Cover", "full_cover"),
        ("Author Photo", "author_photo"),
        ("Interior Illustration", "interior_illustration"),
        ("Campaign Banner", "campaign_banner"),
        ("Social Graphic", "social_graphic"),
        ("Promo Video", "promo_video"),
        ("Audio Sample", "audio_sample"),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read catalogue {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("catalogue {path} is not valid JSON at line {line}, column {column}: {message}")]
    Json { path: String, line: usize, column: usize, message: String },
}

impl Catalogue {
    pub fn load(path: &std::path::Path) -> Result<Self, CatalogueError> {
        let p = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| CatalogueError::Io { path: p.clone(), source })?;
        serde_json::from_str(&text).map_err(|e| CatalogueError::Json {
            path: p,
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    /// A deterministic catalogue of `titles` works (each with one to four products) and their
    /// assets in mixed states, for `now`. Same inputs, same catalogue.
    pub fn generate(titles: usize, seed: u64, now: DateTime<Utc>) -> Self {
        Generator::new(seed, now).catalogue(titles)
    }

    pub fn product_count(&self) -> usize {
        self.works.iter().map(|w| w.products.len()).sum()
    }
}

const IMPRINTS: [&str; 4] = ["Harbour Press", "Northlight", "Quire Books", "Wren & Finch"];
const STAGES: [&str; 5] = ["Acquisition", "Editorial", "Design", "Production", "Published"];
const FIRST: [&str; 12] =
    ["Ada", "Bram", "Cleo", "Dev", "Esme", "Farid", "Greta", "Hugo", "Ines", "Jonah", "Kasia", "Luis"];
const LAST: [&str; 12] = [
    "Okafor",
    "Lindqvist",
    "Marsh",
    "Patel",
    "Quinn",
    "Rossi",
    "Sato",
    "Thorne",
    "Ueda",
    "Vale",
    "Wolfe",
    "Young",
];
const WORDS: [&str; 16] = [
    "Salt",
    "Lantern",
    "Orchard",
    "Winter",
    "Harbour",
    "Glass",
    "River",
    "Cartographer",
    "Silence",
    "Ember",
    "Atlas",
    "Tide",
    "Meridian",
    "Hollow",
    "Signal",
    "Garden",
];
const APPROVERS: [&str; 4] = ["mpatel", "jthorne", "svale", "kquinn"];

struct Generator {
    rng: StdRng,
    now: DateTime<Utc>,
    next_asset: u64,
}

impl Generator {
    fn new(seed: u64, now: DateTime<Utc>) -> Self {
        Generator { rng: StdRng::seed_from_u64(seed), now, next_asset: 1 }
    }

    fn asset_id(&mut self) -> String {
        let n = self.next_asset;
        self.next_asset += 1;
        // 40 hex chars: a fixed prefix keeps simulated ids recognisable in logs.
        format!("5e{n:038x}")
    }

    fn catalogue(&mut self, titles: usize) -> Catalogue {
        let mut works = Vec::with_capacity(titles);
        let mut assets = Vec::new();
        for i in 0..titles {
            let work = self.work(i);
            self.assets_for(&work, &mut assets);
            works.push(work);
        }
        Catalogue { works, assets }
    }

    fn work(&mut self, i: usize) -> SeedWork {
        let work_id = 1000 + i as i64;
        let imprint_idx = i % IMPRINTS.len();
        let title = format!(
            "The {} {}",
            WORDS[self.rng.random_range(0..WORDS.len())],
            WORDS[self.rng.random_range(0..WORDS.len())]
        );
        let author = format!(
            "{} {}",
            FIRST[self.rng.random_range(0..FIRST.len())],
            LAST[self.rng.random_range(0..LAST.len())]
        );
        // Publication dates spread from 60 days ago to 300 days ahead.
        let pub_offset = self.rng.random_range(-60i64..300);
        let planned = (self.now + Duration::days(pub_offset)).date_naive();
        let stage =
            if pub_offset < 0 { "Published" } else { STAGES[(4 - (pub_offset / 75).min(4)) as usize] };
        let forms: &[(&str, &str)] = match i % 5 {
            0 => &[("BB", "Hardback"), ("DG", "Ebook"), ("AJ", "Audio download")],
            1 => &[("BC", "Paperback"), ("DG", "Ebook")],
            2 => &[("BB", "Hardback"), ("BC", "Paperback"), ("DG", "Ebook"), ("AJ", "Audio download")],
            3 => &[("BC", "Paperback")],
            _ => &[("BB", "Hardback"), ("DG", "Ebook")],
        };
        let products = forms
            .iter()
            .enumerate()
            .map(|(j, (form, name))| {
                let product_id = work_id * 10 + j as i64;
                // 978-1-80000-xxxx-c: a registrant block reserved for the simulator.
                let isbn = Isbn13::from_prefix12(&format!("97818{:07}", product_id % 10_000_000))
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                let (worldwide, for_sale, not_for_sale) = match i % 7 {
                    3 => (false, vec!["GB".to_string(), "IE".to_string()], vec![]),
                    5 => (true, vec![], vec!["US".to_string(), "CA".to_string()]),
                    _ => (true, vec![], vec![]),
                };
                SeedProduct {
                    product_id,
                    isbn13: isbn,
                    product_form: form.to_string(),
                    in_house_format: name.to_string(),
                    publication_date: (pub_offset < 0).then_some(planned),
                    planned_publication_date: planned,
                    publishing_status: if pub_offset < 0 { "04" } else { "02" }.to_string(),
                    for_sale_worldwide: worldwide,
                    for_sale_countries: for_sale,
                    not_for_sale_countries: not_for_sale,
                }
            })
            .collect();
        let ms_due = planned - Duration::days(240);
        SeedWork {
            work_id,
            title,
            subtitle: i.is_multiple_of(3).then(|| "A Novel".to_string()),
            imprint_id: 1 + imprint_idx as i64,
            imprint: IMPRINTS[imprint_idx].to_string(),
            project_stage: stage.to_string(),
            contributors: vec![SeedContributor {
                id: 50_000 + i as i64,
                name: author.clone(),
                role_code: "A01".to_string(),
                biographical_note: Some(format!("{author} lives by the sea and writes at dawn.")),
            }],
            products,
            contract: Some(SeedContract {
                contract_id: 70_000 + i as i64,
                ms_delivery_date: Some(ms_due),
                actual_ms_delivery_date: (ms_due < self.now.date_naive()).then_some(ms_due),
                licensed_rights: vec!["Print".into(), "Ebook".into(), "Audio".into()],
                delivery_dates: vec![
                    SeedDeliveryDate { deliverable_type: "Manuscript".into(), date_due: ms_due },
                    SeedDeliveryDate {
                        deliverable_type: "Design".into(),
                        date_due: planned - Duration::days(120),
                    },
                ],
            }),
            updated_at: self.now - Duration::days(self.rng.random_range(1..90)),
        }
    }

    fn assets_for(&mut self, work: &SeedWork, out: &mut Vec<SeedAsset>) {
        let lead = &work.products[0];
        let i = (work.work_id - 1000) as usize;
        // Which roles this title has assets for so far, by how far along it is.
        let roles: &[&str] = match work.project_stage.as_str() {
            "Acquisition" => &[],
            "Editorial" => &["Author Photo"],
            "Design" => &["Front Cover", "Author Photo"],
            _ => &["Front Cover", "Back Cover", "Spine", "Author Photo", "Campaign Banner", "Social Graphic"],
        };
        for (k, asset_type) in roles.iter().enumerate() {
            let versions = 1 + ((i + k) % 3) as u32;
            // Most are approved; one in six is still in review; one in nine has its latest
            // version in review with an earlier one approved.
            let status_of = |v: u32| -> &'static str {
                let whole_asset_in_review = (i + k) % 6 == 5;
                let latest_in_review = (i + k) % 9 == 4 && v == versions && versions > 1;
                if whole_asset_in_review || latest_in_review { "In Review" } else { "Approved" }
            };
            let original = self.asset_id();
            let mut vs = Vec::new();
            for v in 1..=versions {
                let id = if v == 1 { original.clone() } else { self.asset_id() };
                let imported = work.updated_at - Duration::days(i64::from(versions - v) * 7 + 3);
                let status = status_of(v);
                vs.push(SeedVersion {
                    asset_id: id,
                    version: v,
                    approval_status: status.to_string(),
                    approved_by: (status == "Approved")
                        .then(|| APPROVERS[(i + k + v as usize) % APPROVERS.len()].to_string()),
                    approved_at: (status == "Approved").then(|| imported + Duration::hours(20)),
                    size_bytes: 200_000 + ((i * 7919 + k * 104_729) % 5_000_000) as u64,
                    imported_at: imported,
                    last_updated: imported + Duration::hours(20),
                });
            }
            let (mime, content) = match *asset_type {
                "Promo Video" => ("video/mp4", "VIDEO"),
                "Audio Sample" => ("audio/mpeg", "AUDIO"),
                _ => ("image/jpeg", "BITMAP"),
            };
            // ISBN as typed in OTMM: mostly plain, some hyphenated; one in 97 carries a typo.
            let isbn = if i % 97 == 13 && k == 0 {
                let mut s = lead.isbn13.clone();
                let last = s.pop().and_then(|c| c.to_digit(10)).unwrap_or(0);
                s.push(char::from_digit((last + 1) % 10, 10).unwrap_or('0'));
                s
            } else if i % 4 == 1 {
                format!("{}-{}-{}", &lead.isbn13[..3], &lead.isbn13[3..9], &lead.isbn13[9..])
            } else {
                lead.isbn13.clone()
            };
            let (territory, expiration) = match (i + k) % 11 {
                2 => ("WORLD -US".to_string(), None),
                7 => ("GB IE".to_string(), None),
                // Expires within the month: the reconciler's expiry report must find these.
                9 => ("WORLD".to_string(), Some((self.now + Duration::days(20)).date_naive())),
                _ => ("WORLD".to_string(), None),
            };
            out.push(SeedAsset {
                original_asset_id: original,
                name: format!(
                    "{}_{}.{}",
                    lead.isbn13,
                    asset_type.to_lowercase().replace(' ', "_"),
                    &mime[6..]
                ),
                isbn,
                asset_type: asset_type.to_string(),
                mime_type: mime.to_string(),
                content_type: content.to_string(),
                imprint: work.imprint.clone(),
                versions: vs,
                territory,
                channels: if *asset_type == "Social Graphic" {
                    "social,retail_web".into()
                } else {
                    String::new()
                },
                expiration_date: expiration,
                embargo_until: None,
                deleted: false,
            });
        }
    }
}

/// Fixed "now" for reproducible fixtures: 2026-11-01T09:00:00Z.
pub fn fixture_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).single().unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_consistent() {
        let a = Catalogue::generate(200, 7, fixture_now());
        let b = Catalogue::generate(200, 7, fixture_now());
        assert_eq!(a, b);
        assert_eq!(a.works.len(), 200);
        // Every product ISBN is a valid ISBN-13 and unique.
        let mut isbns: Vec<&str> =
            a.works.iter().flat_map(|w| w.products.iter().map(|p| p.isbn13.as_str())).collect();
        assert!(isbns.iter().all(|i| Isbn13::parse(i).is_ok()));
        let n = isbns.len();
        isbns.sort();
        isbns.dedup();
        assert_eq!(isbns.len(), n);
        // Mixed states: approved, in review, invalid ISBNs, restricted and expiring rights.
        let versions = || a.assets.iter().flat_map(|x| x.versions.iter());
        assert!(versions().any(|v| v.approval_status == "Approved"));
        assert!(versions().any(|v| v.approval_status == "In Review"));
        assert!(a.assets.iter().any(|x| Isbn13::parse(&x.isbn).is_err()));
        assert!(a.assets.iter().any(|x| x.territory != "WORLD"));
        assert!(a.assets.iter().any(|x| x.expiration_date.is_some()));
        // Asset ids are 40 hex chars and unique.
        let ids: std::collections::BTreeSet<&str> = versions().map(|v| v.asset_id.as_str()).collect();
        assert_eq!(ids.len(), versions().count());
        assert!(ids.iter().all(|id| connector_core::AssetId::parse(id).is_ok()));
    }

    #[test]
    fn json_round_trip_and_load_errors_name_the_place() {
        let c = Catalogue::generate(5, 1, fixture_now());
        let dir = std::env::temp_dir().join(format!("catalogue-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        std::fs::write(&path, serde_json::to_string_pretty(&c).unwrap()).unwrap();
        assert_eq!(Catalogue::load(&path).unwrap(), c);
        std::fs::write(&path, "{\n  \"works\": [}").unwrap();
        let err = Catalogue::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
