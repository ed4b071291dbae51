//! Items: create (one or a batch), read, patch, delete, move, mark read.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use hoist_engine::{BoardId, ColumnId, ItemId, ItemPatch, NewItem, Position, UserId};
use serde_json::value::RawValue;

use super::{item, json};
use crate::dto::items::{
    BatchResult, CreateItem, Item, ItemBatchOut, MoveItem, NamedPosition, PatchItem, PositionIn,
};
use crate::dto::{ErrorBody, ErrorInner};
use crate::error::ApiError;
use crate::extract::{
    id, json_body, parse_json, read_body, BodyKind, Caller, SignedIn, State, BATCH_LIMIT,
};

/// The most elements one batch may carry.
pub(crate) const MAX_BATCH: usize = 10_000;

fn new_item(b: CreateItem) -> NewItem {
    NewItem {
        board: BoardId(b.board),
        column: b.column.map(ColumnId),
        title: b.title,
        responsible: b.responsible.map(UserId),
        amount: b.amount,
        fields: b
            .fields
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect(),
        contacts: b.contacts.map(Into::into).unwrap_or_default(),
    }
}

/// Creates an item on top of its column (the board's first column by default; the caller
/// is the responsible by default).
#[utoipa::path(tag = "items", security(("bearer" = [])), request_body = CreateItem,
    responses((status = 201, body = Item), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
// POST /v1/items (scoped in `configure`)
#[post("")]
pub(crate) async fn create_item(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let b: CreateItem = json_body(&req, payload).await?;
    let view = caller
        .submit(&state, move |engine, actor| {
            engine.create_item_async(actor, new_item(b))
        })
        .await?;
    item(StatusCode::CREATED, &view)
}

/// Splits a batch body into its elements: a JSON array, or NDJSON (one per non-blank
/// line). A malformed element is kept as its own error; only a body that is not an array
/// at all fails the request.
pub(crate) fn split_batch(
    bytes: &[u8],
    kind: BodyKind,
) -> Result<Vec<Result<&[u8], ApiError>>, ApiError> {
    let parts: Vec<Result<&[u8], ApiError>> = match kind {
        BodyKind::Json => {
            let raws: Vec<&RawValue> = serde_json::from_slice(bytes)
                .map_err(|e| ApiError::invalid(format!("body: expected a JSON array ({e})")))?;
            raws.into_iter().map(|r| Ok(r.get().as_bytes())).collect()
        }
        BodyKind::NdJson => bytes
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
            .map(Ok)
            .collect(),
        BodyKind::Other => {
            return Err(ApiError::unsupported_media_type(
                "send Content-Type: application/json (an array) or application/x-ndjson",
            ))
        }
    };
    if parts.len() > MAX_BATCH {
        return Err(ApiError::too_large(format!(
            "a batch holds at most {MAX_BATCH} elements"
        )));
    }
    Ok(parts)
}

/// Bulk import: a JSON array or NDJSON of item bodies (at most 10,000 / 16 MiB), one group
/// commit for the whole batch; each element is `created` or `rejected` on its own, and the
/// created ones land on top in the order given.
#[utoipa::path(tag = "items", security(("bearer" = [])), request_body(content = Vec<CreateItem>, content_type = "application/json"),
    responses((status = 200, body = ItemBatchOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
// POST /v1/items/batch (scoped in `configure`)
#[post("/batch")]
pub(crate) async fn create_items_batch(
    state: State,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, BATCH_LIMIT).await?;
    let parts = split_batch(&body.bytes, body.kind)?;
    let mut results: Vec<Option<BatchResult>> = Vec::with_capacity(parts.len());
    let mut valid = Vec::with_capacity(parts.len());
    let mut slots = Vec::with_capacity(parts.len());
    for (index, part) in parts.into_iter().enumerate() {
        match part.and_then(parse_json::<CreateItem>) {
            Ok(b) => {
                slots.push(index);
                valid.push(new_item(b));
                results.push(None);
            }
            Err(e) => results.push(Some(rejected(index, e))),
        }
    }
    let outcomes = caller
        .submit_batch(&state, valid.len(), move |engine, actor| {
            engine.create_items_async(actor, valid)
        })
        .await?;
    for (index, outcome) in slots.into_iter().zip(outcomes) {
        let r = match outcome.and_then(|v| v.get().map(|r| r.id())) {
            Ok(item) => BatchResult {
                index,
                status: "created",
                id: Some(item.0),
                error: None,
            },
            Err(e) => rejected(index, ApiError::from(e)),
        };
        if let Some(cell) = results.get_mut(index) {
            *cell = Some(r);
        }
    }
    let results: Vec<BatchResult> = results.into_iter().flatten().collect();
    let created = results.iter().filter(|r| r.status == "created").count();
    json(
        StatusCode::OK,
        &ItemBatchOut {
            created,
            rejected: results.len() - created,
            results,
        },
    )
}

fn rejected(index: usize, e: ApiError) -> BatchResult {
    BatchResult {
        index,
        status: "rejected",
        id: None,
        error: Some(ErrorInner {
            code: e.code.to_string(),
            message: e.message,
        }),
    }
}

/// One item.
#[utoipa::path(tag = "items", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = Item), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// GET /v1/items/{id} (scoped in `configure`)
#[get("")]
pub(crate) async fn get_item(
    state: State,
    _signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    item(StatusCode::OK, &state.engine.item(iid)?)
}

/// Changes an item; `fields` merges (`null` removes a key), `contacts` replaces.
#[utoipa::path(tag = "items", security(("bearer" = [])), params(("id" = u64, Path)), request_body = PatchItem,
    responses((status = 200, body = Item), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// PATCH /v1/items/{id} (scoped in `configure`)
#[patch("")]
pub(crate) async fn patch_item(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    let b: PatchItem = json_body(&req, payload).await?;
    let patch = ItemPatch {
        title: b.title,
        responsible: b.responsible.map(UserId),
        amount: b.amount,
        fields: b
            .fields
            .map(|f| f.into_iter().map(|(k, v)| (k, v.map(Into::into))).collect()),
        contacts: b.contacts.map(Into::into),
    };
    let (view, _changes) = caller
        .submit(&state, move |engine, actor| {
            engine.patch_item_async(actor, iid, patch)
        })
        .await?;
    item(StatusCode::OK, &view)
}

/// Deletes an item.
#[utoipa::path(tag = "items", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// DELETE /v1/items/{id} (scoped in `configure`)
#[delete("")]
pub(crate) async fn delete_item(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    // The caller is the author of the `record_deleted` entry.
    caller
        .submit(&state, move |engine, actor| {
            engine.delete_item_async(actor, iid)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Moves an item by hand: to another column of its board and/or to a position. Without a
/// position, a move to another column brings the item to the top (focus `moved`).
#[utoipa::path(tag = "items", security(("bearer" = [])), params(("id" = u64, Path)), request_body = MoveItem,
    responses((status = 200, body = Item), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
// POST /v1/items/{id}/move (scoped in `configure`)
#[post("/move")]
pub(crate) async fn move_item(
    state: State,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    let b: MoveItem = json_body(&req, payload).await?;
    let pos = b.position.map(|p| match p {
        PositionIn::Named(NamedPosition::Top) => Position::Top,
        PositionIn::Named(NamedPosition::Bottom) => Position::Bottom,
        PositionIn::Before(x) => Position::Before(ItemId(x.before)),
        PositionIn::After(x) => Position::After(ItemId(x.after)),
    });
    let view = caller
        .submit(&state, move |engine, actor| {
            engine.move_item_async(actor, iid, b.column.map(ColumnId), pos)
        })
        .await?;
    item(StatusCode::OK, &view)
}

/// Marks the item read: by its responsible, attention drops to 0 (the order stays).
#[utoipa::path(tag = "items", security(("bearer" = [])), params(("id" = u64, Path)),
    responses((status = 200, body = Item), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
// POST /v1/items/{id}/read (scoped in `configure`)
#[post("/read")]
pub(crate) async fn read_item(
    state: State,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let iid = ItemId(id(&path, "item")?);
    let view = caller
        .submit(&state, move |engine, actor| {
            engine.read_item_async(actor, iid)
        })
        .await?;
    item(StatusCode::OK, &view)
}
