//! Live streams over HTTP (API.md "Live streams"): board and feed streams, replay with
//! `Last-Event-ID`, resync, slow readers, tickets, audience, and the token's end.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::server::{TestServer, ADMIN};

/// One SSE event as a client sees it; a comment line comes as event `:` with its text.
#[derive(Debug, Clone)]
struct Event {
    id: Option<u64>,
    event: String,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// A stream read on its own thread; events arrive on a channel, `None` at its end.
struct Sse {
    rx: mpsc::Receiver<Option<Event>>,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .build()
}

/// Opens `path` as `token` (or without a token when `None`), with extra headers.
fn open_raw(
    s: &TestServer,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<ureq::Response, (u16, Value)> {
    let mut req = agent().get(&s.url(path));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.call() {
        Ok(r) => Ok(r),
        Err(ureq::Error::Status(code, r)) => Err((
            code,
            serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null),
        )),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// Reads events from `reader` until it ends.
fn read_events(reader: impl Read, tx: &mpsc::Sender<Option<Event>>) {
    let mut lines = BufReader::new(reader).lines();
    let mut cur = Event {
        id: None,
        event: String::new(),
        data: String::new(),
    };
    while let Some(Ok(line)) = lines.next() {
        if line.is_empty() {
            if cur.event.is_empty() && cur.data.is_empty() {
                // An `id:` alone moves the client's position without an event; it is
                // reported as an event named `id` so tests can see it.
                if let Some(id) = cur.id.take() {
                    let _ = tx.send(Some(Event {
                        id: Some(id),
                        event: "id".into(),
                        data: String::new(),
                    }));
                }
            } else {
                let done = std::mem::replace(
                    &mut cur,
                    Event {
                        id: None,
                        event: String::new(),
                        data: String::new(),
                    },
                );
                if tx.send(Some(done)).is_err() {
                    return;
                }
            }
        } else if let Some(c) = line.strip_prefix(':') {
            let _ = tx.send(Some(Event {
                id: None,
                event: ":".into(),
                data: c.trim().into(),
            }));
        } else if let Some(v) = line.strip_prefix("id: ") {
            cur.id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            cur.event = v.into();
        } else if let Some(v) = line.strip_prefix("data: ") {
            cur.data = v.into();
        }
    }
    let _ = tx.send(None);
}

impl Sse {
    fn open(s: &TestServer, path: &str, token: &str) -> Sse {
        Sse::open_with(s, path, Some(token), &[])
    }

    fn open_with(s: &TestServer, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Sse {
        let resp = open_raw(s, path, token, headers).expect("stream opens");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.content_type(), "text/event-stream");
        Sse::reading(resp)
    }

    fn reading(resp: ureq::Response) -> Sse {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || read_events(resp.into_reader(), &tx));
        Sse { rx }
    }

    /// The next event that is not a comment or counters, within `within`.
    fn next(&self, within: Duration) -> Option<Event> {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Some(e)) if matches!(e.event.as_str(), ":" | "id" | "counters") => {}
                Ok(other) => return other,
                Err(_) => panic!("no event within {within:?}"),
            }
        }
    }

    /// The next event named `name` (skipping others), within `within`.
    fn next_named(&self, name: &str, within: Duration) -> Event {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Some(e)) if e.event == name => return e,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the stream ended before an {name:?} event"),
                Err(_) => panic!("no {name:?} event within {within:?}"),
            }
        }
    }

    /// Whether anything but comments and counters arrives within `within`.
    fn quiet_for(&self, within: Duration) -> Result<(), Event> {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Some(e)) if matches!(e.event.as_str(), ":" | "id" | "counters") => {}
                Ok(Some(e)) => return Err(e),
                Ok(None) => {
                    return Err(Event {
                        id: None,
                        event: "<end>".into(),
                        data: String::new(),
                    })
                }
                Err(_) => return Ok(()),
            }
        }
    }

    /// Waits for the end of the stream, skipping what comes before it.
    fn ends_within(&self, within: Duration) -> bool {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(None) => return true,
                Ok(Some(_)) => {}
                Err(_) => return false,
            }
        }
    }
}

const WAIT: Duration = Duration::from_secs(5);

