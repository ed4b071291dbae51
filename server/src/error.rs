//! The server's one error type and its mapping to HTTP, in one place.
//!
//! Every non-2xx answer has the body `{"error": {"code", "message"}}`. Engine
//! errors map here; bad input is never a 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// What a client should wait before retrying a 503, in seconds (the `Retry-After` header):
/// overload and shutdown both pass within about that.
const RETRY_AFTER_SECS: &str = "1";

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }
    pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub(crate) fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }
    pub(crate) fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The error body for any status, for answers built outside a handler.
    pub(crate) fn for_status(status: StatusCode) -> ApiError {
        let (code, msg) = match status.as_u16() {
            400 => ("invalid", "the request is malformed"),
            401 => ("unauthorized", "a valid bearer token is required"),
            403 => ("forbidden", "not allowed"),
            404 => ("not_found", "no such resource"),
            405 => ("method_not_allowed", "method not allowed on this resource"),
            409 => ("conflict", "conflict"),
            413 => ("too_large", "the request body is too large"),
            415 => ("unsupported_media_type", "unsupported content type"),
            503 => ("unavailable", "the server is overloaded or shutting down"),
            s if s < 500 => ("invalid", "the request cannot be served"),
            _ => ("internal", "internal error"),
        };
        ApiError::new(status, code, msg)
    }

    pub(crate) fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        .unwrap_or_default()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.content_type("application/json");
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        res.body(self.body_bytes())
    }
}

impl From<hoist_engine::Error> for ApiError {
    fn from(e: hoist_engine::Error) -> ApiError {
        use hoist_engine::Error as E;
        match e {
            E::Invalid { .. } => ApiError::invalid(e.to_string()),
            E::NotFound { .. } => ApiError::not_found(e.to_string()),
            E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            E::Overloaded | E::ShuttingDown => ApiError::unavailable(e.to_string()),
            // Fail-stop after a storage failure: no write is taken until a restart; reads
            // still answer (`/healthz` says `degraded`).
            E::Poisoned(_) => ApiError::unavailable(format!(
                "{e}; writes are refused until the server is restarted"
            )),
            other => {
                tracing::error!(error = %other, "engine failure");
                ApiError::internal(other.to_string())
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> ApiError {
        ApiError::unavailable("the server is shutting down")
    }
}
