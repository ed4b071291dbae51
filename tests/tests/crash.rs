//! Crash test: `kill -9` the server while clients write a mixed load, restart it on the
//! same data directory (a real disk: the OS page cache survives the process) and check every
//! acknowledged write, counter and timer against the model (see `checker/mod.rs`).
//! `powercut.rs` runs the same rounds with a simulated power cut after each kill.

#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "it/api/server.rs"]
#[allow(dead_code)]
mod server;

mod checker;

fn main() {
    let rounds: usize = std::env::var("HOIST_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    checker::run("crash", &dir.path().join("data"), rounds, &String::new);
}
