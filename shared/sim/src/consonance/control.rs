//! Control routes (`/__sim/consonance/...`): what a test reads from the simulated tenant and
//! the schedule, rights and ISBN changes it makes.

use super::*;

fn control_result<T: serde::Serialize>(r: Result<T, StateError>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e @ StateError::NotFound(_)) => {
            (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))).into_response()
        }
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"error": e.to_string()}))).into_response(),
    }
}

#[derive(Deserialize)]
struct StageBody {
    stage: String,
}
#[derive(Deserialize)]
struct DateBody {
    date: NaiveDate,
}
#[derive(Deserialize)]
struct RightsBody {
    worldwide: bool,
    #[serde(default)]
    for_sale: Vec<String>,
    #[serde(default)]
    not_for_sale: Vec<String>,
}
#[derive(Deserialize)]
struct IsbnBody {
    isbn13: Option<String>,
}

pub(super) fn control_router(app: App) -> Router {
    Router::new()
        .route(
            "/__sim/consonance/works/{id}",
            get(|AxState(app): AxState<App>, Path(id): Path<i64>| async move {
                control_result(
                    app.shared.lock().snapshot(id).ok_or_else(|| StateError::NotFound(format!("Work {id}"))),
                )
            }),
        )
        .route(
            "/__sim/consonance/works/{id}/project-stage",
            put(|AxState(app): AxState<App>, Path(id): Path<i64>, Json(b): Json<StageBody>| async move {
                control_result(app.shared.lock().set_project_stage(id, &b.stage))
            }),
        )
        .route(
            "/__sim/consonance/creates",
            get(|AxState(app): AxState<App>| async move { Json(app.shared.lock().creates.clone()) }),
        )
        .route(
            "/__sim/consonance/works/{id}/supporting-resources",
            get(|AxState(app): AxState<App>, Path(id): Path<i64>| async move {
                Json(app.shared.lock().resources_of_work(id))
            }),
        )
        .route(
            "/__sim/consonance/products/{id}/planned-publication-date",
            put(|AxState(app): AxState<App>, Path(id): Path<i64>, Json(b): Json<DateBody>| async move {
                control_result(app.shared.lock().set_planned_publication_date(id, b.date))
            }),
        )
        .route(
            "/__sim/consonance/products/{id}/sales-rights",
            put(|AxState(app): AxState<App>, Path(id): Path<i64>, Json(b): Json<RightsBody>| async move {
                control_result(app.shared.lock().set_sales_rights(
                    id,
                    b.worldwide,
                    b.for_sale,
                    b.not_for_sale,
                ))
            }),
        )
        .route(
            "/__sim/consonance/products/{id}/isbn",
            put(|AxState(app): AxState<App>, Path(id): Path<i64>, Json(b): Json<IsbnBody>| async move {
                control_result(app.shared.lock().set_isbn(id, b.isbn13))
            }),
        )
        .route(
            "/__sim/consonance/products/{id}/web-links",
            get(|AxState(app): AxState<App>, Path(id): Path<i64>| async move {
                Json(app.shared.lock().web_links_of_product(id))
            }),
        )
        .route(
            "/__sim/consonance/supporting-resources/{id}",
            delete(|AxState(app): AxState<App>, Path(id): Path<i64>| async move {
                control_result(app.shared.lock().delete_resource(id))
            }),
        )
        .with_state(app)
}
