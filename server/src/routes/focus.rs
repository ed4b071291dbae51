//! Focus mode over HTTP: timelines, comments, notes, activities, counters.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use hoist_engine::{
    ActivityFilter, ActivityId, ActivityPatch, ActivityState, BoardId, ItemId, NewActivity,
    PageRequest, UserId,
};

use super::json;
use crate::dto::focus::{
    ActivitiesQuery, ActivityOut, ActivityPage, ActivityStateFilter, CountersOut, CountersQuery,
    CreateActivity, CreateComment, CreateNote, PatchActivity, TimelineEntryOut, TimelinePage,
};
use crate::dto::{parse_time, ErrorBody, PageQuery};
use crate::error::ApiError;
use crate::extract::{id, json_body, query, read, run, submit, Caller, SignedIn, State};
use crate::wire::{self, ActivityStateIo};

/// An item's timeline, newest first.
#[utoipa::path(tag = "focus", security(("bearer" = [])),
    params(("id" = u64, Path), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = TimelinePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// GET /v1/items/{id}/timeline (scoped in `configure`)
#[get("/timeline")]
pub(crate) async fn timeline(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    let q: PageQuery = query(&req)?;
    let page = read(&state, move |engine| {
        engine.timeline(iid, &PageRequest::from(q))
    })
    .await?;
    json(
        StatusCode::OK,
        &TimelinePage {
            items: page.items.into_iter().map(TimelineEntryOut::from).collect(),
            next_cursor: page.next_cursor,
        },
    )
}

/// A comment; by anyone but the item's responsible it brings the item to the top
/// (focus `comment`, attention +1).
#[utoipa::path(tag = "focus", security(("bearer" = [])), params(("id" = u64, Path)), request_body = CreateComment,
    responses((status = 201, body = TimelineEntryOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// POST /v1/items/{id}/comments (scoped in `configure`)
#[post("/comments")]
pub(crate) async fn comment(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    let b: CreateComment = json_body(&req, payload).await?;
    let e = caller
        .submit(&state, move |engine, actor| {
            engine.comment_async(
                actor,
                iid,
                b.text,
                b.mentions.map(Into::into).unwrap_or_default(),
            )
        })
        .await?;
    json(StatusCode::CREATED, &TimelineEntryOut::from(e))
}

/// A note: timeline only, never a focus.
#[utoipa::path(tag = "focus", security(("bearer" = [])), params(("id" = u64, Path)), request_body = CreateNote,
    responses((status = 201, body = TimelineEntryOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// POST /v1/items/{id}/notes (scoped in `configure`)
#[post("/notes")]
pub(crate) async fn note(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    let b: CreateNote = json_body(&req, payload).await?;
    let e = caller
        .run(&state, move |engine, actor| engine.note(actor, iid, b.text))
        .await?;
    json(StatusCode::CREATED, &TimelineEntryOut::from(e))
}

/// Creates an activity and arms its reminders and deadline.
#[utoipa::path(tag = "focus", security(("bearer" = [])), params(("id" = u64, Path)), request_body = CreateActivity,
    responses((status = 201, body = ActivityOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// POST /v1/items/{id}/activities (scoped in `configure`)
#[post("/activities")]
pub(crate) async fn create_activity(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    let b: CreateActivity = json_body(&req, payload).await?;
    let new = NewActivity {
        kind: b.kind.into(),
        subject: b.subject,
        deadline: parse_time("deadline", &b.deadline)?,
        responsible: b.responsible.map(UserId),
        remind_before_minutes: b.remind_before_minutes,
    };
    let a = caller
        .submit(&state, move |engine, actor| {
            engine.create_activity_async(actor, iid, new)
        })
        .await?;
    json(StatusCode::CREATED, &ActivityOut::from(a))
}

/// One activity.
#[utoipa::path(tag = "focus", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = ActivityOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// GET /v1/activities/{id} (scoped in `configure`)
#[get("")]
pub(crate) async fn get_activity(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let aid = ActivityId(id(&path, "activity")?);
    json(
        StatusCode::OK,
        &ActivityOut::from(state.engine.activity(aid)?),
    )
}

/// Changes an activity; a new deadline or new offsets re-arm it.
#[utoipa::path(tag = "focus", security(("bearer" = [])), params(("id" = u64, Path)), request_body = PatchActivity,
    responses((status = 200, body = ActivityOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// PATCH /v1/activities/{id} (scoped in `configure`)
#[patch("")]
pub(crate) async fn patch_activity(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let aid = ActivityId(id(&path, "activity")?);
    let b: PatchActivity = json_body(&req, payload).await?;
    let patch = ActivityPatch {
        subject: b.subject,
        deadline: b
            .deadline
            .as_deref()
            .map(|d| parse_time("deadline", d))
            .transpose()?,
        remind_before_minutes: b.remind_before_minutes,
    };
    let a = run(&state, move |engine| engine.patch_activity(aid, patch)).await?;
    json(StatusCode::OK, &ActivityOut::from(a))
}

/// Completes an activity: its timers are cancelled and it is no longer overdue.
#[utoipa::path(tag = "focus", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = ActivityOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// POST /v1/activities/{id}/complete (scoped in `configure`)
#[post("/complete")]
pub(crate) async fn complete_activity(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let aid = ActivityId(id(&path, "activity")?);
    let a = submit(&state, move |engine| engine.complete_activity_async(aid)).await?;
    json(StatusCode::OK, &ActivityOut::from(a))
}

/// Deletes an activity and cancels its timers.
#[utoipa::path(tag = "focus", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// DELETE /v1/activities/{id} (scoped in `configure`)
#[delete("")]
pub(crate) async fn delete_activity(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let aid = ActivityId(id(&path, "activity")?);
    run(&state, move |engine| engine.delete_activity(aid)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The Activities view: open activities by deadline. Without `responsible` and `board`,
/// the caller's own.
#[utoipa::path(tag = "focus", security(("bearer" = [])),
    params(("responsible" = Option<u64>, Query), ("board" = Option<u64>, Query),
           ("state" = inline(Option<ActivityStateFilter>), Query, description = "overdue | due_soon | planned"),
           ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ActivityPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// GET /v1/activities (scoped in `configure`)
#[get("")]
pub(crate) async fn list_activities(
    state: State,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: ActivitiesQuery = query(&req)?;
    let st = match q.state.as_deref() {
        None => None,
        Some(s) => match wire::parse::<ActivityStateIo>(s) {
            Some(
                io @ (ActivityStateIo::Overdue
                | ActivityStateIo::DueSoon
                | ActivityStateIo::Planned),
            ) => Some(ActivityState::from(io)),
            _ => {
                return Err(ApiError::invalid(format!(
                    "query state: {s:?} is not overdue, due_soon or planned"
                )))
            }
        },
    };
    let responsible = match (q.responsible, q.board) {
        (None, None) => Some(caller.user()),
        (r, _) => r.map(UserId),
    };
    let filter = ActivityFilter {
        responsible,
        board: q.board.map(BoardId),
        state: st,
    };
    let page = state.engine.activities(
        &filter,
        &PageRequest {
            limit: q.limit,
            cursor: q.cursor,
        },
    )?;
    json(
        StatusCode::OK,
        &ActivityPage {
            items: page.items.into_iter().map(ActivityOut::from).collect(),
            next_cursor: page.next_cursor,
        },
    )
}

/// A user's counters as responsible (default: the caller).
#[utoipa::path(tag = "focus", security(("bearer" = [])), params(("user" = Option<u64>, Query)),
    responses((status = 200, body = CountersOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// GET /v1/counters (scoped in `configure`)
#[get("/counters")]
pub(crate) async fn counters(
    state: State,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: CountersQuery = query(&req)?;
    let user = q.user.map_or(caller.user(), UserId);
    json(
        StatusCode::OK,
        &CountersOut::from(state.engine.counters(user)?),
    )
}
