//! Kanban, column pages and the List view: served from memory under a read lock, without
//! the blocking pool, and serialized straight from the stored records.

use actix_web::{get, web, HttpRequest, HttpResponse};
use hoist_engine::{BoardId, ColumnId, ListFilter, PageRequest, UserId};

use super::{item_page, json};
use crate::dto::items::{ItemPage, ItemsJson};
use crate::dto::views::{Kanban, KanbanColumnJson, KanbanJson, KanbanQuery, ListQuery};
use crate::dto::{ErrorBody, PageQuery};
use crate::error::ApiError;
use crate::extract::{id, query, SignedIn, State};

/// A page of one column in focus order (top first).
#[utoipa::path(tag = "views", security(("bearer" = [])),
    params(("id" = u64, Path), ("col" = u64, Path), ("limit" = Option<usize>, Query, minimum = 1, maximum = 500, description = "1–500, default 50"),
           ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ItemPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
#[get("/v1/boards/{id}/columns/{col}/items")]
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
#[get("/v1/boards/{id}/kanban")]
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
#[get("/v1/boards/{id}/items")]
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
