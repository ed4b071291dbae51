//! Health, metrics and the OpenAPI document.

use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{get, post, HttpResponse};

use crate::dto::{ErrorBody, Health};
use crate::error::ApiError;
use crate::extract::{Caller, SignedIn, State};

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

/// A copy of the whole store, consistent at one change number, taken while writes go on
/// and streamed as it is read (admin). The stream's format is in docs/format.md ("Backup
/// stream"); `hoist backup --url … --to DIR` turns it into a data directory to start on.
/// A stream that ends without its trailer failed (the restore says so); one backup at a
/// time (409).
#[utoipa::path(tag = "system", security(("bearer" = [])),
    responses((status = 200, description = "the backup stream", content_type = "application/octet-stream"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
// POST /v1/admin/backup (scoped in `configure`)
#[post("/admin/backup")]
pub(crate) async fn backup(state: State, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    // Claimed here, so a second backup (or one after a storage failure) is refused before
    // the 200 is sent.
    let slot = state.engine.reserve_backup()?;
    // The copy is read on a thread of its own and handed over in chunks through a short
    // queue: a slow client slows the copy, never a worker.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let engine = Arc::clone(&state.engine);
    std::thread::Builder::new()
        .name("hoist-backup".into())
        .spawn(move || {
            let mut out = ChunkWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            match engine.backup_reserved(slot, &mut out) {
                Ok(info) => tracing::info!(
                    change = info.change,
                    rows = info.records,
                    bytes = info.bytes,
                    "backup streamed"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "backup failed");
                    // Ends the response early: the client finds no trailer.
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                }
            }
        })
        .map_err(|e| ApiError::internal(format!("cannot start the backup: {e}")))?;
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .streaming(body))
}

/// Bytes per chunk of a backup response.
const CHUNK: usize = 256 << 10;

/// A `Write` that hands full chunks to the response's queue, waiting while it is full.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}
