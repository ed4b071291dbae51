//! Storage failpoints over HTTP, for tests of disk faults against a real server process.
//! Compiled only with the `failpoints` feature (the test build's); a release build has no
//! such route. Admin-only, and outside the OpenAPI document: it is not part of the API.
//!
//! `PUT /v1/admin/failpoints/{name}` with the `fail` crate's action text as the body
//! (`return(enospc)`, `return`, `off`, `3*off->return`), `DELETE` to disarm. The names are
//! the engine's `store::apply`, `store::flush` and `store::read`.

use actix_web::{web, HttpResponse};

use crate::error::ApiError;
use crate::extract::Caller;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/admin/failpoints/{name}", web::put().to(arm))
        .route("/v1/admin/failpoints/{name}", web::delete().to(disarm));
}

async fn arm(
    caller: Caller,
    name: web::Path<String>,
    actions: String,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    fail::cfg(name.as_str(), actions.trim())
        .map_err(|e| ApiError::invalid(format!("body: {e}")))?;
    tracing::warn!(failpoint = %name, actions = %actions.trim(), "failpoint armed");
    Ok(HttpResponse::NoContent().finish())
}

async fn disarm(caller: Caller, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    fail::remove(name.as_str());
    Ok(HttpResponse::NoContent().finish())
}