/// A number from `/metrics`.
fn metric(s: &TestServer, name: &str) -> u64 {
    let (_, m) = s.call("GET", "/metrics", Some(ADMIN), None);
    m.as_str()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

fn comment(s: &TestServer, token: &str, item: u64, text: &str) -> u16 {
    s.post(
        &format!("/v1/items/{item}/comments"),
        token,
        &json!({ "text": text }),
    )
    .0
}

/// `n` items titled `prefix i`, in batches of `batch`, with a long title so that frames
/// are big; returns their ids in creation order.
fn create_many(s: &TestServer, board: u64, n: usize, batch: usize, prefix: &str) -> Vec<u64> {
    let pad = "x".repeat(400);
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(batch) {
        let body: Vec<Value> = (start..(start + batch).min(n))
            .map(|i| json!({"board": board, "title": format!("{prefix} {i} {pad}")}))
            .collect();
        let (st, v) = s.post("/v1/items/batch", ADMIN, &Value::Array(body));
        assert_eq!(st, 200, "{v}");
        for r in v["results"].as_array().expect("results") {
            ids.push(r["id"].as_u64().expect("created"));
        }
    }
    ids
}

#[test]
fn a_board_stream_sees_the_focus_of_a_foreign_comment_and_nothing_that_was_not_committed() {
    let s = TestServer::spawn();
    let (board, cols) = s.board(&["New", "Won"]);
    let (other, _) = s.board(&["New"]);
    let older = s.item(board, "older");
    let item = s.item(board, "acme");
    let (_, bob) = s.user("Bob", false);
    let stream = Sse::open(&s, &format!("/v1/boards/{board}/stream"), &bob);

    // Refused writes commit nothing, so they publish nothing; other boards are not this
    // board's stream.
    assert_eq!(comment(&s, &bob, item, ""), 400);
    assert_eq!(comment(&s, &bob, 999_999, "x"), 404);
    let elsewhere = s.item(other, "elsewhere");
    assert_eq!(comment(&s, &bob, elsewhere, "hi"), 201);
    assert!(stream.quiet_for(Duration::from_millis(300)).is_ok());

    // Bob is not the responsible: his comment focuses the item.
    assert_eq!(comment(&s, &bob, item, "call me"), 201);
    let e = stream.next(WAIT).expect("an event");
    assert_eq!(e.event, "item.focused", "{e:?}");
    let data = e.json();
    assert_eq!(data["id"], item);
    assert_eq!(data["focus_reason"], "comment");
    assert_eq!(data["unread"], true);
    let id = e.id.expect("an id");
    // The id is the change number, and the change is committed: /metrics says so.
    let seq = metric(&s, "hoist_change_seq");
    assert!(id <= seq, "{id} > {seq}");

    // Moves, reads, updates and deletes follow in commit order.
    let (st, _) = s.post(
        &format!("/v1/items/{older}/move"),
        ADMIN,
        &json!({"position": "top"}),
    );
    assert_eq!(st, 200);
    let (st, _) = s.delete(&format!("/v1/items/{older}"), ADMIN);
    assert_eq!(st, 204);
    let moved = stream.next(WAIT).expect("moved");
    assert_eq!(
        (moved.event.as_str(), moved.json()["id"].as_u64()),
        ("item.moved", Some(older))
    );
    let deleted = stream.next(WAIT).expect("deleted");
    assert_eq!(deleted.event, "item.deleted");
    assert_eq!(deleted.json(), json!({"id": older, "board": board}));
    assert!(moved.id < deleted.id && Some(id) < moved.id);

    // Deleting a column moves its items: each move is on the stream.
    let (st, _) = s.post(
        &format!("/v1/items/{item}/move"),
        ADMIN,
        &json!({"column": cols[1], "position": "top"}),
    );
    assert_eq!(st, 200);
    assert_eq!(stream.next(WAIT).expect("moved").event, "item.moved");
    let (st, body) = s.delete(
        &format!("/v1/boards/{board}/columns/{}?move_to={}", cols[1], cols[0]),
        ADMIN,
    );
    assert_eq!(st, 204, "{body}");
    let e = stream.next(WAIT).expect("moved by the column's deletion");
    assert_eq!(e.event, "item.moved");
    assert_eq!(e.json()["id"], item);
    assert_eq!(e.json()["column"], cols[0]);

    // A stream of a board that does not exist, or without a token: the usual errors.
    let (code, body) = open_raw(&s, "/v1/boards/424242/stream", Some(&bob), &[]).unwrap_err();
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (code, _) = open_raw(&s, &format!("/v1/boards/{board}/stream"), None, &[]).unwrap_err();
    assert_eq!(code, 401);
    let (code, body) = open_raw(
        &s,
        &format!("/v1/boards/{board}/stream?since=1"),
        Some(&bob),
        &[],
    )
    .unwrap_err();
    assert_eq!(code, 400, "{body}");
}

#[test]
fn last_event_id_replays_what_was_missed_and_an_id_the_ring_no_longer_holds_gets_resync() {
    let s = TestServer::spawn_with_env(&[("HOIST_STREAM_RING", "64")]);
    let (board, _) = s.board(&["New"]);
    let first = Sse::open(&s, &format!("/v1/boards/{board}/stream"), ADMIN);
    let a = s.item(board, "a");
    let seen = first.next(WAIT).expect("a");
    assert_eq!(seen.json()["id"], a);
    drop(first);
    // Missed while away: two creates and a focus.
    let b = s.item(board, "b");
    let c = s.item(board, "c");
    let (_, bob) = s.user("Bob", false);
    assert_eq!(comment(&s, &bob, a, "ping"), 201);

    let last = seen.id.expect("id").to_string();
    let again = Sse::open_with(
        &s,
        &format!("/v1/boards/{board}/stream"),
        Some(ADMIN),
        &[("Last-Event-ID", &last)],
    );
    let got: Vec<(String, u64)> = (0..3)
        .map(|_| {
            let e = again.next(WAIT).expect("replayed");
            (e.event.clone(), e.json()["id"].as_u64().expect("id"))
        })
        .collect();
    assert_eq!(
        got,
        [
            ("item.created".to_string(), b),
            ("item.created".to_string(), c),
            ("item.focused".to_string(), a)
        ]
    );
    // ... and then it is live.
    let d = s.item(board, "d");
    assert_eq!(again.next(WAIT).expect("live").json()["id"], d);
    // The query parameter does the same for clients that cannot set the header.
    let by_query = Sse::open(
        &s,
        &format!("/v1/boards/{board}/stream?last_event_id={last}"),
        ADMIN,
    );
    assert_eq!(by_query.next(WAIT).expect("replayed").json()["id"], b);

    // 40 items are 80 changes: the ring of 64 no longer holds `last`.
    create_many(&s, board, 40, 10, "more");
    let gone = Sse::open_with(
        &s,
        &format!("/v1/boards/{board}/stream"),
        Some(ADMIN),
        &[("Last-Event-ID", &last)],
    );
    assert_eq!(gone.next(WAIT).expect("resync").event, "resync");
    assert!(gone.next(WAIT).is_none(), "the stream ends after resync");
    // An id from the future is not one this server gave: resync too.
    let future = Sse::open_with(
        &s,
        &format!("/v1/boards/{board}/stream"),
        Some(ADMIN),
        &[("Last-Event-ID", "99999999")],
    );
    assert_eq!(future.next(WAIT).expect("resync").event, "resync");
    let (code, body) = open_raw(
        &s,
        &format!("/v1/boards/{board}/stream"),
        Some(ADMIN),
        &[("Last-Event-ID", "yesterday")],
    )
    .unwrap_err();
    assert_eq!(code, 400, "{body}");
}

#[test]
fn a_reader_that_stops_reading_is_dropped_with_resync_while_a_fast_one_keeps_every_event() {
    let s = TestServer::spawn_with_env(&[("HOIST_STREAM_RING", "4000")]);
    let (board, _) = s.board(&["New"]);
    let fast = Sse::open(&s, &format!("/v1/boards/{board}/stream"), ADMIN);
    // The slow reader opens its stream and then reads nothing for a while.
    let slow =
        open_raw(&s, &format!("/v1/boards/{board}/stream"), Some(ADMIN), &[]).expect("slow opens");
    // 16,000 items of ~0.9 KB frames: far more than the socket buffers hold, and four
    // times the ring, in writes of 500 items (1,000 changes, well inside the ring).
    let n = 16_000;
    let ids = create_many(&s, board, n, 500, "flood");

    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let e = fast
            .next(Duration::from_secs(20))
            .expect("the fast reader keeps going");
        assert_eq!(e.event, "item.created");
        got.push(e.json()["id"].as_u64().expect("id"));
    }
    assert_eq!(got, ids, "the fast reader got every event, in order");

    // Now the slow one reads: what the socket held, then resync, then the end.
    let slow = Sse::reading(slow);
    let mut before = 0;
    loop {
        let e = slow
            .next(Duration::from_secs(20))
            .expect("resync before the end");
        if e.event == "resync" {
            break;
        }
        assert_eq!(e.event, "item.created");
        before += 1;
    }
    assert!(before < n, "the slow reader was cut off ({before} events)");
    assert!(slow.next(WAIT).is_none(), "dropped after resync");
    let (_, m) = s.call("GET", "/metrics", Some(ADMIN), None);
    assert!(
        m.as_str()
            .unwrap_or("")
            .contains("hoist_stream_resyncs_total 1"),
        "{m}"
    );
}

