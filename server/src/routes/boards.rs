//! Boards and columns (admin writes).

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use hoist_engine::{BoardId, BoardPatch, ColumnId, ColumnPatch, ColumnPosition, NewBoard};

use super::json;
use crate::dto::boards::{
    BoardOut, ColumnOut, CreateBoard, CreateColumn, DeleteColumnQuery, PatchBoard, PatchColumn,
};
use crate::dto::{ErrorBody, ListPage, PageQuery};
use crate::error::ApiError;
use crate::extract::{id, json_body, query, run, Caller, SignedIn, State};

fn position(after: Option<u64>) -> Option<ColumnPosition> {
    after.map(|a| {
        if a == 0 {
            ColumnPosition::First
        } else {
            ColumnPosition::After(ColumnId(a))
        }
    })
}

/// Creates a board with its columns (admin).
#[utoipa::path(tag = "boards", security(("bearer" = [])), request_body = CreateBoard,
    responses((status = 201, body = BoardOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
// POST /v1/boards (scoped in `configure`)
#[post("")]
pub(crate) async fn create_board(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let b: CreateBoard = json_body(&req, payload).await?;
    let board = run(&state, move |engine| {
        engine.create_board(NewBoard {
            module: b.module,
            name: b.name,
            columns: b.columns.into_iter().map(|c| c.name).collect(),
            focus_enabled: b.focus_enabled,
            focus_lead_minutes: b.focus_lead_minutes,
            counter_mode: b.counter_mode.map(Into::into),
        })
    })
    .await?;
    json(StatusCode::CREATED, &BoardOut::from(board))
}

/// Every board.
#[utoipa::path(tag = "boards", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = ListPage<BoardOut>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
// GET /v1/boards (scoped in `configure`)
#[get("")]
pub(crate) async fn list_boards(
    state: State,
    _signed_in: SignedIn,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q: PageQuery = query(&req)?;
    let boards: Vec<BoardOut> = state
        .engine
        .boards()
        .into_iter()
        .map(BoardOut::from)
        .collect();
    json(StatusCode::OK, &ListPage::of(boards, |b| b.id, q)?)
}

/// One board.
#[utoipa::path(tag = "boards", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = BoardOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// GET /v1/boards/{id} (scoped in `configure`)
#[get("")]
pub(crate) async fn get_board(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let bid = BoardId(id(&path, "board")?);
    json(StatusCode::OK, &BoardOut::from(state.engine.board(bid)?))
}

/// Follow every record of a board, present and future (reason `board`); a record the
/// caller unfollowed stays unfollowed.
#[utoipa::path(tag = "boards", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// PUT /v1/boards/{id}/follow (scoped in `configure`)
#[put("/follow")]
pub(crate) async fn follow_board(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let bid = BoardId(id(&path, "board")?);
    caller
        .run(&state, move |engine, user| engine.follow_board(user, bid))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Stop following a board whole (records followed for another reason stay followed).
#[utoipa::path(tag = "boards", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// DELETE /v1/boards/{id}/follow (scoped in `configure`)
#[delete("/follow")]
pub(crate) async fn unfollow_board(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let bid = BoardId(id(&path, "board")?);
    caller
        .run(&state, move |engine, user| engine.unfollow_board(user, bid))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes a board's name, focus settings or counter mode (admin).
#[utoipa::path(tag = "boards", security(("bearer" = [])), params(("id" = u64, Path)), request_body = PatchBoard,
    responses((status = 200, body = BoardOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
// PATCH /v1/boards/{id} (scoped in `configure`)
#[patch("")]
pub(crate) async fn patch_board(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let bid = BoardId(id(&path, "board")?);
    let b: PatchBoard = json_body(&req, payload).await?;
    let board = run(&state, move |engine| {
        engine.patch_board(
            bid,
            BoardPatch {
                name: b.name,
                focus_enabled: b.focus_enabled,
                focus_lead_minutes: b.focus_lead_minutes,
                counter_mode: b.counter_mode.map(Into::into),
            },
        )
    })
    .await?;
    json(StatusCode::OK, &BoardOut::from(board))
}

/// Adds a column (admin); `after: 0` puts it first, no `after` at the end.
#[utoipa::path(tag = "boards", security(("bearer" = [])), params(("id" = u64, Path)), request_body = CreateColumn,
    responses((status = 201, body = ColumnOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
// POST /v1/boards/{id}/columns (scoped in `configure`)
#[post("")]
pub(crate) async fn create_column(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let bid = BoardId(id(&path, "board")?);
    let b: CreateColumn = json_body(&req, payload).await?;
    let c = run(&state, move |engine| {
        engine.add_column(bid, b.name, position(b.after))
    })
    .await?;
    json(
        StatusCode::CREATED,
        &ColumnOut {
            id: c.id.0,
            name: c.name,
        },
    )
}

/// Renames or reorders a column (admin); `after: 0` moves it first.
#[utoipa::path(tag = "boards", security(("bearer" = [])), params(("id" = u64, Path), ("col" = u64, Path)), request_body = PatchColumn,
    responses((status = 200, body = ColumnOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
// PATCH /v1/boards/{id}/columns/{col} (scoped in `configure`)
#[patch("")]
pub(crate) async fn patch_column(
    state: State,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let bid = BoardId(id(&path.0, "board")?);
    let cid = ColumnId(id(&path.1, "column")?);
    let b: PatchColumn = json_body(&req, payload).await?;
    let c = run(&state, move |engine| {
        engine.patch_column(
            bid,
            cid,
            ColumnPatch {
                name: b.name,
                position: position(b.after),
            },
        )
    })
    .await?;
    json(
        StatusCode::OK,
        &ColumnOut {
            id: c.id.0,
            name: c.name,
        },
    )
}

/// Deletes a column (admin): 409 unless empty, or `?move_to=<col>` moves its items first,
/// keeping their order, below the target column's items.
#[utoipa::path(tag = "boards", security(("bearer" = [])),
    params(("id" = u64, Path), ("col" = u64, Path), ("move_to" = Option<u64>, Query)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
// DELETE /v1/boards/{id}/columns/{col} (scoped in `configure`)
#[delete("")]
pub(crate) async fn delete_column(
    state: State,
    caller: Caller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let bid = BoardId(id(&path.0, "board")?);
    let cid = ColumnId(id(&path.1, "column")?);
    let q: DeleteColumnQuery = query(&req)?;
    caller
        .run(&state, move |engine, actor| {
            engine.delete_column(actor, bid, cid, q.move_to.map(ColumnId))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
