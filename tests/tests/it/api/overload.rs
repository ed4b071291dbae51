//! Admission control and graceful shutdown (PRODUCT §9): work the server will not take is
//! refused at once with 503 and `Retry-After`, and nothing it acknowledged is lost.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::server::{TestServer, ADMIN};

/// What one request came back with.
#[derive(Debug)]
enum Outcome {
    /// A status, its `Retry-After` header, and the body.
    Answered(u16, Option<String>, Value),
    /// No answer: the connection was refused or closed.
    NoReply,
}

fn send(base: &str, path: &str, content_type: &str, body: &[u8]) -> Outcome {
    let r = ureq::post(&format!("{base}{path}"))
        .timeout(Duration::from_secs(30))
        .set("Authorization", &format!("Bearer {ADMIN}"))
        .set("Content-Type", content_type)
        .send_bytes(body);
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(_)) => return Outcome::NoReply,
    };
    let status = resp.status();
    let retry = resp.header("Retry-After").map(str::to_string);
    let text = resp.into_string().unwrap_or_default();
    Outcome::Answered(
        status,
        retry,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn create(base: &str, board: u64, title: &str) -> Outcome {
    let body = json!({"board": board, "title": title}).to_string();
    send(base, "/v1/items", "application/json", body.as_bytes())
}

/// Sorts one create's outcome: an acknowledged id, a refusal (checked: 503 `unavailable`
/// with `Retry-After: 1`), or no reply. Anything else fails the test.
fn tally(o: Outcome, acked: &Mutex<Vec<u64>>, refused: &AtomicUsize) -> bool {
    match o {
        Outcome::Answered(201, _, v) => {
            let id = v["id"].as_u64().expect("a created item has an id");
            acked.lock().expect("lock").push(id);
            true
        }
        Outcome::Answered(503, retry, v) => {
            assert_eq!(retry.as_deref(), Some("1"), "503 without Retry-After: {v}");
            assert_eq!(v["error"]["code"], "unavailable", "{v}");
            refused.fetch_add(1, Ordering::Relaxed);
            true
        }
        Outcome::Answered(status, _, v) => panic!("unexpected answer {status}: {v}"),
        Outcome::NoReply => false,
    }
}

/// A batch request whose body declares `declared` bytes and sends one: the server holds
/// it in flight until the connection goes.
fn start_slow_batch(addr: &str, declared: usize) -> TcpStream {
    let mut conn = TcpStream::connect(addr).expect("connect");
    write!(
        conn,
        "POST /v1/items/batch HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n["
    )
    .expect("send the head");
    conn.flush().expect("flush");
    conn
}

#[test]
fn a_tiny_write_budget_refuses_with_retry_after_and_loses_nothing_acknowledged() {
    let mut s = TestServer::spawn_with_env(&[("HOIST_MAX_WRITES_IN_FLIGHT", "1")]);
    let (board, _) = s.board(&["New"]);
    let acked = Mutex::new(Vec::new());
    let refused = AtomicUsize::new(0);
    let base = s.base.clone();
    std::thread::scope(|sc| {
        for t in 0..16 {
            let (base, acked, refused) = (&base, &acked, &refused);
            sc.spawn(move || {
                for i in 0..25 {
                    let answered = tally(create(base, board, &format!("t{t}-{i}")), acked, refused);
                    assert!(answered, "the server stopped answering");
                }
            });
        }
        // Reads take nothing from the write budget: they answer during the flood, those
        // served from memory and those that read the disk (the wall, a timeline).
        for _ in 0..20 {
            assert_eq!(s.get("/healthz", ADMIN).0, 200);
            assert_eq!(s.get(&format!("/v1/boards/{board}"), ADMIN).0, 200);
            assert_eq!(s.get("/v1/feed", ADMIN).0, 200);
        }
    });
    let acked = acked.into_inner().expect("lock");
    let refused = refused.load(Ordering::Relaxed);
    assert!(
        refused > 0,
        "16 writers against a budget of 1: some must be refused"
    );
    assert!(!acked.is_empty(), "some writes must get through");
    assert_eq!(acked.len() + refused, 16 * 25);
    // kill -9 and restart: every acknowledged item is there.
    let dir = s.take_dir();
    let data = s.data.clone();
    drop(s.kill9());
    let s = TestServer::spawn_at(&data);
    for id in &acked {
        assert_eq!(s.get(&format!("/v1/items/{id}"), ADMIN).0, 200, "item {id}");
    }
    drop(dir);
}

#[test]
fn bodies_past_the_byte_budget_are_refused_before_they_are_read() {
    let s = TestServer::spawn_with_env(&[("HOIST_MAX_BODY_MB_IN_FLIGHT", "1")]);
    let (board, _) = s.board(&["New"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    // A client that declares 900,000 bytes and sends one: its body holds the budget.
    let slow = start_slow_batch(&addr, 900_000);
    // Wait until the server holds it (the budget is taken when the body starts).
    let held = || -> u64 {
        let (_, v) = s.get("/metrics", ADMIN);
        let text = v.as_str().unwrap_or_default().to_string();
        text.lines()
            .find_map(|l| l.strip_prefix("hoist_body_bytes_in_flight "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let started = Instant::now();
    while held() < 900_000 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the slow body was never counted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // 900,000 + 400,000 > 1 MiB: refused, with Retry-After.
    let big = vec![b' '; 400_000];
    match send(&s.base, "/v1/items/batch", "application/json", &big) {
        Outcome::Answered(503, retry, v) => {
            assert_eq!(retry.as_deref(), Some("1"), "{v}");
            assert_eq!(v["error"]["code"], "unavailable", "{v}");
        }
        other => panic!("a body past the budget was taken: {other:?}"),
    }
    // A small body still fits beside the held one.
    let small = json!([{"board": board, "title": "small"}]).to_string();
    match send(
        &s.base,
        "/v1/items/batch",
        "application/json",
        small.as_bytes(),
    ) {
        Outcome::Answered(200, _, v) => assert_eq!(v["created"], 1, "{v}"),
        other => panic!("a small batch was not taken: {other:?}"),
    }
    // The slow client goes away: its bytes come back, and big bodies fit again.
    drop(slow);
    let started = Instant::now();
    loop {
        match send(&s.base, "/v1/items/batch", "application/json", &big) {
            // Blank space is not a JSON array: refused as invalid, so it was read.
            Outcome::Answered(400, _, _) => break,
            other => assert!(
                started.elapsed() < Duration::from_secs(10),
                "the budget never came back: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_during_writes_exits_0_within_10_s_and_keeps_every_2xx() {
    let mut s = TestServer::spawn();
    let (board, _) = s.board(&["New"]);
    let acked = Mutex::new(Vec::new());
    let refused = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let base = s.base.clone();
    let dir = s.take_dir();
    let data = s.data.clone();
    let (status, took) = std::thread::scope(|sc| {
        for t in 0..8 {
            let (base, acked, refused, stopped) = (&base, &acked, &refused, &stopped);
            sc.spawn(move || {
                for i in 0.. {
                    if !tally(create(base, board, &format!("t{t}-{i}")), acked, refused)
                        || stopped.load(Ordering::Relaxed)
                    {
                        break;
                    }
                }
            });
        }
        // Let the writers get going, then stop the server under them.
        while acked.lock().expect("lock").len() < 50 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let t0 = Instant::now();
        let status = s.terminate();
        let took = t0.elapsed();
        stopped.store(true, Ordering::Relaxed);
        (status, took)
    });
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    let acked = acked.into_inner().expect("lock");
    let s = TestServer::spawn_at(&data);
    for id in &acked {
        assert_eq!(s.get(&format!("/v1/items/{id}"), ADMIN).0, 200, "item {id}");
    }
    drop(dir);
}

/// Sends one raw HTTP/1.1 request on `conn` and reads the head of the answer.
fn raw_get(conn: &mut TcpStream, addr: &str, path: &str) -> String {
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    conn.flush().expect("flush");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = vec![0u8; 4096];
    let n = std::io::Read::read(conn, &mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[test]
fn during_shutdown_a_new_request_is_refused_with_503() {
    let mut s = TestServer::spawn();
    let addr = s.base.trim_start_matches("http://").to_string();
    let _dir = s.take_dir();
    // A keep-alive connection, used once before the signal.
    let mut idle = TcpStream::connect(&addr).expect("connect");
    assert!(raw_get(&mut idle, &addr, "/healthz").starts_with("HTTP/1.1 200"));
    // A request still in flight (its body is not all there), so shutdown waits for it.
    let busy = start_slow_batch(&addr, 1000);
    std::thread::sleep(Duration::from_millis(200));
    s.signal(nix::sys::signal::Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    // The listener is closed: a new connection is refused or gets 503...
    if let Ok(mut fresh) = TcpStream::connect(&addr) {
        let head = raw_get(&mut fresh, &addr, "/healthz");
        assert!(
            head.is_empty() || head.starts_with("HTTP/1.1 503"),
            "{head}"
        );
    }
    // ...and a request on a connection already open is answered 503 with Retry-After.
    let head = raw_get(&mut idle, &addr, "/healthz");
    if !head.is_empty() {
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("retry-after: 1"),
            "{head}"
        );
    }
    drop(busy);
    let t0 = Instant::now();
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[test]
fn writes_are_refused_while_the_writer_is_behind() {
    let mut s = TestServer::spawn_with_env(&[("HOIST_MAX_QUEUE_WAIT_MS", "1")]);
    let (board, cols) = s.board(&["New"]);
    let batch: String = (0..2000)
        .map(|i| format!("{{\"board\":{board},\"title\":\"b{i}\"}}\n"))
        .collect();
    let created = AtomicUsize::new(0);
    let behind = AtomicUsize::new(0);
    let base = s.base.clone();
    std::thread::scope(|sc| {
        for _ in 0..8 {
            let (base, batch, created, behind) = (&base, &batch, &created, &behind);
            sc.spawn(move || {
                for _ in 0..6 {
                    match send(
                        base,
                        "/v1/items/batch",
                        "application/x-ndjson",
                        batch.as_bytes(),
                    ) {
                        Outcome::Answered(200, _, v) => {
                            let n = v["created"].as_u64().expect("created");
                            created.fetch_add(usize::try_from(n).expect("fits"), Ordering::Relaxed);
                        }
                        Outcome::Answered(503, retry, v) => {
                            assert_eq!(retry.as_deref(), Some("1"), "{v}");
                            let msg = v["error"]["message"].as_str().unwrap_or_default();
                            assert!(msg.contains("behind"), "{v}");
                            behind.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            });
        }
    });
    assert!(
        behind.load(Ordering::Relaxed) > 0,
        "8 writers of 2,000-item batches against a 1 ms queue wait: some must be refused"
    );
    // Once the queue has drained, writes are taken again.
    let started = Instant::now();
    loop {
        match create(&s.base, board, "after the flood") {
            Outcome::Answered(201, _, _) => break,
            other => assert!(
                started.elapsed() < Duration::from_secs(10),
                "writes were never taken again: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every acknowledged item survives kill -9.
    let want = created.load(Ordering::Relaxed) + 1;
    let dir = s.take_dir();
    let data = s.data.clone();
    drop(s.kill9());
    let s = TestServer::spawn_at(&data);
    let (_, k) = s.get(&format!("/v1/boards/{board}/kanban"), ADMIN);
    let count = k["columns"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == cols[0]))
        .and_then(|c| c["count"].as_u64())
        .expect("the column's count");
    assert_eq!(count, u64::try_from(want).expect("fits"));
    drop(dir);
}

#[test]
fn batches_past_the_element_budget_are_refused_and_every_acknowledged_one_is_whole() {
    // A budget of one 500-item batch: concurrent batches are refused while one is in.
    let s = TestServer::spawn_with_env(&[("HOIST_MAX_BATCH_ELEMENTS_IN_FLIGHT", "500")]);
    let (board, cols) = s.board(&["New"]);
    let created = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let base = s.base.clone();
    std::thread::scope(|sc| {
        for t in 0..8 {
            let (base, created, refused) = (&base, &created, &refused);
            sc.spawn(move || {
                for i in 0..6 {
                    let body: String = (0..500)
                        .map(|k| format!("{{\"board\":{board},\"title\":\"t{t}-{i}-{k}\"}}\n"))
                        .collect();
                    match send(
                        base,
                        "/v1/items/batch",
                        "application/x-ndjson",
                        body.as_bytes(),
                    ) {
                        Outcome::Answered(200, _, v) => {
                            assert_eq!(v["created"], 500, "{v}");
                            created.fetch_add(500, Ordering::Relaxed);
                        }
                        Outcome::Answered(503, retry, v) => {
                            assert_eq!(retry.as_deref(), Some("1"), "{v}");
                            assert!(
                                v["error"]["message"]
                                    .as_str()
                                    .is_some_and(|m| m.contains("batch elements")),
                                "{v}"
                            );
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            });
        }
    });
    let created = created.into_inner();
    assert!(
        refused.into_inner() > 0,
        "8 batch writers against one batch of room"
    );
    assert!(created > 0, "some batches get through");
    // Everything acknowledged is there, nothing refused is.
    assert_eq!(s.walk(board, cols[0], 500).len(), created);
    // A batch larger than the whole budget still passes when it is alone.
    let body: String = (0..800)
        .map(|k| format!("{{\"board\":{board},\"title\":\"big {k}\"}}\n"))
        .collect();
    match send(
        &s.base,
        "/v1/items/batch",
        "application/x-ndjson",
        body.as_bytes(),
    ) {
        Outcome::Answered(200, _, v) => assert_eq!(v["created"], 800, "{v}"),
        other => panic!("a lone big batch: {other:?}"),
    }
}