#[test]
fn tickets_open_one_stream_once_and_expire() {
    let s = TestServer::spawn_with_env(&[("HOIST_STREAM_TICKET_SECS", "1")]);
    let (board, _) = s.board(&["New"]);
    let (_, bob) = s.user("Bob", false);
    let (code, t) = s.post("/v1/streams/ticket", &bob, &json!({}));
    assert_eq!(code, 201, "{t}");
    let ticket = t["ticket"].as_str().expect("ticket").to_string();
    assert!(
        t["expires_at"].as_str().is_some_and(|e| e.ends_with('Z')),
        "{t}"
    );
    let path = format!("/v1/boards/{board}/stream?ticket={ticket}");
    let stream = Sse::open_with(&s, &path, None, &[]);
    let item = s.item(board, "x");
    assert_eq!(stream.next(WAIT).expect("event").json()["id"], item);
    // Used once: gone.
    let (code, body) = open_raw(&s, &path, None, &[]).unwrap_err();
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    // Unused but expired: gone too.
    let (_, t2) = s.post("/v1/streams/ticket", &bob, &json!({}));
    let late = t2["ticket"].as_str().expect("ticket").to_string();
    std::thread::sleep(Duration::from_millis(1_300));
    let (code, _) = open_raw(&s, &format!("/v1/feed/stream?ticket={late}"), None, &[]).unwrap_err();
    assert_eq!(code, 401);
    // Unknown, and asking for one without a token.
    let (code, _) = open_raw(&s, "/v1/feed/stream?ticket=nope", None, &[]).unwrap_err();
    assert_eq!(code, 401);
    let (code, _) = s.call("POST", "/v1/streams/ticket", None, None);
    assert_eq!(code, 401);
}

