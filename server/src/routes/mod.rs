//! Every route, registered in one place so that the OpenAPI document is collected from
//! exactly the services the server runs (utoipa-actix-web), never kept by hand.

use actix_web::HttpResponse;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::dto::items::{write_item_page, ItemJson};
use crate::error::ApiError;
use hoist_engine::{ItemView, Page};

mod boards;
mod directory;
mod events;
#[cfg(feature = "failpoints")]
pub(crate) mod failpoints;
mod feeds;
mod focus;
mod items;
mod streams;
mod system;
mod ui;
mod views;

/// The routes as a tree of scopes. actix tries a level's services in order and runs a
/// regex for every dynamic pattern it tries; in one flat list of 86 routes a comment
/// (`POST /v1/items/{id}/comments`) was tried against some 40 patterns first, 15–20 µs of
/// the server's CPU per request (`perf`: 12 % of samples in route matching). Here a
/// request meets static prefixes, one dynamic pattern per id in its path, then static
/// leaves. Order inside a level still decides: a literal (`/batch`) comes before the
/// `/{id}` scope that would also take it. Each handler names its full path in a comment.
pub(crate) fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(ui::index)
        .service(ui::script)
        .service(ui::style)
        .service(system::healthz)
        .service(system::metrics)
        .service(system::openapi)
        .service(
            scope("/v1")
                .service(
                    scope("/items")
                        .service(items::create_item)
                        .service(items::create_items_batch)
                        .service(
                            scope("/{id}")
                                .service(focus::comment)
                                .service(items::get_item)
                                .service(items::patch_item)
                                .service(items::delete_item)
                                .service(items::move_item)
                                .service(items::read_item)
                                .service(focus::timeline)
                                .service(focus::note)
                                .service(focus::create_activity)
                                .service(feeds::record_feed)
                                .service(feeds::follow)
                                .service(feeds::unfollow),
                        ),
                )
                .service(
                    scope("/boards")
                        .service(boards::create_board)
                        .service(boards::list_boards)
                        .service(
                            scope("/{id}")
                                .service(boards::get_board)
                                .service(boards::patch_board)
                                .service(
                                    scope("/columns").service(boards::create_column).service(
                                        scope("/{col}")
                                            .service(views::column_items)
                                            .service(boards::patch_column)
                                            .service(boards::delete_column),
                                    ),
                                )
                                .service(boards::follow_board)
                                .service(boards::unfollow_board)
                                .service(views::kanban)
                                .service(views::list)
                                .service(views::deadlines)
                                .service(views::deadline_bucket)
                                .service(streams::board_stream),
                        ),
                )
                .service(events::ingest_one)
                .service(events::ingest_batch)
                .service(
                    scope("/activities")
                        .service(focus::list_activities)
                        .service(
                            scope("/{id}")
                                .service(focus::get_activity)
                                .service(focus::patch_activity)
                                .service(focus::delete_activity)
                                .service(focus::complete_activity),
                        ),
                )
                .service(focus::counters)
                .service(
                    scope("/feed")
                        .service(feeds::wall)
                        .service(feeds::post)
                        .service(feeds::preferences)
                        .service(feeds::set_preferences)
                        .service(streams::feed_stream),
                )
                .service(feeds::send_message)
                .service(feeds::messages)
                .service(feeds::follows)
                .service(feeds::inactive)
                .service(
                    scope("/follow-rules")
                        .service(feeds::create_rule)
                        .service(feeds::list_rules)
                        .service(feeds::patch_rule)
                        .service(feeds::delete_rule),
                )
                .service(feeds::job)
                .service(directory::me)
                .service(
                    scope("/users")
                        .service(directory::create_user)
                        .service(directory::list_users)
                        .service(directory::get_user)
                        .service(directory::rotate_token)
                        .service(directory::deactivate_user),
                )
                .service(
                    scope("/groups")
                        .service(directory::create_group)
                        .service(directory::list_groups)
                        .service(
                            scope("/{id}")
                                .service(feeds::group_feed)
                                .service(feeds::upload)
                                .service(feeds::download)
                                .service(directory::add_member)
                                .service(directory::remove_member),
                        ),
                )
                .service(directory::create_module)
                .service(directory::list_modules)
                .service(streams::ticket)
                .service(system::backup),
        );
}

/// A JSON answer from a typed value.
pub(crate) fn json<T: serde::Serialize>(
    status: actix_web::http::StatusCode,
    body: &T,
) -> Result<HttpResponse, ApiError> {
    // serde_json's own start (128 bytes) would grow most answers twice or more.
    let mut bytes = Vec::with_capacity(512);
    serde_json::to_writer(&mut bytes, body)
        .map_err(|e| ApiError::internal(format!("could not render: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(bytes))
}

/// One item, serialized from its stored bytes.
pub(crate) fn item(
    status: actix_web::http::StatusCode,
    view: &ItemView,
) -> Result<HttpResponse, ApiError> {
    let r = view.get().map_err(ApiError::from)?;
    json(status, &ItemJson(r))
}

/// A page of items.
pub(crate) fn item_page(page: &Page<ItemView>) -> Result<HttpResponse, ApiError> {
    let bytes =
        item_page_bytes(page).map_err(|e| ApiError::internal(format!("could not render: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(bytes))
}

/// Bytes to reserve per item of a page: an item with no fields renders in about 330, and a
/// page that outgrows its buffer doubles its way up, copying itself each time.
const ITEM_JSON_BYTES: usize = 512;

/// The JSON bytes of a page of items, exactly as the server answers them (public so that
/// the engine's page bench measures the same work).
pub fn item_page_bytes(page: &Page<ItemView>) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(64 + page.items.len().saturating_mul(ITEM_JSON_BYTES));
    write_item_page(&mut out, &page.items, page.next_cursor.as_deref())?;
    Ok(out)
}
