use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Inner systems that count the writes that reach them (none may) and answer reads.
#[derive(Default)]
struct Counting {
    writes: AtomicUsize,
}

impl Counting {
    fn wrote(&self) -> Result<(), SystemError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn none<T>() -> Result<T, SystemError> {
    Err(SystemError::NotFound { system: "test", operation: "read", what: "anything".into() })
}

#[async_trait]
impl Dam for Counting {
    async fn asset(&self, asset_id: &AssetId) -> Result<AssetFacts, SystemError> {
        Ok(cover(asset_id))
    }
    async fn update_fields(&self, _: &AssetId, _: &[(String, String)]) -> Result<(), SystemError> {
        self.wrote()
    }
    fn content_url(&self, _: &AssetFacts) -> String {
        "https://otmm.example/content".into()
    }
    async fn changed_since(&self, _: DateTime<Utc>, _: u64, _: u64) -> Result<Vec<AssetFacts>, SystemError> {
        Ok(Vec::new())
    }
    async fn versions(&self, _: &AssetFacts) -> Result<Vec<AssetFacts>, SystemError> {
        Ok(Vec::new())
    }
    async fn content(&self, _: &AssetId) -> Result<Vec<u8>, SystemError> {
        Ok(b"jpeg".to_vec())
    }
    async fn titles_assets(&self, isbns: &[Isbn13]) -> Result<Vec<Vec<ObservedAsset>>, SystemError> {
        Ok(vec![Vec::new(); isbns.len()])
    }
    async fn find_request(&self, _: &str) -> Result<Option<OtmmRequestRef>, SystemError> {
        Ok(None)
    }
    async fn create_request(&self, _: &NewRequest) -> Result<OtmmRequestRef, SystemError> {
        self.wrote()?;
        Ok(OtmmRequestRef { kind: "folder".into(), id: "real".into() })
    }
    async fn update_request(&self, _: &OtmmRequestRef, _: &[(String, String)]) -> Result<(), SystemError> {
        self.wrote()
    }
    async fn content_stream(&self, _: &AssetId) -> Result<connector_store::ByteStream, SystemError> {
        none()
    }
}

#[async_trait]
impl Pms for Counting {
    async fn title_by_isbn(&self, _: &Isbn13) -> Result<Option<TitleFacts>, SystemError> {
        Ok(None)
    }
    async fn titles_of_work(&self, _: WorkId) -> Result<Vec<TitleFacts>, SystemError> {
        Ok(Vec::new())
    }
    async fn ensure_resource(&self, _: &ResourceRequest) -> Result<EnsuredResource, SystemError> {
        self.wrote()?;
        Ok(EnsuredResource { id: "1".into(), upload_url: None })
    }
    async fn upload(&self, _: &str, _: &str, _: &str, _: Vec<u8>) -> Result<(), SystemError> {
        self.wrote()
    }
    async fn ensure_web_links(&self, _: &WebLinkRequest) -> Result<String, SystemError> {
        self.wrote()?;
        Ok("weblink:1".into())
    }
    async fn works_changed_since(
        &self,
        _: NaiveDate,
        _: Option<i64>,
    ) -> Result<Vec<WorkChange>, SystemError> {
        Ok(Vec::new())
    }
    async fn resource_ids_of_work(&self, _: WorkId) -> Result<Vec<String>, SystemError> {
        Ok(vec!["41".into()])
    }
    async fn delete_resource(&self, _: &str) -> Result<(), SystemError> {
        self.wrote()
    }
    async fn delete_resources_marked(&self, _: WorkId, _: &str) -> Result<usize, SystemError> {
        self.wrote()?;
        Ok(1)
    }
    async fn work_schedule(&self, _: WorkId) -> Result<ScheduleFacts, SystemError> {
        none()
    }
    async fn ensure_web_link(&self, _: &Isbn13, _: &str, _: &str, _: &str) -> Result<String, SystemError> {
        self.wrote()?;
        Ok("7".into())
    }
}

/// A front cover whose ISBN field holds the hyphenated form, and no imprint.
fn cover(asset_id: &AssetId) -> AssetFacts {
    AssetFacts {
        asset_id: asset_id.clone(),
        lineage_id: asset_id.clone(),
        version: 1,
        deleted: false,
        name: "cover.jpg".into(),
        mime_type: "image/jpeg".into(),
        isbn_field: Some("978-1-80010-001-5".into()),
        asset_type_field: Some("Front Cover".into()),
        imprint_field: None,
        approved: true,
        approved_by: None,
        approved_at: None,
        rights: connector_core::AssetRights::unrestricted(),
        last_updated: DateTime::UNIX_EPOCH,
        missing_launch_fields: Vec::new(),
    }
}

fn example_config() -> Arc<MappingConfig> {
    Arc::new(
        MappingConfig::from_toml_str(
            include_str!("../../../../config/mapping.example.toml"),
            "mapping.example.toml",
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn a_planned_field_write_shows_in_later_reads() {
    let inner = Arc::new(Counting::default());
    let config = example_config();
    let (dam, _pms, _log) = wrap(inner.clone(), inner.clone(), config.clone());
    let asset = AssetId::parse("5e00000000000000000000000000000000000001").unwrap();
    let isbn = Isbn13::parse("9781800100015").unwrap();
    // Before: OTMM's search does not find the hyphenated ISBN (the inner answers none).
    assert!(dam.titles_assets(std::slice::from_ref(&isbn)).await.unwrap()[0].is_empty());
    let imprint = config.otmm.fields.imprint.clone().expect("the example maps the imprint");
    dam.update_fields(
        &asset,
        &[(config.otmm.fields.isbn.clone(), isbn.to_string()), (imprint, "Northlight".into())],
    )
    .await
    .unwrap();
    let facts = dam.asset(&asset).await.unwrap();
    assert_eq!(facts.isbn_field.as_deref(), Some("9781800100015"));
    assert_eq!(facts.imprint_field.as_deref(), Some("Northlight"));
    assert_eq!(dam.versions(&facts).await.unwrap(), Vec::<AssetFacts>::new());
    // After: the rewritten asset is among the title's assets, as the search would find it.
    let other = Isbn13::parse("9781800100022").unwrap();
    let both = dam.titles_assets(&[isbn.clone(), other]).await.unwrap();
    let found = &both[0];
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].lineage_id, asset);
    assert_eq!(Some(found[0].role), config.role_for("Front Cover"));
    // Another title's search (in the same call) is not changed by it.
    assert!(both[1].is_empty(), "{both:?}");
    assert_eq!(inner.writes.load(Ordering::SeqCst), 0);
}

fn resource(marker: &str, file: &str) -> ResourceRequest {
    ResourceRequest {
        work_id: WorkId(1000),
        product_ids: vec![ProductId(10020)],
        resource_variant: "Front cover".into(),
        status: "Final".into(),
        dedupe_marker: marker.into(),
        unlink_previous: true,
        file_url: "https://otmm.example/content".into(),
        file_name: file.into(),
        mime_type: "image/jpeg".into(),
        caption: "cover".into(),
        listed: None,
    }
}

#[tokio::test]
async fn writes_are_recorded_never_sent_and_found_again() {
    let inner = Arc::new(Counting::default());
    let (dam, pms, log) = wrap(inner.clone(), inner.clone(), example_config());
    let asset = AssetId::parse("5e00000000000000000000000000000000000001").unwrap();
    let isbn = Isbn13::parse("9781800100015").unwrap();
    dam.update_fields(&asset, &[("F".into(), "v".into())]).await.unwrap();
    let request =
        NewRequest { request_id: "9781800100015#front_cover".into(), name: "n".into(), fields: vec![] };
    let raised = dam.create_request(&request).await.unwrap();
    // Raised in this run: found again, and raised once only.
    assert_eq!(dam.find_request(&request.request_id).await.unwrap(), Some(raised.clone()));
    assert_eq!(dam.create_request(&request).await.unwrap(), raised);
    dam.update_request(&raised, &[("S".into(), "Open".into())]).await.unwrap();
    let first = pms.ensure_resource(&resource("otmm:a:v1:p10020", "c.jpg")).await.unwrap();
    assert!(first.id.starts_with("planned-"), "{first:?}");
    assert_eq!(pms.ensure_resource(&resource("otmm:a:v1:p10020", "c.jpg")).await.unwrap(), first);
    // A made-up resource is on its work for the rest of the run.
    let ids = pms.resource_ids_of_work(WorkId(1000)).await.unwrap();
    assert_eq!(ids, vec!["41".to_string(), first.id.clone()]);
    // A file the real adapter refuses is refused here too, before anything is recorded.
    let png = ResourceRequest { mime_type: "image/png".into(), ..resource("otmm:b:v1:p10020", "c.png") };
    assert!(pms.ensure_resource(&png).await.is_err());
    pms.delete_resource("41").await.unwrap();
    assert_eq!(pms.delete_resources_marked(WorkId(1000), "otmm:a:v").await.unwrap(), 0);
    pms.upload(&first.id, "https://up", "image/jpeg", vec![1, 2, 3]).await.unwrap();
    pms.ensure_web_link(&isbn, "https://x/titles/1/readiness", "01", "n").await.unwrap();
    pms.ensure_web_link(&isbn, "https://x/titles/1/readiness", "01", "n").await.unwrap();
    let links = WebLinkRequest {
        work_id: WorkId(1000),
        product_ids: vec![ProductId(10020)],
        website_role: "29".into(),
        link: "https://otmm.example/a.mp3#otmm:a:v1".into(),
        note: "n".into(),
    };
    pms.ensure_web_links(&links).await.unwrap();

    assert_eq!(inner.writes.load(Ordering::SeqCst), 0, "a write reached the real system");
    let kinds: Vec<String> = log
        .writes()
        .iter()
        .map(|w| serde_json::to_value(w).unwrap()["write"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "otmm_update_fields",
            "otmm_create_request",
            "otmm_update_request",
            "consonance_create_resource",
            "consonance_delete_resource",
            "consonance_delete_resources_marked",
            "consonance_upload",
            "consonance_create_web_link",
            "consonance_create_web_links",
        ]
    );
    // The update of a request raised in this run names the request, not a made-up id.
    assert!(
        matches!(&log.writes()[2], PlannedWrite::OtmmUpdateRequest { request, .. } if request == "9781800100015#front_cover")
    );
    assert_eq!(log.writes().iter().filter(|w| w.system() == "OTMM").count(), 3);
}