#[test]
fn the_feed_stream_shows_only_what_the_wall_shows_and_sends_counters() {
    let s = TestServer::spawn_with_env(&[("HOIST_STREAM_KEEPALIVE_SECS", "1")]);
    let (board, _) = s.board(&["New"]);
    let (ann_id, ann) = s.user("Ann", false);
    let (bob_id, bob) = s.user("Bob", false);
    let (carl_id, carl) = s.user("Carl", false);
    let (code, g) = s.post(
        "/v1/groups",
        ADMIN,
        &json!({"name": "Inner", "members": [ann_id, carl_id]}),
    );
    assert_eq!(code, 201, "{g}");
    let group = g["id"].as_u64().expect("group");
    let ann_feed = Sse::open(&s, "/v1/feed/stream", &ann);
    let bob_feed = Sse::open(&s, "/v1/feed/stream", &bob);
    // Counters come first, as they are now.
    let c = ann_feed.next_named("counters", WAIT).json();
    assert_eq!(
        c,
        json!({"unread_items": 0, "overdue_activities": 0, "total": 0})
    );

    // A group status and a direct message: Ann's, not Bob's.
    let (code, _) = s.post(
        "/v1/feed/posts",
        &carl,
        &json!({"text": "inner news", "group": group}),
    );
    assert_eq!(code, 201);
    let (code, v) = s.post(
        "/v1/messages",
        &carl,
        &json!({"text": "psst", "to_users": [ann_id]}),
    );
    assert_eq!(code, 201, "{v}");
    // A public status: everyone's. It comes after the others in commit order, so once
    // Bob has it he has had every chance to see the private ones.
    let (code, _) = s.post("/v1/feed/posts", &carl, &json!({"text": "hello all"}));
    assert_eq!(code, 201);

    let texts = |f: &Sse, n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                let e = f.next_named("entry", WAIT);
                assert!(e.id.is_some());
                e.json()["text"].as_str().unwrap_or("").to_string()
            })
            .collect()
    };
    assert_eq!(texts(&ann_feed, 3), ["inner news", "psst", "hello all"]);
    assert_eq!(texts(&bob_feed, 1), ["hello all"]);
    assert!(bob_feed.quiet_for(Duration::from_millis(300)).is_ok());

    // A foreign comment on Ann's item: the entry reaches her (she follows what she is
    // responsible for) and so does her new unread count.
    let (code, it) = s.post(
        "/v1/items",
        ADMIN,
        &json!({"board": board, "title": "ann's deal", "responsible": ann_id}),
    );
    assert_eq!(code, 201, "{it}");
    let item = it["id"].as_u64().expect("id");
    assert_eq!(comment(&s, &bob, item, "news for Ann"), 201);
    let c = ann_feed.next_named("counters", WAIT).json();
    assert_eq!(c["unread_items"], 1, "{c}");
    assert_eq!(c["total"], 1, "{c}");
    let _ = bob_id;
    // Keepalives go out when nothing else does.
    assert_eq!(
        bob_feed.next_named(":", Duration::from_secs(3)).data,
        "keepalive"
    );
}

