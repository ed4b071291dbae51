//! Every route, registered in one place so that the OpenAPI document is collected from
//! exactly the services the server runs (utoipa-actix-web), never kept by hand.

use actix_web::HttpResponse;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::dto::items::{ItemJson, ItemPageJson, ItemsJson};
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

pub(crate) fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(ui::index)
        .service(ui::script)
        .service(ui::style)
        .service(system::healthz)
        .service(system::metrics)
        .service(system::openapi)
        .service(system::backup)
        .service(directory::create_user)
        .service(directory::list_users)
        .service(directory::me)
        .service(directory::get_user)
        .service(directory::rotate_token)
        .service(directory::deactivate_user)
        .service(directory::create_group)
        .service(directory::list_groups)
        .service(directory::add_member)
        .service(directory::remove_member)
        .service(directory::create_module)
        .service(directory::list_modules)
        .service(boards::create_board)
        .service(boards::list_boards)
        .service(boards::get_board)
        .service(boards::patch_board)
        .service(boards::follow_board)
        .service(boards::unfollow_board)
        .service(boards::create_column)
        .service(boards::patch_column)
        .service(boards::delete_column)
        .service(items::create_items_batch)
        .service(items::create_item)
        .service(items::get_item)
        .service(items::patch_item)
        .service(items::delete_item)
        .service(items::move_item)
        .service(items::read_item)
        .service(views::column_items)
        .service(views::kanban)
        .service(views::deadlines)
        .service(views::deadline_bucket)
        .service(views::list)
        .service(focus::timeline)
        .service(focus::comment)
        .service(focus::note)
        .service(focus::create_activity)
        .service(focus::list_activities)
        .service(focus::get_activity)
        .service(focus::patch_activity)
        .service(focus::complete_activity)
        .service(focus::delete_activity)
        .service(focus::counters)
        .service(events::ingest_batch)
        .service(events::ingest_one)
        .service(feeds::wall)
        .service(feeds::post)
        .service(feeds::send_message)
        .service(feeds::messages)
        .service(feeds::group_feed)
        .service(feeds::upload)
        .service(feeds::download)
        .service(feeds::record_feed)
        .service(feeds::follow)
        .service(feeds::unfollow)
        .service(feeds::follows)
        .service(feeds::inactive)
        .service(feeds::create_rule)
        .service(feeds::list_rules)
        .service(feeds::patch_rule)
        .service(feeds::delete_rule)
        .service(feeds::job)
        .service(feeds::preferences)
        .service(feeds::set_preferences)
        .service(streams::ticket)
        .service(streams::board_stream)
        .service(streams::feed_stream);
}

/// A JSON answer from a typed value.
pub(crate) fn json<T: serde::Serialize>(
    status: actix_web::http::StatusCode,
    body: &T,
) -> Result<HttpResponse, ApiError> {
    let bytes = serde_json::to_vec(body)
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
    json(actix_web::http::StatusCode::OK, &page_json(page))
}

/// What a page of items renders: serialized in place from the stored records.
fn page_json(page: &Page<ItemView>) -> ItemPageJson<'_> {
    ItemPageJson {
        items: ItemsJson(&page.items),
        next_cursor: page.next_cursor.as_deref(),
    }
}

/// The JSON bytes of a page of items, exactly as the server answers them (public so that
/// the engine's page bench measures the same work).
pub fn item_page_bytes(page: &Page<ItemView>) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&page_json(page))
}
