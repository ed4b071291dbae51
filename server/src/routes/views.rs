//! Kanban, column pages and the List view: served from memory under a read lock, without
//! the blocking pool, and serialized straight from the stored records.

use actix_web::{get, web, HttpRequest, HttpResponse};
use hoist_engine::{BoardId, ColumnId, DeadlineQuery, ListFilter, PageRequest, UserId};

use super::{item_page, json};
use crate::dto::items::{ItemPage, ItemsJson};
use crate::dto::views::{
    tz_minutes, DeadlineBucket, DeadlineBucketJson, DeadlineBucketQuery, Deadlines, DeadlinesJson,
    DeadlinesQuery, Kanban, KanbanColumnJson, KanbanJson, KanbanQuery, ListQuery,
};
use crate::dto::{ErrorBody, PageQuery};
use crate::error::ApiError;
use crate::extract::{id, query, SignedIn, State};
use crate::wire::DeadlineKey;

/// A page of one column in focus order (top first).
#[utoipa::path(tag = "views", security(("bearer" = [])),
    params(("id" = u64, Path), ("col" = u64, Path), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500, description = "1–500, default 50"),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ItemPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// GET /v1/boards/{id}/columns/{col}/items (scoped in `configure`)
#[get("/items")]
pub(crate) async fn column_items(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let bid = BoardId(id(&path.0, "board")?);
    let cid = ColumnId(id(&path.1, "column")?);
    let q: PageQuery = query(&req)?;
    let page = state.engine.column_page(bid, cid, &PageRequest::from(q))?;
    item_page(&page)
}

/// Every column with its counts and first `per_column` items (default 20).
#[utoipa::path(tag = "views", security(("bearer" = [])),
    params(("id" = u64, Path), ("per_column" = Option<usize>, Query, minimum = 1, maximum = 500, description = "1–500, default 20")),
    responses((status = 200, body = Kanban), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// GET /v1/boards/{id}/kanban (scoped in `configure`)
#[get("/kanban")]
pub(crate) async fn kanban(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let bid = BoardId(id(&path, "board")?);
    let q: KanbanQuery = query(&req)?;
    let cols = state.engine.kanban(bid, q.per_column.unwrap_or(20))?;
    json(
        actix_web::http::StatusCode::OK,
        &KanbanJson {
            columns: cols
                .iter()
                .map(|c| KanbanColumnJson {
                    id: c.id.0,
                    name: &c.name,
                    count: c.count,
                    unread: c.unread,
                    items: ItemsJson(&c.page.items),
                    next_cursor: c.page.next_cursor.as_deref(),
                })
                .collect(),
        },
    )
}

/// The List view: the board in focus order, filtered by responsible, unread, column.
#[utoipa::path(tag = "views", security(("bearer" = [])),
    params(("id" = u64, Path), ("responsible" = Option<u64>, Query), ("unread" = Option<bool>, Query),
           ("column" = Option<u64>, Query), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ItemPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// GET /v1/boards/{id}/items (scoped in `configure`)
#[get("/items")]
pub(crate) async fn list(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let bid = BoardId(id(&path, "board")?);
    let q: ListQuery = query(&req)?;
    let page = state.engine.list(
        bid,
        &ListFilter {
            responsible: q.responsible.map(UserId),
            unread: q.unread,
            column: q.column.map(ColumnId),
        },
        &PageRequest {
            limit: q.limit,
            cursor: q.cursor,
        },
    )?;
    item_page(&page)
}

/// The engine's query from the wire's `tz` and `responsible`.
fn deadline_query(tz: Option<&str>, responsible: Option<u64>) -> Result<DeadlineQuery, ApiError> {
    let tz_offset_minutes = match tz {
        None => 0,
        Some(t) => tz_minutes(t)
            .ok_or_else(|| ApiError::invalid("tz: a UTC offset such as +03:00, -05:30 or Z"))?,
    };
    Ok(DeadlineQuery {
        tz_offset_minutes,
        responsible: responsible.map(UserId),
    })
}

/// One bucket as JSON.
fn bucket_json(b: &hoist_engine::DeadlineBucketPage) -> DeadlineBucketJson<'_> {
    DeadlineBucketJson {
        key: b.bucket.into(),
        count: b.count,
        items: ItemsJson(&b.page.items),
        next_cursor: b.page.next_cursor.as_deref(),
    }
}

/// The Deadlines view: the board's items in buckets by the deadline of their next open
/// activity (`overdue`, `today`, `tomorrow`, `this_week`, `next_week`, `later`, `none`), for
/// the local days of `tz` (a UTC offset, default `+00:00`; weeks start on Monday); an
/// unread item sits in `today` unless overdue. Each bucket: its count and first
/// `per_bucket` items (default 20), earliest deadline first.
#[utoipa::path(tag = "views", security(("bearer" = [])),
    params(("id" = u64, Path),
           ("tz" = Option<String>, Query, pattern = r"^(Z|[+ ](0\d|1[0-3]):(00|15|30|45)|[+ ]14:00|-(0\d|1[01]):(00|15|30|45)|-12:00)$", description = "UTC offset, -12:00 to +14:00 in steps of 15 minutes; default +00:00"),
           ("responsible" = Option<u64>, Query),
           ("per_bucket" = Option<usize>, Query, minimum = 1, maximum = 500, description = "1–500, default 20")),
    responses((status = 200, body = Deadlines), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// GET /v1/boards/{id}/deadlines (scoped in `configure`)
#[get("/deadlines")]
pub(crate) async fn deadlines(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let bid = BoardId(id(&path, "board")?);
    let q: DeadlinesQuery = query(&req)?;
    let dq = deadline_query(q.tz.as_deref(), q.responsible)?;
    let buckets = state
        .engine
        .deadlines(bid, &dq, q.per_bucket.unwrap_or(20))?;
    json(
        actix_web::http::StatusCode::OK,
        &DeadlinesJson {
            buckets: buckets.iter().map(bucket_json).collect(),
        },
    )
}

/// One bucket of the Deadlines view, paged; each item carries its `next_deadline`.
#[utoipa::path(tag = "views", security(("bearer" = [])),
    params(("id" = u64, Path), ("key" = DeadlineKey, Path),
           ("tz" = Option<String>, Query, pattern = r"^(Z|[+ ](0\d|1[0-3]):(00|15|30|45)|[+ ]14:00|-(0\d|1[01]):(00|15|30|45)|-12:00)$", description = "UTC offset, -12:00 to +14:00 in steps of 15 minutes; default +00:00"),
           ("responsible" = Option<u64>, Query),
           ("limit" = Option<usize>, Query, minimum = 1, maximum = 500, description = "1–500, default 50"),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = DeadlineBucket), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// GET /v1/boards/{id}/deadlines/{key} (scoped in `configure`)
#[get("/deadlines/{key}")]
pub(crate) async fn deadline_bucket(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let bid = BoardId(id(&path.0, "board")?);
    let key: DeadlineKey = crate::wire::parse(&path.1).ok_or_else(|| {
        ApiError::invalid("key: one of overdue, today, tomorrow, this_week, next_week, later, none")
    })?;
    let q: DeadlineBucketQuery = query(&req)?;
    let dq = deadline_query(q.tz.as_deref(), q.responsible)?;
    let page = state.engine.deadline_bucket(
        bid,
        key.into(),
        &dq,
        &PageRequest {
            limit: q.limit,
            cursor: q.cursor,
        },
    )?;
    json(actix_web::http::StatusCode::OK, &bucket_json(&page))
}
