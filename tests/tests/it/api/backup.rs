//! Online backup over HTTP and `hoist backup`: a copy taken from a server under writes
//! starts as a server of its own with every write acknowledged before the copy began, and
//! the writes in it are a prefix of the writes made (one change number).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::server::{TestServer, ADMIN};

fn hoist_backup(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hoist-under-test"))
        .arg("backup")
        .args(args)
        .env_remove("HOIST_TOKEN")
        .output()
        .expect("run hoist backup");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_backup_through_the_server_under_writes_starts_with_every_acknowledged_write() {
    let s = Arc::new(TestServer::spawn());
    let (board, cols) = s.board(&["New"]);
    for i in 0..100 {
        s.item(board, &format!("before {i}"));
    }
    let written: Arc<Mutex<Vec<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, written, stop) = (Arc::clone(&s), Arc::clone(&written), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = s.item(board, &format!("during {i}"));
                written.lock().expect("lock").push(id);
                i += 1;
            }
        })
    };
    while written.lock().expect("lock").len() < 20 {
        std::thread::yield_now();
    }
    let before = written.lock().expect("lock").len();
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("copy");
    let dest_s = dest.to_str().expect("utf-8 path");
    let (ok, out) = hoist_backup(&["--url", &s.base, "--token", ADMIN, "--to", dest_s]);
    assert!(ok, "{out}");
    assert!(out.contains("backup at change "), "{out}");
    let after = written.lock().expect("lock").len();
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");

    // A plain user may not take one; a second copy into the same place is refused.
    let (_, token) = s.user("Ann", false);
    let (st, v) = s.call("POST", "/v1/admin/backup", Some(&token), None);
    assert_eq!(st, 403, "{v}");
    let (ok, out) = hoist_backup(&["--url", &s.base, "--token", ADMIN, "--to", dest_s]);
    assert!(!ok && out.contains("not empty"), "{out}");

    let copy = TestServer::spawn_at(&dest);
    let mut have = copy.walk(board, cols[0], 500);
    have.sort_unstable();
    let during: Vec<u64> = have.iter().copied().skip(100).collect();
    let k = during.len();
    let written = written.lock().expect("lock").clone();
    assert!(
        k >= before && k <= after,
        "copied {k}, before {before}, after {after}"
    );
    assert_eq!(during, written[..k].to_vec(), "a prefix of the writes");
    let (st, v) = copy.post(
        "/v1/items",
        ADMIN,
        &json!({"board": board, "title": "on the copy"}),
    );
    assert_eq!(st, 201, "{v}");
}

#[test]
fn a_backup_of_a_live_servers_directory_goes_through_the_server() {
    let mut s = TestServer::spawn();
    let keep = s.take_dir();
    let (board, cols) = s.board(&["New"]);
    let ids: Vec<u64> = (0..25)
        .map(|i| s.item(board, &format!("item {i}")))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("copy");
    let data = s.data.to_str().expect("utf-8").to_string();
    let dest_s = dest.to_str().expect("utf-8");
    let (ok, out) = hoist_backup(&["--data", &data, "--token", ADMIN, "--to", dest_s]);
    assert!(ok, "{out}");
    assert!(s.terminate().success());

    // And from a directory no server holds (the server above is gone).
    let dest2 = dir.path().join("copy2");
    let (ok, out) = hoist_backup(&["--data", &data, "--to", dest2.to_str().expect("utf-8")]);
    assert!(ok, "{out}");
    for d in [&dest, &dest2] {
        let copy = TestServer::spawn_at(d);
        let mut have = copy.walk(board, cols[0], 500);
        have.sort_unstable();
        assert_eq!(have, ids);
    }
    // Into a directory that holds something: refused (and the copy thread is not left
    // blocked on the pipe).
    let (ok, out) = hoist_backup(&["--data", &data, "--to", dest_s]);
    assert!(!ok && out.contains("not empty"), "{out}");
    // A directory that is no store is refused, not created.
    let none = dir.path().join("none");
    let (ok, out) = hoist_backup(&["--data", none.to_str().expect("utf-8"), "--to", dest_s]);
    assert!(!ok && out.contains("not a Hoist data directory"), "{out}");
    assert!(!none.exists());
    drop(keep);
}

#[test]
fn one_backup_at_a_time_and_a_slow_reader_does_not_stop_writes() {
    let s = TestServer::spawn();
    let (board, _) = s.board(&["New"]);
    // Enough rows that the stream outgrows the server's small queue and the socket.
    let batch: Vec<serde_json::Value> = (0..5000)
        .map(|i| json!({"board": board, "title": format!("bulk {i} {}", "x".repeat(200))}))
        .collect();
    for _ in 0..4 {
        let (st, v) = s.post("/v1/items/batch", ADMIN, &json!(batch));
        assert_eq!(st, 200, "{v}");
    }
    // A first backup whose reader reads nothing yet: it holds the one slot.
    let first = ureq::post(&s.url("/v1/admin/backup"))
        .set("Authorization", &format!("Bearer {ADMIN}"))
        .call()
        .expect("the first backup starts");
    let (st, v) = s.call("POST", "/v1/admin/backup", Some(ADMIN), None);
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{v}"
    );
    // Writes go on meanwhile.
    s.item(board, "during a stalled backup");
    // The first one, read to the end, is a whole stream.
    let dir = tempfile::tempdir().expect("tempdir");
    let info = hoist_engine::Engine::restore(&mut first.into_reader(), &dir.path().join("c"))
        .expect("the stalled backup completes once read");
    assert!(info.records > 20_000, "{info:?}");
    // And the slot is free again.
    let (ok, out) = hoist_backup(&[
        "--url",
        &s.base,
        "--token",
        ADMIN,
        "--to",
        dir.path().join("d").to_str().expect("utf-8"),
    ]);
    assert!(ok, "{out}");
}
