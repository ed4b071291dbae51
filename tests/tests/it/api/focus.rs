//! Focus mode over HTTP: every trigger and non-trigger, reading, boards with focus off,
//! activities (CRUD, validation, the Activities view) and their timers in real time,
//! and the counters that follow all of it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::server::{now_ms, rfc3339, TestServer, ADMIN};

const MINUTE: i64 = 60_000;

/// Calls `f` every 100 ms for up to `limit`; the first `Some` it returns, else `None`.
fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(x) = f() {
            return Some(x);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn me(s: &TestServer, token: &str) -> u64 {
    let (st, v) = s.get("/v1/me", token);
    assert_eq!(st, 200, "{v}");
    v["id"].as_u64().unwrap()
}

fn item(s: &TestServer, id: u64) -> Value {
    let (st, v) = s.get(&format!("/v1/items/{id}"), ADMIN);
    assert_eq!(st, 200, "{v}");
    v
}

fn attention(s: &TestServer, id: u64) -> u64 {
    item(s, id)["attention"].as_u64().unwrap()
}

fn new_item(s: &TestServer, body: Value) -> u64 {
    let (st, v) = s.post("/v1/items", ADMIN, &body);
    assert_eq!(st, 201, "{v}");
    v["id"].as_u64().unwrap()
}

/// The whole timeline of an item, newest first.
fn timeline(s: &TestServer, id: u64) -> Vec<Value> {
    let (st, v) = s.get(&format!("/v1/items/{id}/timeline?limit=500"), ADMIN);
    assert_eq!(st, 200, "{v}");
    assert!(v["next_cursor"].is_null());
    v["items"].as_array().unwrap().clone()
}

fn kinds(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

fn counters(s: &TestServer, user: u64) -> Value {
    let (st, v) = s.get(&format!("/v1/counters?user={user}"), ADMIN);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["user"], user);
    v
}

/// (unread_items, overdue_activities, total)
fn totals(c: &Value) -> (u64, u64, u64) {
    (
        c["unread_items"].as_u64().unwrap(),
        c["overdue_activities"].as_u64().unwrap(),
        c["total"].as_u64().unwrap(),
    )
}

fn comment(s: &TestServer, token: &str, id: u64, text: &str) -> Value {
    let (st, v) = s.post(
        &format!("/v1/items/{id}/comments"),
        token,
        &json!({ "text": text }),
    );
    assert_eq!(st, 201, "{v}");
    v
}

fn event(s: &TestServer, body: Value) -> Value {
    let (st, v) = s.post("/v1/events", ADMIN, &body);
    assert_eq!(st, 201, "{v}");
    v
}

fn activity(s: &TestServer, id: u64) -> Value {
    let (st, v) = s.get(&format!("/v1/activities/{id}"), ADMIN);
    assert_eq!(st, 200, "{v}");
    v
}

fn state(s: &TestServer, id: u64) -> String {
    activity(s, id)["state"].as_str().unwrap().to_string()
}

fn create_activity(s: &TestServer, item: u64, body: Value) -> Value {
    let (st, v) = s.post(&format!("/v1/items/{item}/activities"), ADMIN, &body);
    assert_eq!(st, 201, "{v}");
    v
}

fn activity_ids(v: &Value) -> Vec<u64> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect()
}

fn list_activities(s: &TestServer, token: &str, query: &str) -> Vec<u64> {
    let (st, v) = s.get(&format!("/v1/activities{query}"), token);
    assert_eq!(st, 200, "{v}");
    activity_ids(&v)
}

fn move_top(s: &TestServer, id: u64) {
    let (st, v) = s.post(
        &format!("/v1/items/{id}/move"),
        ADMIN,
        &json!({"position": "top"}),
    );
    assert_eq!(st, 200, "{v}");
}

#[test]
fn a_comment_by_another_user_focuses_the_item() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (b, cols) = s.board(&["New", "Won"]);
    let (bob, bob_token) = s.user("Bob", false);
    let x = s.item(b, "x");
    let y = s.item(b, "y");
    let z = s.item(b, "z");
    let w = new_item(&s, json!({"board": b, "column": cols[1], "title": "w"}));
    assert_eq!(s.walk(b, cols[0], 50), vec![z, y, x]);
    assert_eq!(totals(&counters(&s, admin)), (0, 0, 0));

    let c = comment(&s, &bob_token, x, "Any news?");
    assert_eq!(
        (&c["kind"], &c["author"], &c["item"], &c["text"]),
        (
            &json!("comment"),
            &json!(bob),
            &json!(x),
            &json!("Any news?")
        )
    );
    assert_eq!(s.walk(b, cols[0], 50), vec![x, z, y], "x went to the top");
    let it = item(&s, x);
    assert_eq!(it["focus_reason"], "comment");
    assert_eq!(
        (it["attention"].as_u64(), &it["unread"]),
        (Some(1), &json!(true))
    );
    assert_eq!(timeline(&s, x), vec![c], "the comment is on the timeline");
    assert_eq!(
        counters(&s, admin),
        json!({"user": admin, "unread_items": 1, "overdue_activities": 0, "total": 1,
               "boards": [{"board": b, "unread_items": 1, "overdue_activities": 0,
                           "columns": [{"column": cols[0], "unread_items": 1, "overdue_activities": 0}]}]})
    );
    // The commenter's own counters do not change: they are not responsible.
    assert_eq!(totals(&counters(&s, bob)), (0, 0, 0));
    let (_, k) = s.get(&format!("/v1/boards/{b}/kanban"), ADMIN);
    assert_eq!(
        (&k["columns"][0]["unread"], &k["columns"][1]["unread"]),
        (&json!(1), &json!(0))
    );

    // Another item, another column: a focus stays within the item's column.
    comment(&s, &bob_token, w, "And this one?");
    assert_eq!(s.walk(b, cols[1], 50), vec![w]);
    comment(&s, &bob_token, y, "Hello");
    assert_eq!(s.walk(b, cols[0], 50), vec![y, x, z]);
    // A second comment on x: attention 2, still one unread item.
    comment(&s, &bob_token, x, "Ping");
    assert_eq!(s.walk(b, cols[0], 50), vec![x, y, z]);
    assert_eq!(attention(&s, x), 2);
    assert_eq!(attention(&s, y), 1);
    assert_eq!(attention(&s, z), 0);
    assert_eq!(
        counters(&s, admin),
        json!({"user": admin, "unread_items": 3, "overdue_activities": 0, "total": 3,
               "boards": [{"board": b, "unread_items": 3, "overdue_activities": 0,
                           "columns": [{"column": cols[0], "unread_items": 2, "overdue_activities": 0},
                                       {"column": cols[1], "unread_items": 1, "overdue_activities": 0}]}]})
    );
    assert_eq!(
        kinds(&timeline(&s, x)),
        ["comment", "comment"],
        "newest first"
    );
    assert_eq!(timeline(&s, x)[0]["text"], "Ping");
}

