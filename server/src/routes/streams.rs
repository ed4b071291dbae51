//! Live streams (Server-Sent Events) and their tickets; the work is in `crate::streams`.

use std::sync::Arc;

use super::json;
use crate::dto::streams::{StreamQuery, TicketOut};
use crate::dto::{time, ErrorBody};
use crate::error::ApiError;
use crate::extract::{bearer, id, query, Caller, State};
use crate::streams::{Follower, Topic};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use hoist_engine::{BoardId, Principal};

/// A single-use ticket, valid 60 s, that opens one stream of the caller's without the
/// `Authorization` header (for a browser's `EventSource`). The stream it opens ends when
/// the token it was issued against stops working.
#[utoipa::path(tag = "streams", security(("bearer" = [])),
    responses((status = 201, body = TicketOut), (status = 401, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
// POST /v1/streams/ticket (scoped in `configure`)
#[post("/streams/ticket")]
pub(crate) async fn ticket(
    state: State,
    _caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req)?;
    let (ticket, life) = state.streams.issue_ticket(token)?;
    let expires = chrono::Utc::now() + life;
    json(
        StatusCode::CREATED,
        &TicketOut {
            ticket,
            expires_at: time(hoist_engine::Millis(expires.timestamp_millis())),
        },
    )
}

/// Item changes of a board as they are committed: `item.created`, `item.updated`,
/// `item.focused`, `item.moved`, `item.read` (data: the item) and `item.deleted` (data:
/// `{id, board}`), each with `id:` its change number.
#[utoipa::path(tag = "streams", security(("bearer" = [])), params(("id" = u64, Path), StreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, nullable = false, description = "resume after this change number")),
    responses((status = 200, content_type = "text/event-stream", body = crate::dto::streams::StreamEvent),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// GET /v1/boards/{id}/stream (scoped in `configure`)
#[get("/stream")]
pub(crate) async fn board_stream(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let board = BoardId(id(&path, "board")?);
    let opening = open(&state, &req)?;
    state.engine.board(board)?;
    let (who, token, after) = opening.take(&state)?;
    Ok(respond(&state, Topic::Board(board), who, token, after))
}

/// New entries of the caller's wall (`event: entry`, data: the entry as the wall shows
/// it), and `event: counters` with the caller's counters when they change (at most every
/// 250 ms).
#[utoipa::path(tag = "streams", security(("bearer" = [])), params(StreamQuery,
        ("Last-Event-ID" = Option<u64>, Header, nullable = false, description = "resume after this change number")),
    responses((status = 200, content_type = "text/event-stream", body = crate::dto::streams::StreamEvent),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// GET /v1/feed/stream (scoped in `configure`)
#[get("/stream")]
pub(crate) async fn feed_stream(state: State, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (who, token, after) = open(&state, &req)?.take(&state)?;
    Ok(respond(&state, Topic::Feed(who.user), who, token, after))
}

/// A stream about to open: who, with which token, from which change, and the ticket to
/// use up once the rest of the request is known to be good (a ticket is not spent on a
/// request that fails).
struct Opening {
    who: Principal,
    token: String,
    after: u64,
    ticket: Option<String>,
}

impl Opening {
    fn take(self, state: &State) -> Result<(Principal, String, u64), ApiError> {
        if let Some(t) = &self.ticket {
            if !state.streams.redeem(t) {
                return Err(ApiError::unauthorized("unknown, used or expired ticket"));
            }
        }
        Ok((self.who, self.token, self.after))
    }
}

/// Who opens the stream (by ticket or token), with that token, and the change number to
/// follow from.
fn open(state: &State, req: &HttpRequest) -> Result<Opening, ApiError> {
    let q: StreamQuery = query(req)?;
    let header = req
        .headers()
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| ApiError::invalid("Last-Event-ID: expected a change number"))
        })
        .transpose()?;
    let token = match &q.ticket {
        Some(t) => state
            .streams
            .peek(t)
            .ok_or_else(|| ApiError::unauthorized("unknown, used or expired ticket"))?,
        None => bearer(req)?.to_string(),
    };
    let who = state
        .engine
        .authenticate(&token)
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
    let after = header
        .or(q.last_event_id)
        .unwrap_or_else(|| state.engine.last_change());
    Ok(Opening {
        who,
        token,
        after,
        ticket: q.ticket,
    })
}

fn respond(state: &State, topic: Topic, who: Principal, token: String, after: u64) -> HttpResponse {
    let follower = Follower::new(
        Arc::clone(&state.engine),
        Arc::clone(&state.streams),
        Arc::clone(&state.admission),
        topic,
        who.user,
        token,
        after,
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(follower.into_body())
}
