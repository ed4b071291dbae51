//! HTTP tests against a real server process on a loopback port.

mod backup;
mod basics;
mod errors;
mod events;
mod faults;
mod feeds;
mod focus;
mod items;
mod overload;
pub mod server;
mod streams;
