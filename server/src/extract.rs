//! Request plumbing shared by every handler: the caller from the bearer token, bodies
//! read with a size limit and parsed with the offending field named, and query strings.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use hoist_engine::{Engine, Principal, UserId};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::metrics::Metrics;

/// What every handler can reach.
pub(crate) struct AppState {
    /// The engine.
    pub(crate) engine: Arc<Engine>,
    pub(crate) metrics: Metrics,
    pub(crate) openapi: String,
}

/// Shorthand for the shared state extractor.
pub(crate) type State = web::Data<AppState>;

/// Body size limits: 1 MiB, batches of events or items 16 MiB, files 8 MiB.
pub(crate) const BODY_LIMIT: usize = 1 << 20;
pub(crate) const BATCH_LIMIT: usize = 16 << 20;

/// The authenticated caller.
pub(crate) struct Caller(pub Principal);

/// What a handler takes when being signed in is the whole of its authorization: every
/// active user may read and change items, activities and comments, and read boards, users,
/// modules, feed preferences, the metrics and the OpenAPI document. Extracting it answers
/// 401 to a missing or unknown token; a handler that needs more (an admin, a member, the
/// caller's own id) takes [`Caller`].
pub(crate) type SignedIn = Caller;

impl Caller {
    pub(crate) fn user(&self) -> UserId {
        self.0.user
    }

    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an admin token"))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<State>()
        .ok_or_else(|| ApiError::internal("server state missing"))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
    state
        .engine
        .authenticate(token)
        .map(Caller)
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
}

/// A request body read up to a limit, with its declared content type.
pub(crate) struct Body {
    pub bytes: web::BytesMut,
    pub kind: BodyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    NdJson,
    Other,
}

fn body_kind(req: &HttpRequest) -> BodyKind {
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => BodyKind::Json,
        "application/x-ndjson" | "application/ndjson" => BodyKind::NdJson,
        _ => BodyKind::Other,
    }
}

/// Reads the body, refusing more than `limit` bytes with 413.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Body, ApiError> {
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(ApiError::too_large(format!(
                "the body may be at most {limit} bytes"
            )));
        }
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::invalid(format!("could not read the body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::too_large(format!(
                "the body may be at most {limit} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        kind: body_kind(req),
    })
}

/// Parses one JSON value, naming the field at fault on error.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::invalid(format!("body: {inner}"))
        } else {
            ApiError::invalid(format!("{path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| {
        ApiError::invalid(format!(
            "body: trailing characters after the JSON value ({e})"
        ))
    })?;
    Ok(value)
}

/// A JSON body: the content type must be `application/json`.
pub(crate) async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    if body_kind(req) != BodyKind::Json {
        return Err(ApiError::unsupported_media_type(
            "send Content-Type: application/json",
        ));
    }
    let body = read_body(req, payload, BODY_LIMIT).await?;
    parse_json(&body.bytes)
}

/// Parses a query string into `T`, naming the parameter at fault.
pub(crate) fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    let de =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(req.query_string().as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(format!("query {path}: {}", e.into_inner()))
    })
}

/// A path id: a positive integer.
pub(crate) fn id(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::not_found(format!("{what} {raw:?} not found")))
}

/// Runs a blocking engine call on the blocking pool.
pub(crate) fn blocking<T, F>(f: F) -> Pin<Box<dyn Future<Output = Result<T, ApiError>>>>
where
    F: FnOnce() -> Result<T, hoist_engine::Error> + Send + 'static,
    T: Send + 'static,
{
    Box::pin(async move { web::block(f).await?.map_err(ApiError::from) })
}

/// Treats an empty query value (`?responsible=`) as absent.
pub(crate) mod empty_as_none {
    use serde::{Deserialize, Deserializer};
    use std::str::FromStr;

    pub(crate) fn deserialize<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let s: Option<String> = Option::deserialize(d)?;
        match s.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v.parse::<T>().map(Some).map_err(serde::de::Error::custom),
        }
    }
}
