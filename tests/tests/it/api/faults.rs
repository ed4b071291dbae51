//! Storage faults against a real server process: failpoints armed over the test build's
//! `PUT /v1/admin/failpoints/{name}`, and a record damaged on disk between two starts.

use serde_json::{json, Value};

use super::server::{TestServer, ADMIN};

/// Arms failpoint `name` of the server with `actions`.
fn arm(s: &TestServer, name: &str, actions: &str) {
    let (status, v) = s.call(
        "PUT",
        &format!("/v1/admin/failpoints/{name}"),
        Some(ADMIN),
        Some(("text/plain", actions.as_bytes())),
    );
    assert_eq!(status, 204, "{v}");
}

/// A storage fault on `point`: the write of that moment and every later one get 503
/// `unavailable` naming the failure, reads answer, `/healthz` is 503 `degraded`; after a
/// kill -9 and a restart every acknowledged write is there and writes work again.
fn a_fault_fails_writes_and_a_restart_recovers(point: &str, actions: &str, says: &str) {
    let mut s = TestServer::spawn();
    let (board, cols) = s.board(&["New", "Won"]);
    let acked: Vec<u64> = (0..10)
        .map(|i| s.item(board, &format!("acked {i}")))
        .collect();
    let (st, v) = s.post(
        &format!("/v1/items/{}/comments", acked[3]),
        ADMIN,
        &json!({"text": "acknowledged comment"}),
    );
    assert_eq!(st, 201, "{v}");

    arm(&s, point, actions);
    for title in ["during the fault", "after it"] {
        let (st, v) = s.post("/v1/items", ADMIN, &json!({"board": board, "title": title}));
        assert_eq!(st, 503, "{v}");
        assert_eq!(v["error"]["code"], "unavailable", "{v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{msg}");
    }
    // Other write routes too, batches included.
    let (st, v) = s.post(
        &format!("/v1/items/{}/move", acked[0]),
        ADMIN,
        &json!({"column": cols[1]}),
    );
    assert_eq!(st, 503, "{v}");
    let (st, v) = s.call(
        "POST",
        "/v1/events/batch",
        Some(ADMIN),
        Some((
            "application/x-ndjson",
            br#"{"id":"e1","kind":"call_in","contact":{"phone":"+15550100"}}"#,
        )),
    );
    assert_eq!(st, 503, "{v}");

    // Reads answer.
    let column = s.walk(board, cols[0], 50);
    for id in &acked {
        assert!(column.contains(id), "item {id} readable during the fault");
    }
    let (st, v) = s.get(&format!("/v1/items/{}", acked[3]), ADMIN);
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call("GET", "/healthz", None, None);
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["status"], "degraded", "{v}");
    assert!(
        v["reason"].as_str().unwrap_or_default().contains(says),
        "{v}"
    );
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    let (st, metrics) = s.get("/metrics", ADMIN);
    assert_eq!(st, 200);
    assert!(
        metrics
            .as_str()
            .unwrap_or_default()
            .contains("\nhoist_writes_stopped 1\n"),
        "{metrics}"
    );

    let dir = s.take_dir();
    let data = s.data.clone();
    let _ = s.kill9();
    let s = TestServer::spawn_at(&data);
    let (st, v) = s.call("GET", "/healthz", None, None);
    assert_eq!((st, &v["status"]), (200, &Value::from("ok")), "{v}");
    let column = s.walk(board, cols[0], 50);
    for id in &acked {
        assert!(column.contains(id), "acknowledged item {id} survives");
    }
    let (st, v) = s.get(&format!("/v1/items/{}/timeline", acked[3]), ADMIN);
    assert_eq!(st, 200, "{v}");
    assert!(v.to_string().contains("acknowledged comment"), "{v}");
    s.item(board, "after the restart");
    drop(dir);
}

#[test]
fn a_failed_flush_answers_503_to_every_write_reads_go_on_and_a_restart_recovers() {
    a_fault_fails_writes_and_a_restart_recovers("store::flush", "return", "input/output error");
}

#[test]
fn a_full_disk_answers_the_same() {
    a_fault_fails_writes_and_a_restart_recovers(
        "store::apply",
        "return(enospc)",
        "no space left on device",
    );
}

#[test]
fn a_damaged_record_stops_the_start_by_name_and_salvage_skips_it() {
    let mut s = TestServer::spawn();
    let (board, cols) = s.board(&["New"]);
    let ids: Vec<u64> = (0..4)
        .map(|i| s.item(board, &format!("item {i}")))
        .collect();
    let dir = s.take_dir();
    let data = s.data.clone();
    assert!(s.terminate().success());

    let victim = ids[1];
    let mut key = vec![b'I'];
    key.extend_from_slice(&victim.to_be_bytes());
    {
        let db = sled::open(data.join("db")).expect("open sled");
        db.insert(key, &b"garbage"[..]).expect("damage");
        db.flush().expect("flush");
    }

    let refused = TestServer::try_spawn_at(&data)
        .err()
        .expect("the start is refused");
    assert!(
        refused.contains(&format!("damaged record item {victim} ")),
        "{refused}"
    );
    assert!(refused.contains("--salvage"), "{refused}");

    let s = TestServer::try_spawn_at_with_env(&data, &[("HOIST_SALVAGE", "true")])
        .expect("starts with --salvage");
    let (st, v) = s.get(&format!("/v1/items/{victim}"), ADMIN);
    assert_eq!(st, 404, "{v}");
    let mut left = s.walk(board, cols[0], 50);
    left.sort_unstable();
    let expect: Vec<u64> = ids.iter().copied().filter(|i| *i != victim).collect();
    assert_eq!(left, expect);
    let saved: Vec<_> = std::fs::read_dir(data.join("salvaged"))
        .expect("salvaged/")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).expect("a salvage").flatten())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(s.terminate().success());

    // Removed from the store: a plain start works again.
    let s = TestServer::spawn_at(&data);
    assert_eq!(s.walk(board, cols[0], 50).len(), 3);
    drop(dir);
}