#[test]
fn incoming_events_focus_by_item_and_by_contact() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (b, cols) = s.board(&["New"]);
    let kinds_in = ["email_in", "chat_in", "call_in", "call_missed"];
    let items: Vec<u64> = (0..kinds_in.len())
        .map(|i| {
            new_item(
                &s,
                json!({"board": b, "title": format!("t{i}"),
                       "contacts": {"phones": [format!("+1 (555) 010-200{i}")],
                                    "emails": [format!("Client{i}@Example.com")]}}),
            )
        })
        .collect();
    let filler = s.item(b, "filler");
    let mut order: Vec<u64> = std::iter::once(filler)
        .chain(items.iter().rev().copied())
        .collect();
    assert_eq!(s.walk(b, cols[0], 50), order);

    for (i, kind) in kinds_in.iter().enumerate() {
        let id = items[i];
        let contacts = [
            json!({"item": id}),
            json!({"contact": {"phone": format!("+1555010200{i}")}}),
            json!({"contact": {"email": format!("CLIENT{i}@example.COM")}}),
        ];
        for (n, target) in contacts.iter().enumerate() {
            // The filler goes on top by hand (not a focus); the event brings the item back.
            move_top(&s, filler);
            order.retain(|x| *x != filler);
            order.insert(0, filler);
            let mut body = json!({"id": format!("{kind}-{n}"), "kind": kind, "summary": format!("{kind} #{n}")});
            for (k, v) in target.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = event(&s, body);
            assert_eq!(
                r,
                json!({"status": "accepted", "item": id}),
                "{kind} {target}"
            );
            order.retain(|x| *x != id);
            order.insert(0, id);
            assert_eq!(s.walk(b, cols[0], 50), order, "{kind} {target}");
            let it = item(&s, id);
            assert_eq!(it["focus_reason"], *kind);
            assert_eq!(it["attention"], n + 1, "{kind} {target}");
            assert_eq!(it["unread"], true);
        }
        let tl = timeline(&s, id);
        assert_eq!(kinds(&tl), ["event", "event", "event"]);
        let ids: Vec<&str> = tl.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                format!("{kind}-2"),
                format!("{kind}-1"),
                format!("{kind}-0")
            ]
        );
        assert!(tl.iter().all(|e| e["event_kind"] == *kind));
        assert_eq!(tl[0]["text"], format!("{kind} #2"));
        assert_eq!(tl[0]["author"], admin);
        assert_eq!(
            totals(&counters(&s, admin)),
            (i as u64 + 1, 0, i as u64 + 1)
        );
    }
    assert_eq!(attention(&s, filler), 0);
}

#[test]
fn edits_own_comments_notes_and_outgoing_events_do_not_focus() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (b, cols) = s.board(&["New"]);
    let (bob, bob_token) = s.user("Bob", false);
    let x = new_item(
        &s,
        json!({"board": b, "title": "x", "contacts": {"phones": ["+1 555 010 2030"], "emails": ["x@example.com"]}}),
    );
    let y = s.item(b, "y");
    // x is focused once (Bob's comment), then z lands on top of it.
    comment(&s, &bob_token, x, "first");
    let z = s.item(b, "z");
    let order = vec![z, x, y];
    assert_eq!(s.walk(b, cols[0], 50), order);
    let focused = item(&s, x);
    assert_eq!(focused["attention"], 1);
    let mut entries = 1;
    let mut check = |what: &str, kind: &str| -> Value {
        assert_eq!(s.walk(b, cols[0], 50), order, "{what} moved the item");
        let it = item(&s, x);
        assert_eq!(it["attention"], 1, "{what} changed attention");
        assert_eq!(it["focus_reason"], "comment", "{what}");
        assert_eq!(it["focused_at"], focused["focused_at"], "{what}");
        assert_eq!(totals(&counters(&s, admin)), (1, 0, 1), "{what}");
        let tl = timeline(&s, x);
        entries += 1;
        assert_eq!(tl.len(), entries, "{what}: {tl:?}");
        assert_eq!(tl[0]["kind"], kind, "{what}: {tl:?}");
        tl[0].clone()
    };

    // Edits.
    let (st, v) = s.patch(
        &format!("/v1/items/{x}"),
        ADMIN,
        &json!({"title": "x2", "amount": 10}),
    );
    assert_eq!(st, 200, "{v}");
    let e = check("an edit", "change");
    assert_eq!(
        e["changes"],
        json!([{"field": "title", "old": "x", "new": "x2"}, {"field": "amount", "old": 0.0, "new": 10.0}])
    );
    let (st, v) = s.patch(
        &format!("/v1/items/{x}"),
        &bob_token,
        &json!({"fields": {"stage": "hot"}}),
    );
    assert_eq!(st, 200, "{v}");
    check("an edit by another user", "change");

    // The responsible's own comment.
    comment(&s, ADMIN, x, "note to self");
    let e = check("own comment", "comment");
    assert_eq!(e["author"], admin);

    // Notes, by the responsible or anyone else.
    for token in [ADMIN, bob_token.as_str()] {
        let (st, v) = s.post(
            &format!("/v1/items/{x}/notes"),
            token,
            &json!({"text": "a note"}),
        );
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["kind"], "note");
        assert_eq!(check("a note", "note"), v);
    }

    // Outgoing events, by item and by contact.
    let r = event(&s, json!({"id": "out-1", "kind": "email_out", "item": x}));
    assert_eq!(r, json!({"status": "accepted", "item": x}));
    let e = check("email_out", "event");
    assert_eq!(
        (&e["event_kind"], &e["event_id"]),
        (&json!("email_out"), &json!("out-1"))
    );
    let r = event(
        &s,
        json!({"id": "out-2", "kind": "call_out", "contact": {"phone": "+15550102030"}}),
    );
    assert_eq!(r, json!({"status": "accepted", "item": x}));
    assert_eq!(check("call_out", "event")["event_kind"], "call_out");
    let r = event(
        &s,
        json!({"id": "out-3", "kind": "email_out", "contact": {"email": "X@EXAMPLE.COM"}}),
    );
    assert_eq!(r, json!({"status": "accepted", "item": x}));
    check("email_out by contact", "event");

    // Bob becomes responsible: the unread item is his now, his comments are his own and
    // the admin's are the trigger.
    let (st, v) = s.patch(
        &format!("/v1/items/{x}"),
        ADMIN,
        &json!({"responsible": bob}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.walk(b, cols[0], 50), order);
    assert_eq!(totals(&counters(&s, admin)), (0, 0, 0));
    assert_eq!(totals(&counters(&s, bob)), (1, 0, 1));
    comment(&s, &bob_token, x, "mine now");
    assert_eq!(s.walk(b, cols[0], 50), order, "the responsible's comment");
    assert_eq!(attention(&s, x), 1);
    comment(&s, ADMIN, x, "from the admin");
    assert_eq!(s.walk(b, cols[0], 50), vec![x, z, y]);
    assert_eq!(attention(&s, x), 2);
    assert_eq!(totals(&counters(&s, bob)), (1, 0, 1));
}

