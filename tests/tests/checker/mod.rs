//! The checker behind the crash tests (`crash.rs`: `kill -9` on a real disk;
//! `powercut.rs`: `kill -9` and a simulated power cut). Each round runs a mixed write load
//! against the real server (single and batched gateway events, foreign comments, moves,
//! activities whose deadlines come due across the rounds, 1 MiB group files), stops the
//! server without warning, optionally cuts the power, restarts it and checks what it answers
//! against what it acknowledged. The ledger of acknowledged writes is the model:
//!
//! - every acknowledged write is there; a write that was sent but not answered may or may
//!   not be (acknowledged ≤ effect ≤ acknowledged + in flight), and is then settled: an
//!   unanswered event is sent again and answers `accepted` or `duplicate`;
//! - every event id sent is in its item's timeline exactly once, and sending an
//!   acknowledged id again answers `duplicate`;
//! - an item's attention equals the focusing entries in its timeline (events, foreign
//!   comments, fired deadlines): no counter is off, none counted twice;
//! - each column's pages list exactly the items whose records name that column, once, and
//!   the Kanban's per-column `count` and `unread` equal a recount of those pages;
//! - every file reads back byte for byte;
//! - at the end, every activity's deadline fired exactly once (also those that came due
//!   while the server was down, and again after one more crash), the per-user counters per
//!   board and column equal a recount from the items, and every item equals the model.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::server::{now_ms, rfc3339, TestServer, ADMIN};

const CLIENTS: usize = 4;
const LOAD: Duration = Duration::from_millis(1500);
const EVENT_ITEMS: usize = 24;
const MOVE_ITEMS_PER_CLIENT: usize = 6;
const FILE_SIZE: usize = 1 << 20;

/// What the server acknowledged, and what was sent without an answer.
#[derive(Default)]
struct Ledger {
    /// Event id → (item, acknowledged).
    events: HashMap<String, (u64, bool)>,
    /// Comment text → (item, acknowledged).
    comments: HashMap<String, (u64, bool)>,
    /// Moved item → (column acknowledged, column of a move sent but not answered).
    moves: HashMap<u64, (u64, Option<u64>)>,
    /// Activity items → (activity acknowledged or found, deadline in ms).
    activities: HashMap<u64, (bool, i64)>,
    /// Items created for activities (acknowledged) → title.
    activity_items: HashMap<u64, String>,
    /// Acknowledged files: (group, file id, seed of its bytes).
    files: Vec<(u64, u64, u64)>,
}

struct Fixture {
    board: u64,
    cols: Vec<u64>,
    event_items: Vec<u64>,
    /// Items each client moves (partitioned, so one item has one mover).
    move_items: Vec<Vec<u64>>,
    group: u64,
    bob: String,
}

/// xorshift64*: the test's own deterministic randomness.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

/// A file's bytes, regenerated from its seed for the check.
fn file_bytes(seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    let mut v = Vec::with_capacity(FILE_SIZE);
    while v.len() < FILE_SIZE {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(FILE_SIZE);
    v
}

/// One request during the load; `None` when no answer came (the server was killed).
fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    ct: &str,
    body: &[u8],
) -> Option<(u16, Value)> {
    let res = ureq::request(method, &s.url(path))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", ct)
        .timeout(Duration::from_secs(10))
        .send_bytes(body);
    let resp = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return None,
    };
    let status = resp.status();
    let v = resp.into_json().ok()?;
    Some((status, v))
}

fn send_json(s: &TestServer, path: &str, token: &str, body: &Value) -> Option<(u16, Value)> {
    send(
        s,
        "POST",
        path,
        token,
        "application/json",
        body.to_string().as_bytes(),
    )
}

