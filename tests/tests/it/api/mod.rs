//! HTTP tests against a real server process on a loopback port.

mod basics;
mod errors;
mod events;
mod feeds;
mod focus;
mod items;
pub mod server;
