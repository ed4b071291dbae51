//! Health, metrics and the OpenAPI document.

use actix_web::{get, HttpResponse};

use crate::dto::{ErrorBody, Health};
use crate::error::ApiError;
use crate::extract::{SignedIn, State};

/// Liveness; the only route without a token. 503 `degraded` once a storage failure has
/// stopped the writes (reads still answer; a restart recovers what was acknowledged).
#[utoipa::path(tag = "system", responses((status = 200, body = Health),
    (status = 503, body = Health, description = "degraded: writes stopped after a storage failure")))]
#[get("/healthz")]
pub(crate) async fn healthz(state: State) -> Result<HttpResponse, ApiError> {
    use actix_web::http::StatusCode;
    match state.engine.health() {
        hoist_engine::Health::Ok => super::json(
            StatusCode::OK,
            &Health {
                status: "ok",
                reason: None,
                error: None,
            },
        ),
        hoist_engine::Health::WritesStopped { reason } => {
            let message = format!("writes are stopped after a storage failure: {reason}");
            super::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &Health {
                    status: "degraded",
                    reason: Some(reason),
                    error: Some(crate::dto::ErrorInner {
                        code: "unavailable".into(),
                        message,
                    }),
                },
            )
        }
    }
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