fn client(
    s: &TestServer,
    fx: &Fixture,
    n: usize,
    round: usize,
    stop: &AtomicBool,
    ledger: &Mutex<Ledger>,
    acked: &AtomicUsize,
) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((round as u64) << 32 | n as u64));
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let tag = format!("pc-{round}-{n}-{i}");
        match rng.below(10) {
            0..=2 => {
                let item = fx.event_items[rng.below(fx.event_items.len())];
                ledger.lock().events.insert(tag.clone(), (item, false));
                let body = json!({"id": tag, "kind": "call_in", "item": item});
                match send_json(s, "/v1/events", ADMIN, &body) {
                    Some((201, v)) => {
                        assert_eq!(v["status"], "accepted", "{tag}: {v}");
                        ledger.lock().events.insert(tag, (item, true));
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
            3 | 4 => {
                let batch: Vec<(String, u64)> = (0..25)
                    .map(|k| {
                        (
                            format!("{tag}-{k}"),
                            fx.event_items[rng.below(fx.event_items.len())],
                        )
                    })
                    .collect();
                {
                    let mut l = ledger.lock();
                    for (id, item) in &batch {
                        l.events.insert(id.clone(), (*item, false));
                    }
                }
                let body: Vec<Value> = batch
                    .iter()
                    .map(|(id, item)| json!({"id": id, "kind": "email_in", "item": item}))
                    .collect();
                match send_json(s, "/v1/events/batch", ADMIN, &Value::Array(body)) {
                    Some((200, v)) => {
                        let mut l = ledger.lock();
                        for (k, r) in v["results"].as_array().unwrap().iter().enumerate() {
                            assert_eq!(r["status"], "accepted", "{v}");
                            l.events.get_mut(&batch[k].0).unwrap().1 = true;
                        }
                        acked.fetch_add(batch.len(), Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
            5 | 6 => {
                let item = fx.event_items[rng.below(fx.event_items.len())];
                ledger.lock().comments.insert(tag.clone(), (item, false));
                let path = format!("/v1/items/{item}/comments");
                match send_json(s, &path, &fx.bob, &json!({"text": tag})) {
                    Some((201, _)) => {
                        ledger.lock().comments.insert(tag, (item, true));
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
            7 | 8 => {
                let mine = &fx.move_items[n];
                let item = mine[rng.below(mine.len())];
                let to = fx.cols[rng.below(fx.cols.len())];
                let from = ledger.lock().moves[&item].0;
                ledger.lock().moves.insert(item, (from, Some(to)));
                let path = format!("/v1/items/{item}/move");
                let body = json!({"column": to, "position": "top"});
                match send_json(s, &path, ADMIN, &body) {
                    Some((200, _)) => {
                        ledger.lock().moves.insert(item, (to, None));
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
            _ => {
                let body = json!({"board": fx.board, "column": fx.cols[0], "title": tag});
                let item = match send_json(s, "/v1/items", ADMIN, &body) {
                    Some((201, v)) => v["id"].as_u64().unwrap(),
                    _ => return,
                };
                ledger.lock().activity_items.insert(item, tag.clone());
                // Deadlines 1–8 s ahead: many come due in later rounds, some while the
                // server is down.
                let deadline = now_ms() + 1000 + i64::try_from(rng.below(7000)).unwrap();
                ledger.lock().activities.insert(item, (false, deadline));
                let body = json!({"kind": "call", "subject": tag, "deadline": rfc3339(deadline),
                                  "remind_before_minutes": []});
                match send_json(s, &format!("/v1/items/{item}/activities"), ADMIN, &body) {
                    Some((201, _)) => {
                        ledger.lock().activities.insert(item, (true, deadline));
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
        }
    }
}

fn uploader(
    s: &TestServer,
    fx: &Fixture,
    round: usize,
    stop: &AtomicBool,
    ledger: &Mutex<Ledger>,
    acked: &AtomicUsize,
) {
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let seed = (round as u64) << 20 | k;
        let path = format!("/v1/groups/{}/files?name=f{seed}.bin", fx.group);
        match send(
            s,
            "POST",
            &path,
            ADMIN,
            "application/octet-stream",
            &file_bytes(seed),
        ) {
            Some((201, v)) => {
                assert_eq!(v["size"], FILE_SIZE, "{v}");
                ledger
                    .lock()
                    .files
                    .push((fx.group, v["id"].as_u64().unwrap(), seed));
                acked.fetch_add(1, Ordering::Relaxed);
            }
            _ => return,
        }
    }
}

/// Every element of a paged list, following `next_cursor`; `path` has a query already.
fn all_pages(s: &TestServer, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let (st, v) = s.get(&page, ADMIN);
        assert_eq!(st, 200, "{page}: {v}");
        out.extend(v["items"].as_array().unwrap().iter().cloned());
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

/// Every entry of an item's timeline, newest first.
fn timeline(s: &TestServer, item: u64) -> Vec<Value> {
    all_pages(s, &format!("/v1/items/{item}/timeline?limit=500"))
}

/// A group file's bytes; an acknowledged file that cannot be read fails the test.
fn download(s: &TestServer, group: u64, id: u64) -> Vec<u8> {
    let resp = ureq::get(&s.url(&format!("/v1/groups/{group}/files/{id}")))
        .set("Authorization", &format!("Bearer {ADMIN}"))
        .timeout(Duration::from_secs(30))
        .call();
    let resp = match resp {
        Ok(r) => r,
        Err(e) => panic!("acknowledged file {id} lost: {e}"),
    };
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut got).unwrap();
    got
}

/// Item → number of its activities, from the Activities view of the board.
fn activities(s: &TestServer, board: u64) -> HashMap<u64, usize> {
    let mut out = HashMap::new();
    for a in all_pages(s, &format!("/v1/activities?board={board}&limit=500")) {
        *out.entry(a["item"].as_u64().unwrap()).or_default() += 1;
    }
    out
}

/// Deadlines fired on an item so far (its `deadline` timeline entries).
fn fired(s: &TestServer, item: u64) -> u64 {
    timeline(s, item)
        .iter()
        .filter(|e| e["kind"] == "deadline")
        .count() as u64
}

/// Every item of a column, top first, as the pages show them.
fn column(s: &TestServer, board: u64, col: u64) -> Vec<Value> {
    all_pages(
        s,
        &format!("/v1/boards/{board}/columns/{col}/items?limit=97"),
    )
}

/// Each column's pages list exactly the items whose records name that column, once, and
/// the Kanban's per-column `count` and `unread` equal a recount of those pages. A deadline
/// that fires during the walk changes `unread` under it, so a walk that disagrees with the
/// Kanban is taken again (at most five times) before it fails.
fn check_index(s: &TestServer, fx: &Fixture, round: usize) -> usize {
    let mut last = String::new();
    for _attempt in 0..5 {
        let (st, k) = s.get(
            &format!("/v1/boards/{}/kanban?per_column=1", fx.board),
            ADMIN,
        );
        assert_eq!(st, 200, "{k}");
        let mut listed: HashMap<u64, u64> = HashMap::new();
        let mut agree = true;
        for (i, &col) in fx.cols.iter().enumerate() {
            let items = column(s, fx.board, col);
            let unread = items.iter().filter(|it| it["unread"] == true).count();
            for it in &items {
                let id = it["id"].as_u64().unwrap();
                assert!(
                    listed.insert(id, col).is_none(),
                    "round {round}: item {id} listed twice"
                );
                assert_eq!(
                    it["column"], col,
                    "round {round}: index and record disagree on item {id}"
                );
            }
            let kc = &k["columns"][i];
            assert_eq!(kc["id"], col);
            if kc["count"] != items.len() || kc["unread"] != unread {
                agree = false;
                last = format!(
                    "column {col}: kanban count {} unread {}, pages {} unread {unread}",
                    kc["count"],
                    kc["unread"],
                    items.len()
                );
            }
        }
        if agree {
            return listed.len();
        }
    }
    panic!("round {round}: the Kanban disagrees with its pages: {last}");
}

fn attention(s: &TestServer, item: u64) -> u64 {
    let (st, v) = s.get(&format!("/v1/items/{item}"), ADMIN);
    assert_eq!(st, 200, "item {item}: {v}");
    v["attention"].as_u64().unwrap()
}

/// Sends events again in batches; returns each id's status.
fn resend(s: &TestServer, events: &[(String, u64)]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for chunk in events.chunks(1000) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|(id, item)| json!({"id": id, "kind": "call_in", "item": item}))
            .collect();
        let (st, v) = s.post("/v1/events/batch", ADMIN, &Value::Array(body));
        assert_eq!(st, 200, "{v}");
        for (k, r) in v["results"].as_array().unwrap().iter().enumerate() {
            out.insert(
                chunk[k].0.clone(),
                r["status"].as_str().unwrap().to_string(),
            );
        }
    }
    out
}

/// Checks everything acknowledged so far and settles what was in flight. Returns the
/// number of writes checked.
fn verify(s: &TestServer, fx: &Fixture, ledger: &Mutex<Ledger>, round: usize) -> usize {
    let mut l = ledger.lock();
    let mut checked = 0;

    // Events: an acknowledged id answers `duplicate`; one in flight may have landed or
    // not, and once sent again is in exactly once.
    let all: Vec<(String, u64)> = l
        .events
        .iter()
        .map(|(id, (item, _))| (id.clone(), *item))
        .collect();
    let statuses = resend(s, &all);
    let mut lost = Vec::new();
    for (id, (_, acked)) in l.events.iter_mut() {
        let st = statuses[id].as_str();
        if *acked && st != "duplicate" {
            lost.push(id.clone());
        }
        assert!(st == "duplicate" || st == "accepted", "{id}: {st}");
        *acked = true;
        checked += 1;
    }
    lost.sort();
    assert!(
        lost.is_empty(),
        "round {round}: {} of {} acknowledged events lost after the power cut, e.g. {:?}",
        lost.len(),
        all.len(),
        &lost[..lost.len().min(5)]
    );

    // Per event item: each event id once, acknowledged comments present, attention equal
    // to the focusing entries.
    let mut found_comments = HashSet::new();
    for &item in &fx.event_items {
        let tl = timeline(s, item);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut comments = 0u64;
        for e in &tl {
            if let Some(id) = e["event_id"].as_str() {
                *seen.entry(id).or_default() += 1;
            }
            if e["kind"] == "comment" {
                let text = e["text"].as_str().unwrap();
                let known = l.comments.get_mut(text);
                let Some((at, acked)) = known else {
                    panic!("item {item}: a comment nobody sent: {text}");
                };
                assert_eq!(*at, item);
                *acked = true;
                comments += 1;
                found_comments.insert(text.to_string());
            }
        }
        let sent: Vec<&String> = l
            .events
            .iter()
            .filter(|(_, (i, _))| *i == item)
            .map(|(id, _)| id)
            .collect();
        for id in &sent {
            assert_eq!(
                seen.get(id.as_str()),
                Some(&1),
                "item {item}: event {id} not exactly once"
            );
        }
        assert_eq!(seen.len(), sent.len(), "item {item}: events nobody sent");
        assert_eq!(
            attention(s, item),
            sent.len() as u64 + comments,
            "item {item}: attention is not events + foreign comments"
        );
    }
    // A comment acknowledged but not found was lost; one in flight and not found never was.
    let lost: Vec<String> = l
        .comments
        .iter()
        .filter(|(text, (_, acked))| *acked && !found_comments.contains(*text))
        .map(|(t, _)| t.clone())
        .collect();
    assert!(
        lost.is_empty(),
        "round {round}: acknowledged comments lost: {lost:?}"
    );
    l.comments.retain(|_, (_, acked)| *acked);
    checked += l.comments.len();

    // Moves.
    for (item, (col, pending)) in l.moves.iter_mut() {
        let (st, v) = s.get(&format!("/v1/items/{item}"), ADMIN);
        assert_eq!(st, 200, "{v}");
        let at = v["column"].as_u64().unwrap();
        assert!(
            at == *col || Some(at) == *pending,
            "round {round}: item {item} acknowledged in column {col}, found in {at}"
        );
        *col = at;
        *pending = None;
        checked += 1;
    }

    // Activities: acknowledged ones exist (the Activities view lists them); a deadline
    // fired at most once so far, and the item's attention counts exactly the fired ones.
    let listed = activities(s, fx.board);
    let items: Vec<(u64, bool)> = l.activities.iter().map(|(i, (a, _))| (*i, *a)).collect();
    for (item, acked) in items {
        let created = listed.get(&item).copied().unwrap_or(0);
        if acked {
            assert_eq!(
                created, 1,
                "round {round}: acknowledged activity of item {item} lost"
            );
        }
        // The timer thread may fire the deadline between two reads: attention lies between
        // the fired deadlines seen before and after it.
        let before = fired(s, item);
        let att = attention(s, item);
        let after = fired(s, item);
        assert!(
            created <= 1 && after <= created as u64,
            "round {round}: item {item}: {created} activities, {after} fired deadlines"
        );
        assert!(
            before <= att && att <= after,
            "round {round}: item {item}: attention {att}, fired deadlines {before}..{after}"
        );
        if created == 1 {
            l.activities.get_mut(&item).unwrap().0 = true;
        } else {
            l.activities.remove(&item);
        }
        checked += 1;
    }
    assert_eq!(
        listed.values().sum::<usize>(),
        l.activities.len(),
        "round {round}: activities nobody created"
    );
    for (&item, title) in &l.activity_items {
        let (st, v) = s.get(&format!("/v1/items/{item}"), ADMIN);
        assert_eq!(st, 200, "round {round}: acknowledged item {item} lost: {v}");
        assert_eq!(v["title"], title.as_str(), "round {round}: item {item}");
    }
    checked += check_index(s, fx, round);

    // Files, byte for byte: those of this round, and every earlier one in turn (all of
    // them at the end, in `verify_end`).
    let files: Vec<(u64, u64, u64)> = l
        .files
        .iter()
        .enumerate()
        .filter(|(k, (_, _, seed))| *seed >> 20 == round as u64 || k % 8 == round % 8)
        .map(|(_, f)| *f)
        .collect();
    for (group, id, seed) in &files {
        assert!(
            download(s, *group, *id) == file_bytes(*seed),
            "round {round}: file {id} came back different"
        );
        checked += 1;
    }
    checked
}

/// After the last round: every activity's deadline fired exactly once, and the counters
/// agree with a recount from the items.
fn verify_end(s: &TestServer, fx: &Fixture, ledger: &Mutex<Ledger>) {
    let l = ledger.lock();
    for (group, id, seed) in &l.files {
        assert!(
            download(s, *group, *id) == file_bytes(*seed),
            "file {id} came back different"
        );
    }
    let last = l.activities.values().map(|(_, d)| *d).max().unwrap_or(0);
    let started = Instant::now();
    for (&item, _) in l.activities.iter() {
        loop {
            let fired = timeline(s, item)
                .iter()
                .filter(|e| e["kind"] == "deadline")
                .count();
            if fired == 1 {
                break;
            }
            assert_eq!(fired, 0, "item {item}: its deadline fired {fired} times");
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "item {item}: deadline {} not fired, {} ms after the last deadline",
                rfc3339(l.activities[&item].1),
                now_ms() - last
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(attention(s, item), 1, "item {item}");
    }
    // Recount from the items, per board and column: unread items, and activities past
    // their deadline (every one by now; each on its item's column).
    let mut unread: HashMap<u64, u64> = HashMap::new();
    let mut overdue: HashMap<u64, u64> = HashMap::new();
    let mut model_checked = 0usize;
    for &col in &fx.cols {
        for it in column(s, fx.board, col) {
            let id = it["id"].as_u64().unwrap();
            let att = it["attention"].as_u64().unwrap();
            assert_eq!(it["unread"], att > 0, "{it}");
            *unread.entry(col).or_default() += u64::from(att > 0);
            *overdue.entry(col).or_default() += u64::from(l.activities.contains_key(&id));
            // The model: what this item must be, from the acknowledged writes alone.
            let want_att = if fx.event_items.contains(&id) {
                let events = l.events.values().filter(|(i, _)| *i == id).count();
                let comments = l.comments.values().filter(|(i, _)| *i == id).count();
                Some((events + comments) as u64)
            } else if l.activities.contains_key(&id) {
                Some(1)
            } else if l.moves.contains_key(&id) {
                assert_eq!(
                    l.moves[&id].0, col,
                    "item {id} is not where the model put it"
                );
                Some(0)
            } else {
                None
            };
            if let Some(want) = want_att {
                assert_eq!(
                    att, want,
                    "item {id}: attention {att}, the model says {want}"
                );
                model_checked += 1;
            }
            if let Some(title) = l.activity_items.get(&id) {
                assert_eq!(it["title"], title.as_str());
            }
        }
    }
    let modelled = fx.event_items.len() + l.moves.len() + l.activities.len();
    assert_eq!(
        model_checked, modelled,
        "items of the model missing from the board"
    );
    let (st, c) = s.get("/v1/counters", ADMIN);
    assert_eq!(st, 200, "{c}");
    let total_unread: u64 = unread.values().sum();
    assert_eq!(
        c["unread_items"], total_unread,
        "counters vs a recount of the items: {c}"
    );
    assert_eq!(
        c["overdue_activities"],
        l.activities.len(),
        "every activity is past its deadline: {c}"
    );
    let board = c["boards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["board"] == fx.board)
        .unwrap_or_else(|| panic!("no counters for board {}: {c}", fx.board));
    for colc in board["columns"].as_array().unwrap() {
        let col = colc["column"].as_u64().unwrap();
        assert_eq!(
            colc["unread_items"],
            unread.get(&col).copied().unwrap_or(0),
            "column {col}: {c}"
        );
        assert_eq!(
            colc["overdue_activities"],
            overdue.get(&col).copied().unwrap_or(0),
            "column {col}: {c}"
        );
    }
}

/// Starts the server on what the cut left; if it cannot start, keeps a copy of the data
/// directory for a post-mortem (`HOIST_POWERCUT_KEEP=<dir>`) and fails.
/// A checkpoint every few groups, so that many kills land in the middle of one: every
/// restart must read as the model says whether the last checkpoint was whole or not.
const CHECKPOINT_OFTEN: &[(&str, &str)] = &[("HOIST_CHECKPOINT_EVERY", "128")];

fn restart(data: &std::path::Path) -> TestServer {
    match TestServer::try_spawn_at_with_env(data, CHECKPOINT_OFTEN) {
        Ok(s) => s,
        Err(e) => {
            if let Some(keep) = std::env::var_os("HOIST_POWERCUT_KEEP") {
                let status = std::process::Command::new("cp")
                    .arg("-a")
                    .arg(data)
                    .arg(&keep)
                    .status();
                eprintln!("powercut: data directory copied to {keep:?}: {status:?}");
            }
            panic!("the server did not restart after the power cut: {e}");
        }
    }
}

fn setup(s: &TestServer) -> Fixture {
    let (board, cols) = s.board(&["A", "B", "C"]);
    let (bob_id, bob) = s.user("bob", false);
    let event_items = (0..EVENT_ITEMS)
        .map(|k| s.item(board, &format!("event item {k}")))
        .collect();
    let move_items = (0..CLIENTS)
        .map(|n| {
            (0..MOVE_ITEMS_PER_CLIENT)
                .map(|k| s.item(board, &format!("moved {n}-{k}")))
                .collect()
        })
        .collect();
    let (st, g) = s.post(
        "/v1/groups",
        ADMIN,
        &json!({"name": "files", "members": [1, bob_id]}),
    );
    assert_eq!(st, 201, "{g}");
    Fixture {
        board,
        cols,
        event_items,
        move_items,
        group: g["id"].as_u64().unwrap(),
        bob,
    }
}

/// Runs `rounds` rounds of load, `kill -9`, `cut` (which loses what a power cut would, or
/// nothing) and checks, on a server with its data in `data`; then the end checks, one more
/// crash, and the end checks again (no timer fires twice). `cut` returns a line of its own
/// statistics for the report. Prints `<name>: 1 passed, 0 failed` on success.
pub fn run(name: &str, data: &Path, rounds: usize, cut: &dyn Fn() -> String) {
    let started = Instant::now();
    let mut s = TestServer::try_spawn_at_with_env(data, CHECKPOINT_OFTEN).expect("start server");
    let fx = setup(&s);
    let ledger = Mutex::new(Ledger::default());
    {
        let mut l = ledger.lock();
        for items in &fx.move_items {
            for &i in items {
                l.moves.insert(i, (fx.cols[0], None));
            }
        }
    }
    let mut checked = 0usize;
    for round in 0..rounds {
        let stop = AtomicBool::new(false);
        let acked = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            let (srv, fx, ledger, stop, acked) = (&s, &fx, &ledger, &stop, &acked);
            for n in 0..CLIENTS {
                sc.spawn(move || client(srv, fx, n, round, stop, ledger, acked));
            }
            sc.spawn(move || uploader(srv, fx, round, stop, ledger, acked));
            std::thread::sleep(LOAD);
            // The server dies while the clients are writing (SIGKILL); the scope waits for
            // every client to see it.
            srv.signal(nix::sys::signal::Signal::SIGKILL);
            stop.store(true, Ordering::Relaxed);
        });
        // Reaped before the cut, so nothing uses the data directory; then the disk loses
        // what a power cut would.
        drop(s.kill9());
        let report = cut();
        s = restart(data);
        checked = verify(&s, &fx, &ledger, round);
        let acked = acked.load(Ordering::Relaxed);
        assert!(acked > 0, "round {round}: no write was acknowledged");
        println!("{name} round {round}: {acked} writes acknowledged; {checked} checks passed after the restart{report}");
    }
    verify_end(&s, &fx, &ledger);
    // One more crash after every deadline fired. A timer that fired before it must not
    // fire again; one that would is due at once and fires at the timer thread's first poll,
    // so a short wait is enough to see it.
    drop(s.kill9());
    let _ = cut();
    let s = restart(data);
    std::thread::sleep(Duration::from_millis(500));
    verify_end(&s, &fx, &ledger);
    let l = ledger.lock();
    println!(
        "{name}: {rounds} rounds in {:.1} s; {} events, {} comments, {} files, {} activities (each deadline fired once), {} moved items; {checked} checks in the last round",
        started.elapsed().as_secs_f64(),
        l.events.len(),
        l.comments.len(),
        l.files.len(),
        l.activities.len(),
        l.moves.len()
    );
    println!("{name}: 1 passed, 0 failed");
}