#[test]
fn reading_clears_attention_for_the_responsible_only_and_keeps_the_order() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (b, cols) = s.board(&["New"]);
    let (_, bob_token) = s.user("Bob", false);
    let x = s.item(b, "x");
    let y = s.item(b, "y");
    comment(&s, &bob_token, y, "1");
    comment(&s, &bob_token, x, "2");
    comment(&s, &bob_token, x, "3");
    let z = s.item(b, "z");
    let order = vec![z, x, y];
    assert_eq!(s.walk(b, cols[0], 50), order);
    assert_eq!(totals(&counters(&s, admin)), (2, 0, 2));

    // Bob is not the responsible: nothing changes.
    let (st, v) = s.post(&format!("/v1/items/{x}/read"), &bob_token, &json!({}));
    assert_eq!(st, 200, "{v}");
    assert_eq!((&v["attention"], &v["unread"]), (&json!(2), &json!(true)));
    assert_eq!(attention(&s, x), 2);
    assert_eq!(totals(&counters(&s, admin)), (2, 0, 2));

    // The responsible reads it: attention 0, unread false, the order and the focus stay.
    let before = item(&s, x);
    let (st, v) = s.post(&format!("/v1/items/{x}/read"), ADMIN, &json!({}));
    assert_eq!(st, 200, "{v}");
    assert_eq!((&v["attention"], &v["unread"]), (&json!(0), &json!(false)));
    assert_eq!(
        (&v["focus_reason"], &v["focused_at"]),
        (&before["focus_reason"], &before["focused_at"])
    );
    assert_eq!(item(&s, x), v);
    assert_eq!(s.walk(b, cols[0], 50), order);
    assert_eq!(
        counters(&s, admin),
        json!({"user": admin, "unread_items": 1, "overdue_activities": 0, "total": 1,
               "boards": [{"board": b, "unread_items": 1, "overdue_activities": 0,
                           "columns": [{"column": cols[0], "unread_items": 1, "overdue_activities": 0}]}]})
    );
    let (_, l) = s.get(&format!("/v1/boards/{b}/items?unread=true"), ADMIN);
    assert_eq!(activity_ids(&l), vec![y]);
    // Reading again is harmless.
    let (st, v) = s.post(&format!("/v1/items/{x}/read"), ADMIN, &json!({}));
    assert_eq!((st, &v["attention"]), (200, &json!(0)));
    assert_eq!(totals(&counters(&s, admin)), (1, 0, 1));

    let (st, _) = s.post(&format!("/v1/items/{y}/read"), ADMIN, &json!({}));
    assert_eq!(st, 200);
    assert_eq!(
        counters(&s, admin),
        json!({"user": admin, "unread_items": 0, "overdue_activities": 0, "total": 0, "boards": []})
    );
    assert_eq!(s.walk(b, cols[0], 50), order);
    let (_, k) = s.get(&format!("/v1/boards/{b}/kanban"), ADMIN);
    assert_eq!(k["columns"][0]["unread"], 0);

    // The next trigger lights it up again.
    comment(&s, &bob_token, x, "4");
    assert_eq!(attention(&s, x), 1);
    assert_eq!(s.walk(b, cols[0], 50), vec![x, z, y]);
    assert_eq!(totals(&counters(&s, admin)), (1, 0, 1));
}

