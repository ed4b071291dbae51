//! Power-cut test: the server's data directory sits on a file system that keeps every write
//! in memory until it is synced and drops the rest on command (`hoist_tests::powercut`).
//! Each of the rounds (`HOIST_POWERCUT_ROUNDS`, default 10) runs the mixed write load of
//! `checker`, `kill -9`s the server, cuts the power, restarts it and checks every
//! acknowledged write, counter and timer (see `checker/mod.rs`).
//!
//! Needs `/dev/fuse` and `fusermount3` (Debian's `fuse3`) or root; without them it fails,
//! loudly, never passes silently.

#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "it/api/server.rs"]
#[allow(dead_code)]
mod server;

mod checker;

use hoist_tests::powercut::Mounted;

fn main() {
    if !std::path::Path::new("/dev/fuse").exists() {
        eprintln!(
            "powercut: FAILED: /dev/fuse is missing; this test needs FUSE (apt-get install fuse3)"
        );
        std::process::exit(1);
    }
    let rounds: usize = std::env::var("HOIST_POWERCUT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let disk = match Mounted::mount(&mnt) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "powercut: FAILED: cannot mount the power-cut file system at {}: {e} \
                 (needs /dev/fuse and fusermount3 from fuse3, or root)",
                mnt.display()
            );
            std::process::exit(1);
        }
    };
    let data = disk.path().join("data");
    checker::run("powercut", &data, rounds, &|| {
        disk.power_cut();
        let st = disk.stats();
        format!(
            " (power cut: {} unsynced blocks dropped so far; {} file and {} directory syncs)",
            st.dropped_blocks, st.file_syncs, st.dir_syncs
        )
    });
}
