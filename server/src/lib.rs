//! The Hoist REST server: thin over `hoist-engine`. Handlers parse, authorize, call the
//! engine and render; they never touch storage. Errors map to HTTP in `error.rs` only.

#![forbid(unsafe_code)]

mod admission;
mod app;
mod cli;
mod dto;
mod error;
mod extract;
mod metrics;
mod routes;
mod streams;
mod wire;

pub use app::{main_entry, openapi_json, serve, Args, Command};
pub use cli::BackupArgs;
pub use dto::items::ITEM_FIELDS;
pub use routes::item_page_bytes;
