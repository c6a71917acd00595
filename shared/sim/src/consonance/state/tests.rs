use super::*;
use crate::catalogue::fixture_now;

fn state() -> State {
    State::from_catalogue(&Catalogue::generate(12, 3, fixture_now()), 5)
}

#[test]
fn pages_by_id_and_filters_changed_since() {
    let st = state();
    let first = st.works_page(&WorkFilter::default(), None, true);
    assert_eq!(first.len(), 5);
    let next = st.works_page(&WorkFilter { after: Some(first[4].id), ..Default::default() }, None, true);
    assert!(next[0].id > first[4].id);
    let cutoff = fixture_now().date_naive();
    assert!(
        st.works_page(&WorkFilter { changed_since: Some(cutoff), ..Default::default() }, None, true)
            .is_empty()
    );
}

#[test]
fn create_validates_and_unlinks_previous() {
    let mut st = state();
    let w = st.works.values().find(|w| w.product_ids.len() >= 2).cloned().unwrap();
    let base = NewResource {
        work_id: w.id,
        image_remote_url: Some("https://img.example/a.jpg".into()),
        resource_variant: Some("front_cover".into()),
        link_to_all_products: true,
        ..Default::default()
    };
    let a = st.create_resource(base.clone()).unwrap();
    assert_eq!(a.product_ids.len(), w.product_ids.len());
    let b = st
        .create_resource(NewResource {
            image_remote_url: Some("https://img.example/b.JPG?x=1".into()),
            unlink_previous: true,
            ..base.clone()
        })
        .unwrap();
    assert!(st.resources[&a.id].product_ids.is_empty());
    assert_eq!(b.filename.as_deref(), Some("b.JPG"));
    let png = NewResource { image_remote_url: Some("https://img.example/a.png".into()), ..base.clone() };
    assert!(
        matches!(st.create_resource(png), Err(StateError::Field { field: "imageRemoteUrl", message }) if message.contains("JPG"))
    );
    let mp3 =
        NewResource { image_remote_url: None, resource_file_name: Some("sample.mp3".into()), ..base.clone() };
    assert!(
        matches!(st.create_resource(mp3), Err(StateError::Field { field: "resourceFileName", message }) if message.contains("JPG"))
    );
    let foreign = NewResource { product_ids: Some(vec![1]), link_to_all_products: false, ..base.clone() };
    assert!(
        matches!(st.create_resource(foreign), Err(StateError::Field { message, .. }) if message.contains("does not belong"))
    );
    assert!(matches!(st.create_resource(NewResource { work_id: 1, ..base }), Err(StateError::NotFound(_))));
}

/// The indices answer what a scan of every record answers, after creates, unlinks,
/// deletions and ISBN changes.
#[test]
fn indexed_lookups_equal_a_scan() {
    let mut st = State::from_catalogue(&Catalogue::generate(40, 5, fixture_now()), 7);
    let works: Vec<WorkRec> = st.works.values().take(6).cloned().collect();
    for (i, w) in works.iter().enumerate() {
        for variant in ["front_cover", "back_cover", "front_cover"] {
            let first = w.product_ids[0];
            st.create_resource(NewResource {
                work_id: w.id,
                image_remote_url: Some(format!("https://img.example/{i}-{variant}.jpg")),
                resource_variant: Some(variant.into()),
                product_ids: (i % 2 == 0).then(|| vec![first]),
                link_to_all_products: i % 2 == 1,
                unlink_previous: true,
                ..Default::default()
            })
            .unwrap();
        }
        st.create_web_link(w.product_ids[0], format!("https://shop.example/{i}"), "01".into(), None).unwrap();
    }
    let gone = *st.resources.keys().nth(2).unwrap();
    st.delete_resource(gone).unwrap();
    let link = *st.web_links.keys().next().unwrap();
    st.delete_web_link(link).unwrap();
    let moved = works[1].product_ids[0];
    st.set_isbn(moved, Some("978-0-00-000000-2".into())).unwrap();

    for w in st.works.values() {
        let scan: Vec<ResourceRec> = st.resources.values().filter(|r| r.work_id == w.id).cloned().collect();
        assert_eq!(st.resources_of_work(w.id), scan);
        for p in &w.product_ids {
            let scan: Vec<ResourceRec> =
                st.resources.values().filter(|r| r.product_ids.contains(p)).cloned().collect();
            assert_eq!(st.resources_of_product(*p), scan);
            let scan: Vec<WebLinkRec> =
                st.web_links.values().filter(|l| l.product_id == *p).cloned().collect();
            assert_eq!(st.web_links_of_product(*p), scan);
        }
    }
    for p in st.products.values() {
        let Some(isbn) = &p.isbn13 else { continue };
        let f = ProductFilter { isbn13_eq: Some(isbn.clone()), ..Default::default() };
        let scan: Vec<ProductRec> =
            st.products.values().filter(|q| st.product_matches(q, &f)).cloned().collect();
        assert_eq!(st.products_page(&f, None, false), scan);
    }
    let f = ProductFilter { isbn13_eq: Some("9780000000002".into()), ..Default::default() };
    assert_eq!(st.products_page(&f, None, false).iter().map(|p| p.id).collect::<Vec<_>>(), vec![moved]);
    // Keyset pages from every position, and single ids.
    for after in [None, Some(works[2].id), Some(i64::MAX)] {
        let f = WorkFilter { after, ..Default::default() };
        let scan: Vec<WorkRec> =
            st.works.values().filter(|w| st.work_matches(w, &f)).take(st.page_size).cloned().collect();
        assert_eq!(st.works_page(&f, None, true), scan);
        let f = ProductFilter { after, ..Default::default() };
        let scan: Vec<ProductRec> =
            st.products.values().filter(|p| st.product_matches(p, &f)).take(st.page_size).cloned().collect();
        assert_eq!(st.products_page(&f, None, true), scan);
    }
    let f = WorkFilter { id_eq: Some(works[3].id), ..Default::default() };
    assert_eq!(st.works_page(&f, None, false), vec![st.works[&works[3].id].clone()]);
}
