//! REST v4 (`GET /api/v4/products.json`, token auth, numbered pages): the read-only product
//! API, in the shape of consonance.app/docs/product-api/.

use super::*;

/// REST v4 products (consonance.app/docs/product-api/): a page envelope of snake_case products.
pub(super) async fn rest_products(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !token_ok(&headers, &app.api_key) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "Unauthorized: send Authorization: Token token=<key>"})),
        )
            .into_response();
    }
    let bad = |name: &str, v: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": format!("{name}={v:?} is not a positive integer")})))
            .into_response()
    };
    let page = match q.get("page").map(|v| (v, v.parse::<usize>())) {
        None => 1,
        Some((_, Ok(n))) if n > 0 => n,
        Some((v, _)) => return bad("page", v),
    };
    let id_eq = match q.get("q[id_eq]").map(|v| (v, v.parse::<i64>())) {
        None => None,
        Some((_, Ok(n))) => Some(n),
        Some((v, Err(_))) => return bad("q[id_eq]", v),
    };
    let work_title_cont = q.get("q[work_title_cont]");
    let st = app.shared.lock();
    let filter = ProductFilter { id_eq, isbn13_eq: q.get("q[isbn_eq]").cloned(), ..Default::default() };
    let all: Vec<&ProductRec> = st
        .products
        .values()
        .filter(|p| st.product_matches(p, &filter))
        .filter(|p| {
            work_title_cont.is_none_or(|t| {
                st.works.get(&p.work_id).is_some_and(|w| w.title.to_lowercase().contains(&t.to_lowercase()))
            })
        })
        .collect();
    let per_page = st.page_size;
    let total_pages = all.len().div_ceil(per_page).max(1);
    let products: Vec<Value> =
        all.iter().skip((page - 1) * per_page).take(per_page).map(|p| rest_product(&st, p)).collect();
    Json(json!({
        "current_page": page,
        "per_page": per_page,
        "total_pages": total_pages,
        "url": format!("{}/api/v4/products.json?page={page}", app.base_url),
        "products": products,
    }))
    .into_response()
}

pub(super) fn rest_product(st: &State, p: &ProductRec) -> Value {
    let work = st.works.get(&p.work_id);
    let resources: Vec<Value> = st
        .resources_of_product(p.id)
        .iter()
        .map(|r| {
            let url = r.image_remote_url.clone().unwrap_or_default();
            json!({"id": r.id, "caption": r.caption, "style_urls": [
                {"style": "jpg_rgb_0650h", "url": url},
                {"style": "original", "url": url},
            ]})
        })
        .collect();
    let weblinks: Vec<Value> = st
        .web_links_of_product(p.id)
        .iter()
        .map(|l| json!({"id": l.id, "url": l.link, "role": l.role.trim_start_matches('_'), "note": l.note}))
        .collect();
    json!({
        "id": p.id,
        "work_id": p.work_id,
        "full_title": p.full_title,
        "subtitle": work.and_then(|w| w.subtitle.clone()),
        "isbn": p.isbn13.clone().unwrap_or_else(|| "No ISBN".to_string()),
        "pub_date": p.publication_date.or(p.planned_publication_date),
        "publishing_status": p.publishing_status,
        "product_form": p.product_form,
        "in_house_format": p.in_house_format,
        "imprint": work.map(|w| w.imprint.clone()),
        "weblinks": weblinks,
        "prices": [],
        "supportingresources": resources,
        "rights_not_available_countries": p.not_for_sale,
        "all_related_products": st.products_of_work(p.work_id).iter().filter(|o| o.id != p.id).map(|o| json!({
            "relation_code": "06",
            "isbn": o.isbn13.clone().unwrap_or_else(|| "No ISBN".to_string()),
        })).collect::<Vec<_>>(),
    })
}
