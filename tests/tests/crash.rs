//! Crash test: `kill -9` the server while clients write, restart it on the same data
//! directory, and check that every acknowledged write is there and every column index
//! agrees with the item records. Runs a few kill/restart rounds.

#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "it/api/server.rs"]
#[allow(dead_code)]
mod server;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use server::{TestServer, ADMIN};

const CLIENTS: usize = 8;
const ROUNDS: usize = 3;

/// What the clients were told succeeded: item id → (title, column it was last moved to,
/// and the column of a move that was sent but not answered: it may or may not be there).
type Acked = Arc<Mutex<HashMap<u64, (String, u64, Option<u64>)>>>;

/// Gateway events the server acknowledged as accepted: item id → event ids.
type AckedEvents = Arc<Mutex<HashMap<u64, Vec<String>>>>;

#[allow(clippy::too_many_arguments)]
fn client(
    s: &TestServer,
    board: u64,
    cols: &[u64],
    n: usize,
    round: usize,
    stop: &AtomicBool,
    acked: &Acked,
    events: &AckedEvents,
) {
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let title = format!("r{round}c{n}i{i}");
        let col = cols[i % cols.len()];
        let url = s.url("/v1/items");
        let body = json!({"board": board, "column": col, "title": title}).to_string();
        let res = ureq::post(&url)
            .set("Authorization", &format!("Bearer {ADMIN}"))
            .set("Content-Type", "application/json")
            .timeout(Duration::from_secs(5))
            .send_string(&body);
        let Ok(resp) = res else { return };
        if resp.status() != 201 {
            return;
        }
        let v: serde_json::Value = match resp.into_json() {
            Ok(v) => v,
            Err(_) => return,
        };
        let id = v["id"].as_u64().unwrap();
        acked.lock().unwrap().insert(id, (title.clone(), col, None));
        // Every fourth item gets an incoming call (a focus); it counts once acknowledged.
        if i.is_multiple_of(4) {
            let ev_id = format!("crash-{round}-{n}-{i}");
            let res = ureq::post(&s.url("/v1/events"))
                .set("Authorization", &format!("Bearer {ADMIN}"))
                .set("Content-Type", "application/json")
                .timeout(Duration::from_secs(5))
                .send_string(&json!({"id": ev_id, "kind": "call_in", "item": id}).to_string());
            match res {
                Ok(r) if r.status() == 201 => {
                    events.lock().unwrap().entry(id).or_default().push(ev_id);
                }
                _ => return,
            }
        }
        // Every third item is moved to another column; the move counts once acknowledged.
        if i.is_multiple_of(3) {
            let to = cols[(i + 1) % cols.len()];
            acked
                .lock()
                .unwrap()
                .insert(id, (title.clone(), col, Some(to)));
            let res = ureq::post(&s.url(&format!("/v1/items/{id}/move")))
                .set("Authorization", &format!("Bearer {ADMIN}"))
                .set("Content-Type", "application/json")
                .timeout(Duration::from_secs(5))
                .send_string(&json!({"column": to, "position": "bottom"}).to_string());
            match res {
                Ok(r) if r.status() == 200 => {
                    acked.lock().unwrap().insert(id, (title, to, None));
                }
                _ => return,
            }
        }
    }
}

fn verify(s: &TestServer, board: u64, cols: &[u64], acked: &Acked, events: &AckedEvents) -> usize {
    for (item, ids) in events.lock().unwrap().iter() {
        let (st, v) = s.get(&format!("/v1/items/{item}/timeline?limit=500"), ADMIN);
        assert_eq!(st, 200, "{v}");
        let seen: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["event_id"].as_str())
            .collect();
        for id in ids {
            assert!(
                seen.contains(&id.as_str()),
                "acknowledged event {id} of item {item} lost"
            );
        }
        let (_, it) = s.get(&format!("/v1/items/{item}"), ADMIN);
        assert!(
            it["attention"].as_u64().unwrap() >= ids.len() as u64,
            "attention of item {item} lost"
        );
    }
    let acked = acked.lock().unwrap().clone();
    for (id, (title, col, pending)) in &acked {
        let (st, v) = s.get(&format!("/v1/items/{id}"), ADMIN);
        assert_eq!(st, 200, "acknowledged item {id} lost: {v}");
        assert_eq!(v["title"], title.as_str(), "item {id}");
        let at = v["column"].as_u64().unwrap();
        assert!(
            at == *col || Some(at) == *pending,
            "item {id}: acknowledged in column {col}, found in {at}"
        );
    }
    // Each column's pages list exactly the items whose records name that column, once.
    let mut listed: HashMap<u64, u64> = HashMap::new();
    for col in cols {
        for id in s.walk(board, *col, 97) {
            assert!(listed.insert(id, *col).is_none(), "item {id} listed twice");
            let (_, v) = s.get(&format!("/v1/items/{id}"), ADMIN);
            assert_eq!(v["column"], *col, "index and record disagree on item {id}");
        }
    }
    for id in acked.keys() {
        assert!(
            listed.contains_key(id),
            "acknowledged item {id} missing from its column"
        );
    }
    let (_, k) = s.get(&format!("/v1/boards/{board}/kanban?per_column=1"), ADMIN);
    let counted: u64 = k["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        counted as usize,
        listed.len(),
        "kanban counts disagree with the index"
    );
    acked.len()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = TestServer::spawn_at(&data);
    let (board, cols) = s.board(&["A", "B", "C"]);
    let acked: Acked = Arc::default();
    let events: AckedEvents = Arc::default();
    let mut s = Some(s);
    for round in 0..ROUNDS {
        let srv = Arc::new(s.take().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|n| {
                let (srv, stop, acked, events, cols) = (
                    Arc::clone(&srv),
                    Arc::clone(&stop),
                    Arc::clone(&acked),
                    Arc::clone(&events),
                    cols.clone(),
                );
                std::thread::spawn(move || {
                    client(&srv, board, &cols, n, round, &stop, &acked, &events)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        // Kill while the clients are still writing.
        let killed = std::process::Command::new("kill")
            .args(["-9", &srv.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        drop(srv);
        let restarted = TestServer::spawn_at(&data);
        let n = verify(&restarted, board, &cols, &acked, &events);
        println!("round {round}: {n} acknowledged items all present and indexed after kill -9");
        assert!(n > 0, "no write was acknowledged in round {round}");
        s = Some(restarted);
    }
    println!("crash: {ROUNDS} passed, 0 failed");
}
