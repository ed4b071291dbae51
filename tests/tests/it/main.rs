//! The one integration-test binary, `it`, organised by area:
//!
//! - `engine`: the engine's behaviour through its public API, in process, on a temporary
//!   data directory and a manual clock (`engine::items`), and a property test of random
//!   operation sequences against an in-memory model (`engine::model`).
//! - `focus`, `feeds`: focus mode (activities, timers, counters, events) and feeds through
//!   the engine API.
//! - `api`: the REST surface against a real server process.
//! - `support`: shared fixtures (`TestEngine`, page walkers).
//!
//! Run one area with `cargo test -p hoist-tests --test it engine::`.

// Tests panic on failure by design; unwrap/expect are how they say so.
#![allow(clippy::unwrap_used, unreachable_pub)]

// The HTTP tests against a real server process.
mod api;
mod engine;
mod feeds;
mod focus;
mod support;