#[test]
fn a_stream_ends_when_its_token_is_rotated_or_its_user_deactivated() {
    let s = TestServer::spawn();
    let (board, _) = s.board(&["New"]);
    let (bob_id, bob) = s.user("Bob", false);
    let (cy_id, cy) = s.user("Cy", false);
    let by_header = Sse::open(&s, &format!("/v1/boards/{board}/stream"), &bob);
    let (_, t) = s.post("/v1/streams/ticket", &bob, &json!({}));
    let ticket = t["ticket"].as_str().expect("ticket");
    let by_ticket = Sse::open_with(&s, &format!("/v1/feed/stream?ticket={ticket}"), None, &[]);
    let other = Sse::open(&s, &format!("/v1/boards/{board}/stream"), &cy);

    let (code, v) = s.post(&format!("/v1/users/{bob_id}/token"), ADMIN, &json!({}));
    assert_eq!(code, 200, "{v}");
    assert!(
        by_header.ends_within(Duration::from_secs(3)),
        "rotated: ended"
    );
    assert!(
        by_ticket.ends_within(Duration::from_secs(3)),
        "rotated: ticket stream ended"
    );
    // Others go on.
    let item = s.item(board, "x");
    assert_eq!(other.next(WAIT).expect("event").json()["id"], item);

    let (code, _) = s.delete(&format!("/v1/users/{cy_id}"), ADMIN);
    assert_eq!(code, 204);
    assert!(
        other.ends_within(Duration::from_secs(3)),
        "deactivated: ended"
    );
}

#[test]
fn a_quiet_board_stream_survives_a_busy_store_and_its_keepalive_carries_its_position() {
    let s = TestServer::spawn_with_env(&[
        ("HOIST_STREAM_RING", "64"),
        ("HOIST_STREAM_KEEPALIVE_SECS", "1"),
    ]);
    let (quiet, _) = s.board(&["New"]);
    let (busy, _) = s.board(&["New"]);
    let stream = Sse::open(&s, &format!("/v1/boards/{quiet}/stream"), ADMIN);
    // 300 changes elsewhere, more than four rings' worth, in writes of 20.
    create_many(&s, busy, 150, 10, "busy");
    // Its keepalive carries the position it has read up to, past all of them.
    let seq = metric(&s, "hoist_change_seq");
    let position = loop {
        let e = stream.next_named("id", Duration::from_secs(3));
        if e.id >= Some(seq) {
            break e.id.expect("id");
        }
    };
    // The quiet board's own change still arrives: no resync.
    let item = s.item(quiet, "at last");
    let e = stream.next(WAIT).expect("an event");
    assert_eq!(
        (e.event.as_str(), e.json()["id"].as_u64()),
        ("item.created", Some(item))
    );
    // A client resuming from the keepalive's position is not sent back to reload.
    let resumed = Sse::open_with(
        &s,
        &format!("/v1/boards/{quiet}/stream"),
        Some(ADMIN),
        &[("Last-Event-ID", &position.to_string())],
    );
    let e = resumed.next(WAIT).expect("replayed");
    assert_eq!(e.json()["id"], item);
    let (_, m) = s.call("GET", "/metrics", Some(ADMIN), None);
    assert!(
        m.as_str()
            .unwrap_or("")
            .contains("hoist_stream_resyncs_total 0"),
        "{m}"
    );
}