#[test]
fn with_focus_off_triggers_count_attention_but_do_not_reorder() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (b, cols) = s.board(&["New", "Won"]);
    let (_, bob_token) = s.user("Bob", false);
    let (st, v) = s.patch(
        &format!("/v1/boards/{b}"),
        ADMIN,
        &json!({"focus_enabled": false}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["focus_enabled"], false);
    let x = new_item(
        &s,
        json!({"board": b, "title": "x", "contacts": {"phones": ["+1 (555) 010-2030"]}}),
    );
    let y = s.item(b, "y");
    let z = s.item(b, "z");
    let order = vec![z, y, x];
    assert_eq!(s.walk(b, cols[0], 50), order);

    comment(&s, &bob_token, x, "hello");
    assert_eq!(s.walk(b, cols[0], 50), order, "comment");
    assert_eq!(attention(&s, x), 1);
    event(&s, json!({"id": "e1", "kind": "email_in", "item": x}));
    assert_eq!(s.walk(b, cols[0], 50), order, "email_in");
    assert_eq!(attention(&s, x), 2);
    let r = event(
        &s,
        json!({"id": "e2", "kind": "call_missed", "contact": {"phone": "+15550102030"}}),
    );
    assert_eq!(r["item"], x);
    assert_eq!(s.walk(b, cols[0], 50), order, "call_missed");
    assert_eq!(attention(&s, x), 3);
    // A deadline already past fires at once: attention and overdue, no move.
    let a = create_activity(
        &s,
        x,
        json!({"kind": "task", "subject": "late", "deadline": rfc3339(now_ms() - MINUTE)}),
    );
    let aid = a["id"].as_u64().unwrap();
    assert!(
        poll(Duration::from_secs(10), || (state(&s, aid) == "overdue")
            .then_some(()))
        .is_some(),
        "the past deadline fired"
    );
    assert_eq!(s.walk(b, cols[0], 50), order, "deadline");
    let it = item(&s, x);
    assert_eq!((&it["attention"], &it["unread"]), (&json!(4), &json!(true)));
    assert_eq!(
        kinds(&timeline(&s, x)),
        ["deadline", "event", "event", "comment"]
    );
    assert_eq!(totals(&counters(&s, admin)), (1, 1, 2));
    // A move to another column without a position is no focus with focus off, and the
    // manual order still works.
    let (st, v) = s.post(
        &format!("/v1/items/{y}/move"),
        ADMIN,
        &json!({"column": cols[1]}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["column"], &v["focus_reason"]),
        (&json!(cols[1]), &json!("created"))
    );
    assert_eq!(s.walk(b, cols[1], 50), vec![y]);
    let (st, v) = s.post(
        &format!("/v1/items/{y}/move"),
        ADMIN,
        &json!({"column": cols[0], "position": "top"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.walk(b, cols[0], 50), vec![y, z, x]);

    // Switched back on, the next trigger moves the item again.
    let (st, v) = s.patch(
        &format!("/v1/boards/{b}"),
        ADMIN,
        &json!({"focus_enabled": true}),
    );
    assert_eq!((st, &v["focus_enabled"]), (200, &json!(true)));
    event(&s, json!({"id": "e3", "kind": "chat_in", "item": x}));
    assert_eq!(s.walk(b, cols[0], 50), vec![x, y, z]);
    let it = item(&s, x);
    assert_eq!(
        (&it["attention"], &it["focus_reason"]),
        (&json!(5), &json!("chat_in"))
    );
}

#[test]
fn activity_create_patch_complete_delete() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (b, cols) = s.board(&["New"]);
    let (bob, bob_token) = s.user("Bob", false);
    let x = s.item(b, "x");
    let y = s.item(b, "y");
    let base = (now_ms() / 1000 + 86_400) * 1000;
    let deadline = rfc3339(base);

    let (st, a) = s.post(
        &format!("/v1/items/{x}/activities"),
        ADMIN,
        &json!({"kind": "call", "subject": "Call back", "deadline": deadline, "remind_before_minutes": [5, 30]}),
    );
    assert_eq!(st, 201, "{a}");
    let aid = a["id"].as_u64().unwrap();
    for key in [
        "id",
        "item",
        "kind",
        "subject",
        "deadline",
        "responsible",
        "remind_before_minutes",
        "state",
        "completed_at",
    ] {
        assert!(a.get(key).is_some(), "{key} missing from {a}");
    }
    assert_eq!(a["item"], x);
    assert_eq!(a["kind"], "call");
    assert_eq!(a["subject"], "Call back");
    assert_eq!(a["deadline"], deadline);
    assert_eq!(a["responsible"], admin, "the caller by default");
    assert_eq!(a["remind_before_minutes"], json!([5, 30]));
    assert_eq!(a["state"], "planned");
    assert_eq!(a["completed_at"], Value::Null);
    assert_eq!(activity(&s, aid), a);
    // Creating an activity is not a focus; the item shows its next deadline.
    assert_eq!(s.walk(b, cols[0], 50), vec![y, x]);
    let it = item(&s, x);
    assert_eq!(
        (&it["next_deadline"], &it["attention"]),
        (&json!(deadline), &json!(0))
    );

    // Bob's, with the board's lead.
    let (st, a2) = s.post(
        &format!("/v1/items/{y}/activities"),
        &bob_token,
        &json!({"kind": "meeting", "subject": "Demo", "deadline": rfc3339(base + 3_600_000)}),
    );
    assert_eq!(st, 201, "{a2}");
    let a2id = a2["id"].as_u64().unwrap();
    assert_eq!(
        (
            &a2["responsible"],
            &a2["remind_before_minutes"],
            &a2["kind"]
        ),
        (&json!(bob), &Value::Null, &json!("meeting"))
    );
    assert_eq!(list_activities(&s, ADMIN, ""), vec![aid]);
    assert_eq!(list_activities(&s, &bob_token, ""), vec![a2id]);

    // PATCH the subject only: nothing else changes.
    let (st, v) = s.patch(
        &format!("/v1/activities/{aid}"),
        ADMIN,
        &json!({"subject": "Call back (2)"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["subject"], &v["deadline"], &v["state"]),
        (&json!("Call back (2)"), &json!(deadline), &json!("planned"))
    );

    // PATCH re-arms: a deadline already past fires at once.
    let past = rfc3339((now_ms() / 1000 - 60) * 1000);
    let (st, v) = s.patch(
        &format!("/v1/activities/{aid}"),
        ADMIN,
        &json!({"deadline": past}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["deadline"], past);
    assert!(
        poll(Duration::from_secs(10), || (state(&s, aid) == "overdue")
            .then_some(()))
        .is_some(),
        "the re-armed deadline fired"
    );
    assert_eq!(s.walk(b, cols[0], 50), vec![x, y]);
    let it = item(&s, x);
    assert_eq!(
        (&it["focus_reason"], &it["attention"], &it["next_deadline"]),
        (&json!("deadline"), &json!(1), &json!(past))
    );
    let tl = timeline(&s, x);
    assert_eq!(
        (&tl[0]["kind"], &tl[0]["activity"], &tl[0]["text"]),
        (&json!("deadline"), &json!(aid), &json!("Call back (2)"))
    );
    assert_eq!(
        counters(&s, admin),
        json!({"user": admin, "unread_items": 1, "overdue_activities": 1, "total": 2,
               "boards": [{"board": b, "unread_items": 1, "overdue_activities": 1,
                           "columns": [{"column": cols[0], "unread_items": 1, "overdue_activities": 1}]}]})
    );
    assert_eq!(list_activities(&s, ADMIN, "?state=overdue"), vec![aid]);

    // A future deadline again: re-armed, no longer overdue (the attention stays).
    let (st, v) = s.patch(
        &format!("/v1/activities/{aid}"),
        ADMIN,
        &json!({"deadline": deadline}),
    );
    assert_eq!((st, &v["state"]), (200, &json!("planned")), "{v}");
    assert_eq!(totals(&counters(&s, admin)), (1, 0, 1));
    assert!(list_activities(&s, ADMIN, "?state=overdue").is_empty());
    // And past once more: it fires again.
    s.patch(
        &format!("/v1/activities/{aid}"),
        ADMIN,
        &json!({"deadline": past}),
    );
    assert!(
        poll(Duration::from_secs(10), || (state(&s, aid) == "overdue")
            .then_some(()))
        .is_some(),
        "fired again after re-arming"
    );
    assert_eq!(attention(&s, x), 2);
    assert_eq!(totals(&counters(&s, admin)), (1, 1, 2));

    // Complete: no longer overdue, counters drop, the item has no next deadline.
    let (st, v) = s.post(&format!("/v1/activities/{aid}/complete"), ADMIN, &json!({}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "completed");
    assert!(v["completed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(totals(&counters(&s, admin)), (1, 0, 1));
    assert!(list_activities(&s, ADMIN, "?state=overdue").is_empty());
    assert!(
        list_activities(&s, ADMIN, "").is_empty(),
        "completed ones are not listed"
    );
    assert_eq!(item(&s, x)["next_deadline"], Value::Null);
    let (st, again) = s.post(&format!("/v1/activities/{aid}/complete"), ADMIN, &json!({}));
    assert_eq!((st, &again["completed_at"]), (200, &v["completed_at"]));
    // A completed activity stays completed; nothing is armed by changing it.
    let (st, v) = s.patch(
        &format!("/v1/activities/{aid}"),
        ADMIN,
        &json!({"deadline": rfc3339(now_ms() - 2 * MINUTE)}),
    );
    assert_eq!((st, &v["state"]), (200, &json!("completed")), "{v}");

    // Bob's activity on the admin's item: in the board's default counter mode (`item`)
    // the overdue counts for the admin, the item's responsible, as the attention does.
    s.patch(
        &format!("/v1/activities/{a2id}"),
        &bob_token,
        &json!({"deadline": past}),
    );
    assert!(
        poll(Duration::from_secs(10), || (state(&s, a2id) == "overdue")
            .then_some(()))
        .is_some(),
        "bob's deadline fired"
    );
    assert_eq!(totals(&counters(&s, bob)), (0, 0, 0));
    assert_eq!(totals(&counters(&s, admin)), (2, 1, 3));
    assert_eq!(attention(&s, x), 2, "the completed one never fired again");
    // Delete: 204, gone, counters drop.
    let (st, _) = s.delete(&format!("/v1/activities/{a2id}"), ADMIN);
    assert_eq!(st, 204);
    assert_eq!(s.get(&format!("/v1/activities/{a2id}"), ADMIN).0, 404);
    assert_eq!(s.delete(&format!("/v1/activities/{a2id}"), ADMIN).0, 404);
    assert_eq!(totals(&counters(&s, bob)), (0, 0, 0));
    assert_eq!(totals(&counters(&s, admin)), (2, 0, 2));
    assert_eq!(item(&s, y)["next_deadline"], Value::Null);
    assert!(list_activities(&s, &bob_token, "").is_empty());
    for (method, path) in [
        ("PATCH", "/v1/activities/999"),
        ("POST", "/v1/activities/999/complete"),
    ] {
        let (st, v) = s.call(method, path, Some(ADMIN), Some(("application/json", b"{}")));
        assert_eq!(
            (st, &v["error"]["code"]),
            (404, &json!("not_found")),
            "{path}"
        );
    }
    assert_eq!(
        s.post(
            "/v1/items/999/activities",
            ADMIN,
            &json!({"kind": "task", "subject": "s", "deadline": deadline})
        )
        .0,
        404
    );
}

#[test]
fn activity_validation_names_the_field() {
    let s = TestServer::spawn();
    let (b, _) = s.board(&["New"]);
    let x = s.item(b, "x");
    // Eight days ahead: even a reminder a week before it is in the future.
    let deadline = rfc3339((now_ms() / 1000 + 8 * 86_400) * 1000);
    let ok = json!({"kind": "task", "subject": "s", "deadline": deadline});
    let bad = |patch: Value, field: &str| {
        let mut body = ok.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (st, v) = s.post(&format!("/v1/items/{x}/activities"), ADMIN, &body);
        assert_eq!(st, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], "invalid", "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(field), "{body}: {msg:?} does not name {field}");
    };
    bad(
        json!({"remind_before_minutes": [1, 2, 3, 4, 5, 6]}),
        "remind_before_minutes",
    );
    bad(
        json!({"remind_before_minutes": [10081]}),
        "remind_before_minutes",
    );
    bad(
        json!({"remind_before_minutes": [-1]}),
        "remind_before_minutes",
    );
    bad(json!({"deadline": "tomorrow"}), "deadline");
    bad(json!({"deadline": "2026-13-01T00:00:00Z"}), "deadline");
    bad(json!({"kind": "lunch"}), "kind");
    bad(json!({"subject": ""}), "subject");
    bad(json!({"responsible": 999}), "responsible");
    bad(json!({"bogus": 1}), "bogus");
    // The limits themselves are fine.
    let a = create_activity(
        &s,
        x,
        json!({"kind": "email", "subject": "s", "deadline": deadline, "remind_before_minutes": [0, 1, 2, 3, 10080]}),
    );
    let aid = a["id"].as_u64().unwrap();
    assert_eq!(a["remind_before_minutes"], json!([0, 1, 2, 3, 10080]));
    // PATCH validates the same way and changes nothing on error.
    for (body, field) in [
        (
            json!({"remind_before_minutes": [1, 2, 3, 4, 5, 6]}),
            "remind_before_minutes",
        ),
        (
            json!({"remind_before_minutes": [10081]}),
            "remind_before_minutes",
        ),
        (json!({"deadline": "soon"}), "deadline"),
        (json!({"subject": ""}), "subject"),
        (json!({"kind": "call"}), "kind"),
    ] {
        let (st, v) = s.patch(&format!("/v1/activities/{aid}"), ADMIN, &body);
        assert_eq!(
            (st, &v["error"]["code"]),
            (400, &json!("invalid")),
            "{body}: {v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {v}"
        );
    }
    assert_eq!(a["state"], "planned");
    assert_eq!(activity(&s, aid), a);
    // Only the item's own activity exists.
    assert_eq!(list_activities(&s, ADMIN, ""), vec![aid]);
}

#[test]
fn the_activities_view_filters_and_pages_by_deadline() {
    let s = TestServer::spawn();
    let (b1, _) = s.board(&["New"]);
    let (b2, _) = s.board(&["New"]);
    let (bob, bob_token) = s.user("Bob", false);
    let i1 = s.item(b1, "i1");
    let i2 = s.item(b1, "i2");
    let j1 = s.item(b2, "j1");
    let base = (now_ms() / 1000) * 1000;
    let mk = |item: u64, responsible: Option<u64>, offset_min: i64, remind: Value| -> u64 {
        let mut body = json!({"kind": "task", "subject": format!("at {offset_min}"),
                              "deadline": rfc3339(base + offset_min * MINUTE),
                              "remind_before_minutes": remind});
        if let Some(r) = responsible {
            body["responsible"] = json!(r);
        }
        create_activity(&s, item, body)["id"].as_u64().unwrap()
    };
    let a1 = mk(i1, None, 180, json!([]));
    let a2 = mk(i1, None, 60, json!([]));
    let a3 = mk(i2, None, 120, json!([]));
    let b_over = mk(i1, Some(bob), -10, json!([]));
    let b_soon = mk(i2, Some(bob), 90, json!([120]));
    let b_plan = mk(j1, Some(bob), 300, json!([5]));
    let b_done = mk(i1, Some(bob), 240, json!([]));
    let (st, _) = s.post(
        &format!("/v1/activities/{b_done}/complete"),
        ADMIN,
        &json!({}),
    );
    assert_eq!(st, 200);
    assert!(
        poll(Duration::from_secs(10), || {
            (state(&s, b_over) == "overdue" && state(&s, b_soon) == "due_soon").then_some(())
        })
        .is_some(),
        "the past deadline and the past reminder fired"
    );

    // Without filters: the caller's own, by deadline.
    assert_eq!(list_activities(&s, ADMIN, ""), vec![a2, a3, a1]);
    assert_eq!(
        list_activities(&s, &bob_token, ""),
        vec![b_over, b_soon, b_plan]
    );
    assert_eq!(
        list_activities(&s, ADMIN, &format!("?responsible={bob}")),
        vec![b_over, b_soon, b_plan]
    );
    assert_eq!(
        list_activities(&s, ADMIN, &format!("?board={b2}")),
        vec![b_plan]
    );
    assert_eq!(
        list_activities(&s, ADMIN, &format!("?board={b1}")),
        vec![b_over, a2, b_soon, a3, a1]
    );
    assert_eq!(
        list_activities(&s, ADMIN, &format!("?board={b1}&responsible={bob}")),
        vec![b_over, b_soon]
    );
    for (st, want) in [
        ("overdue", vec![b_over]),
        ("due_soon", vec![b_soon]),
        ("planned", vec![b_plan]),
    ] {
        assert_eq!(
            list_activities(&s, ADMIN, &format!("?responsible={bob}&state={st}")),
            want,
            "{st}"
        );
    }
    assert_eq!(
        list_activities(&s, ADMIN, "?state=planned"),
        vec![a2, a3, a1]
    );
    assert_eq!(
        list_activities(&s, ADMIN, &format!("?board={b1}&state=overdue")),
        vec![b_over]
    );
    let (st, v) = s.get("/v1/activities?state=bogus", ADMIN);
    assert_eq!((st, &v["error"]["code"]), (400, &json!("invalid")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("state"));
    assert_eq!(s.get("/v1/activities?limit=0", ADMIN).0, 400);
    assert_eq!(s.get("/v1/activities?limit=501", ADMIN).0, 400);
    assert_eq!(s.get("/v1/activities?cursor=garbage", ADMIN).0, 400);

    // Paging: limit 2 over board 1, each page by deadline, nothing twice or skipped.
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = format!("/v1/activities?board={b1}&limit=2");
    loop {
        let (st, v) = s.get(&path, ADMIN);
        assert_eq!(st, 200, "{v}");
        let page = activity_ids(&v);
        sizes.push(page.len());
        seen.extend(page);
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/activities?board={b1}&limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![b_over, a2, b_soon, a3, a1]);
    assert_eq!(sizes, vec![2, 2, 1]);
}

#[test]
fn a_deadline_fires_on_time_in_real_time() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (b, cols) = s.board(&["New"]);
    let x = s.item(b, "x");
    let y = s.item(b, "y");
    // Far enough ahead that creating the activities and the third item (a few requests)
    // always finishes first, even on two busy cores.
    let due = now_ms() + 3_000;
    // Only the deadline matters: an offset of 0 coincides with it, an empty list has none.
    let ax = create_activity(
        &s,
        x,
        json!({"kind": "call", "subject": "ring", "deadline": rfc3339(due), "remind_before_minutes": [0]}),
    )["id"]
        .as_u64()
        .unwrap();
    let ay = create_activity(
        &s,
        y,
        json!({"kind": "task", "subject": "do", "deadline": rfc3339(due), "remind_before_minutes": []}),
    )["id"]
        .as_u64()
        .unwrap();
    let z = s.item(b, "z");
    assert_eq!(s.walk(b, cols[0], 50), vec![z, y, x]);

    let start = Instant::now();
    let fired = poll(Duration::from_secs(10), || {
        let (sx, sy) = (state(&s, ax), state(&s, ay));
        let seen_at = now_ms();
        for st in [&sx, &sy] {
            assert!(
                st == "planned" || st == "overdue",
                "no reminder was armed: {st}"
            );
            assert!(
                st == "planned" || seen_at >= due,
                "fired {} ms before the deadline",
                due - seen_at
            );
        }
        (sx == "overdue" && sy == "overdue").then_some(())
    });
    assert!(
        fired.is_some(),
        "the deadline did not fire within {:?}",
        start.elapsed()
    );
    for id in [x, y] {
        let it = item(&s, id);
        assert_eq!(it["focus_reason"], "deadline");
        assert_eq!((&it["attention"], &it["unread"]), (&json!(1), &json!(true)));
        let tl = timeline(&s, id);
        assert_eq!(kinds(&tl), ["deadline"], "the deadline only, once");
    }
    let order = s.walk(b, cols[0], 50);
    assert_eq!(order.len(), 3);
    assert_eq!(order[2], z, "both focused items are above z: {order:?}");
    assert_eq!(timeline(&s, x)[0]["activity"], ax);
    assert_eq!(
        list_activities(&s, ADMIN, "?state=overdue"),
        vec![ax, ay],
        "same deadline: by id"
    );
    assert_eq!(totals(&counters(&s, admin)), (2, 2, 4));
    let c = counters(&s, admin);
    assert_eq!(c["boards"][0]["columns"][0]["overdue_activities"], 2);
}

#[test]
fn reminders_fire_at_their_time_and_a_past_one_at_once() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (b, cols) = s.board(&["New"]);
    let (b5, _) = s.board(&["New"]);
    let (st, v) = s.patch(
        &format!("/v1/boards/{b5}"),
        ADMIN,
        &json!({"focus_lead_minutes": 5}),
    );
    assert_eq!((st, &v["focus_lead_minutes"]), (200, &json!(5)), "{v}");
    let far = s.item(b, "far");
    let soon = s.item(b, "soon");
    let lead15 = s.item(b, "lead15");
    let late = s.item(b, "late");
    let lead5 = s.item(b5, "lead5");
    let filler = s.item(b, "filler");
    let t = now_ms();
    let mk = |item: u64, deadline: i64, remind: Option<Value>| -> u64 {
        let mut body = json!({"kind": "task", "subject": "s", "deadline": rfc3339(deadline)});
        if let Some(r) = remind {
            body["remind_before_minutes"] = r;
        }
        create_activity(&s, item, body)["id"].as_u64().unwrap()
    };
    // The reminder of `soon` is 60 minutes before a deadline one second away: already past
    // when armed, so it fires at once; the deadline follows.
    let a_soon = mk(soon, t + 1_000, Some(json!([60])));
    // Reminder in a minute, deadline in two: nothing within a second.
    let a_far = mk(far, t + 2 * MINUTE, Some(json!([1])));
    // No offsets: the board's lead, 15 minutes by default, so a reminder now for a
    // deadline 10 minutes away; 5 on the other board, so nothing yet.
    let a_lead15 = mk(lead15, t + 10 * MINUTE, None);
    let a_lead5 = mk(lead5, t + 10 * MINUTE, None);
    // Deadline already past: only the deadline fires, not its (also past) reminder.
    let a_late = mk(late, t - MINUTE, Some(json!([30])));

    // Wait for both fires of `soon` (its deadline is a second away) instead of trying to
    // catch the moment between them: the timeline says which came first.
    assert!(
        poll(Duration::from_secs(10), || (state(&s, a_soon) == "overdue"
            && state(&s, a_lead15) == "due_soon")
            .then_some(()))
        .is_some(),
        "the past reminders and the deadline fired"
    );
    let tl = timeline(&s, soon);
    let fired: Vec<(&Value, &Value)> = tl.iter().map(|e| (&e["kind"], &e["activity"])).collect();
    assert_eq!(
        fired,
        [
            (&json!("deadline"), &json!(a_soon)),
            (&json!("reminder"), &json!(a_soon))
        ],
        "the reminder fired at once, then the deadline (newest first)"
    );
    assert_eq!(item(&s, lead15)["focus_reason"], "reminder");
    assert!(now_ms() - t >= 1_000);
    let it = item(&s, soon);
    assert_eq!(
        (&it["focus_reason"], &it["attention"]),
        (&json!("deadline"), &json!(2))
    );
    assert_eq!(kinds(&timeline(&s, soon)), ["deadline", "reminder"]);
    assert_eq!(kinds(&timeline(&s, late)), ["deadline"]);
    assert_eq!(attention(&s, late), 1);
    assert_eq!(state(&s, a_late), "overdue");
    assert_eq!(
        list_activities(&s, ADMIN, "?state=due_soon"),
        vec![a_lead15]
    );
    assert_eq!(
        list_activities(&s, ADMIN, "?state=overdue"),
        vec![a_late, a_soon]
    );

    // More than a second on: the far reminder and the 5-minute lead have not fired.
    assert_eq!(state(&s, a_far), "planned");
    assert_eq!(state(&s, a_lead5), "planned");
    assert_eq!(attention(&s, far), 0);
    assert_eq!(attention(&s, lead5), 0);
    assert!(timeline(&s, far).is_empty());
    // Each fired once.
    assert_eq!(attention(&s, lead15), 1);
    assert_eq!(kinds(&timeline(&s, lead15)), ["reminder"]);
    assert_eq!(totals(&counters(&s, admin)), (3, 2, 5));
    let order = s.walk(b, cols[0], 50);
    assert_eq!(
        order[3..].to_vec(),
        vec![filler, far],
        "the fired ones are above the rest: {order:?}"
    );
}

#[test]
fn a_boards_counter_mode_moves_overdue_counts_between_the_item_and_the_activity_responsible() {
    let s = TestServer::spawn();
    let admin = me(&s, ADMIN);
    let (ann, _) = s.user("Ann", false);
    let (b, _) = s.board(&["New"]);
    let (st, board) = s.get(&format!("/v1/boards/{b}"), ADMIN);
    assert_eq!(
        (st, &board["counter_mode"]),
        (200, &json!("item")),
        "{board}"
    );
    // The admin's item; Ann is asked to make the call, and it is already late.
    let x = s.item(b, "x");
    let a = create_activity(
        &s,
        x,
        json!({"kind": "call", "subject": "ring", "responsible": ann,
               "deadline": rfc3339(now_ms() - MINUTE), "remind_before_minutes": []}),
    )["id"]
        .as_u64()
        .unwrap();
    let overdue = |u: u64| counters(&s, u)["overdue_activities"].as_u64().unwrap();
    poll(Duration::from_secs(10), || {
        (state(&s, a) == "overdue").then_some(())
    })
    .expect("the past deadline fired");
    assert_eq!((overdue(admin), overdue(ann)), (1, 0), "item mode");

    let (st, v) = s.patch(
        &format!("/v1/boards/{b}"),
        ADMIN,
        &json!({"counter_mode": "activity"}),
    );
    assert_eq!((st, &v["counter_mode"]), (200, &json!("activity")), "{v}");
    assert_eq!((overdue(admin), overdue(ann)), (0, 1), "activity mode");
    // Unread stays with the item's responsible.
    assert_eq!(counters(&s, admin)["unread_items"], 1);

    let (st, v) = s.patch(
        &format!("/v1/boards/{b}"),
        ADMIN,
        &json!({"counter_mode": "person"}),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("counter_mode"),
        "{v}"
    );
    assert_eq!(
        (overdue(admin), overdue(ann)),
        (0, 1),
        "a refused patch changes nothing"
    );

    let (st, v) = s.post(
        "/v1/boards",
        ADMIN,
        &json!({"module": "deal", "name": "Calls", "columns": [{"name": "A"}], "counter_mode": "activity"}),
    );
    assert_eq!((st, &v["counter_mode"]), (201, &json!("activity")), "{v}");
}

#[test]
fn the_deadlines_view_buckets_pages_and_refuses_bad_offsets() {
    let s = TestServer::spawn();
    let (b, _) = s.board(&["New"]);
    let soon = s.item(b, "soon");
    let late = s.item(b, "late");
    let idle = s.item(b, "idle");
    let gone = s.item(b, "gone");
    for (item, at) in [
        (soon, now_ms() + 5 * MINUTE),
        (late, now_ms() + 60 * 24 * 60 * MINUTE),
        (gone, now_ms() - MINUTE),
    ] {
        create_activity(
            &s,
            item,
            json!({"kind": "task", "subject": "do", "deadline": rfc3339(at), "remind_before_minutes": []}),
        );
    }
    let bucket = |v: &Value, key: &str| -> (u64, Vec<u64>) {
        let b = v["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["key"] == key)
            .unwrap_or_else(|| panic!("{key} in {v}"));
        (b["count"].as_u64().unwrap(), activity_ids(b))
    };
    let got = poll(Duration::from_secs(10), || {
        let (st, v) = s.get(&format!("/v1/boards/{b}/deadlines?tz=%2B00:00"), ADMIN);
        assert_eq!(st, 200, "{v}");
        (bucket(&v, "overdue").1 == vec![gone]).then_some(v)
    })
    .expect("the past deadline fired into overdue");
    let keys: Vec<&str> = got["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "overdue",
            "today",
            "tomorrow",
            "this_week",
            "next_week",
            "later",
            "none"
        ]
    );
    assert_eq!(bucket(&got, "later"), (1, vec![late]));
    assert_eq!(bucket(&got, "none"), (1, vec![idle]));
    // `soon` is due in 5 minutes: today, unless that crosses midnight UTC.
    let soon_bucket = if bucket(&got, "today").1.contains(&soon) {
        "today"
    } else {
        "tomorrow"
    };
    assert_eq!(bucket(&got, soon_bucket).1, vec![soon]);
    let (st, v) = s.get(
        &format!("/v1/boards/{b}/deadlines/{soon_bucket}?tz=+00:00&limit=1"),
        ADMIN,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["count"].as_u64(), activity_ids(&v)),
        (Some(1), vec![soon])
    );
    assert!(v["items"][0]["next_deadline"].is_string(), "{v}");
    for bad in ["tz=03:00", "tz=%2B03:07", "tz=%2B15:00", "per_bucket=0"] {
        let (st, v) = s.get(&format!("/v1/boards/{b}/deadlines?{bad}"), ADMIN);
        assert_eq!(st, 400, "{bad}: {v}");
    }
    let (st, v) = s.get(&format!("/v1/boards/{b}/deadlines/someday"), ADMIN);
    assert_eq!(st, 400, "{v}");
    let (st, _) = s.get("/v1/boards/999/deadlines", ADMIN);
    assert_eq!(st, 404);
}
