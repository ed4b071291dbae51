//! Gateway events: one at a time, or batches of up to 10,000 as a JSON array or NDJSON.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use hoist_engine::{BoardId, IngestResult, NewEvent};

use super::items::split_batch;
use super::json;
use crate::dto::events::{EventBatchOut, EventBatchQuery, EventIn, EventResult};
use crate::dto::{ErrorBody, ErrorInner};
use crate::error::ApiError;
use crate::extract::{json_body, parse_json, query, read_body, Caller, State, BATCH_LIMIT};
use crate::wire::EventStatus;

fn result(index: Option<usize>, r: Result<IngestResult, ApiError>) -> EventResult {
    match r {
        Ok(x) => EventResult {
            index,
            status: x.status.into(),
            item: x.item.map(|i| i.0),
            error: None,
        },
        Err(e) => EventResult {
            index,
            status: EventStatus::Rejected,
            item: None,
            error: Some(ErrorInner {
                code: e.code.to_string(),
                message: e.message,
            }),
        },
    }
}

/// One event → 201 with its status (`accepted`, `duplicate` or `unmatched`); an invalid
/// event is a 400. `?intake_board=` works as for batches.
#[utoipa::path(tag = "events", security(("bearer" = [])), request_body = EventIn,
    params(("intake_board" = Option<u64>, Query, description = "an unmatched contact becomes a new item on this board")),
    responses((status = 201, body = EventResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// POST /v1/events (scoped in `configure`)
#[post("/events")]
pub(crate) async fn ingest_one(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let q: EventBatchQuery = query(&req)?;
    let b: EventIn = json_body(&req, payload).await?;
    let ev = b.into_event()?;
    let intake = q.intake_board.map(BoardId);
    let mut out = caller
        .submit(&state, move |engine, actor| {
            engine.ingest_async(actor, vec![ev], intake)
        })
        .await?;
    let r = out
        .pop()
        .ok_or_else(|| ApiError::internal("no result for the event"))?
        .map_err(ApiError::from)?;
    json(StatusCode::CREATED, &result(None, Ok(r)))
}

/// A batch of events with one group commit; each gets its own result, and a malformed
/// element or NDJSON line is `rejected` without stopping the others.
#[utoipa::path(tag = "events", security(("bearer" = [])),
    params(("intake_board" = Option<u64>, Query, description = "unmatched contacts become new items on this board")),
    request_body(content = Vec<EventIn>, content_type = "application/json"),
    responses((status = 200, body = EventBatchOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
// POST /v1/events/batch (scoped in `configure`)
#[post("/events/batch")]
pub(crate) async fn ingest_batch(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let q: EventBatchQuery = query(&req)?;
    let body = read_body(&req, payload, BATCH_LIMIT).await?;
    let parts = split_batch(&body.bytes, body.kind)?;
    let mut results: Vec<Option<EventResult>> = Vec::with_capacity(parts.len());
    let mut valid: Vec<NewEvent> = Vec::with_capacity(parts.len());
    let mut slots = Vec::with_capacity(parts.len());
    for (index, part) in parts.into_iter().enumerate() {
        match part
            .and_then(parse_json::<EventIn>)
            .and_then(EventIn::into_event)
        {
            Ok(ev) => {
                slots.push(index);
                valid.push(ev);
                results.push(None);
            }
            Err(e) => results.push(Some(result(Some(index), Err(e)))),
        }
    }
    let intake = q.intake_board.map(BoardId);
    let outcomes = caller
        .submit_batch(&state, valid.len(), move |engine, actor| {
            engine.ingest_async(actor, valid, intake)
        })
        .await?;
    for (index, outcome) in slots.into_iter().zip(outcomes) {
        if let Some(cell) = results.get_mut(index) {
            *cell = Some(result(Some(index), outcome.map_err(ApiError::from)));
        }
    }
    let results: Vec<EventResult> = results.into_iter().flatten().collect();
    let count = |s: EventStatus| results.iter().filter(|r| r.status == s).count();
    json(
        StatusCode::OK,
        &EventBatchOut {
            accepted: count(EventStatus::Accepted),
            duplicates: count(EventStatus::Duplicate),
            unmatched: count(EventStatus::Unmatched),
            rejected: count(EventStatus::Rejected),
            results,
        },
    )
}
