//! Health, metrics and the OpenAPI document.

use actix_web::{get, HttpResponse};

use crate::dto::{ErrorBody, Health};
use crate::error::ApiError;
use crate::extract::{SignedIn, State};

/// Liveness; the only route without a token.
#[utoipa::path(tag = "system", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub(crate) async fn healthz() -> Result<HttpResponse, ApiError> {
    super::json(actix_web::http::StatusCode::OK, &Health { status: "ok" })
}

/// Prometheus text format: requests by route, engine numbers.
#[utoipa::path(tag = "system", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
              (status = 401, body = ErrorBody)))]
#[get("/metrics")]
pub(crate) async fn metrics(state: State, _signed_in: SignedIn) -> Result<HttpResponse, ApiError> {
    let text = state
        .metrics
        .render(&state.engine.stats(), &state.admission, &state.streams);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}

/// This document.
#[utoipa::path(tag = "system", security(("bearer" = [])),
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json"),
              (status = 401, body = ErrorBody)))]
#[get("/openapi.json")]
pub(crate) async fn openapi(state: State, _signed_in: SignedIn) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone()))
}
