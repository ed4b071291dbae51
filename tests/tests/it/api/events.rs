//! Gateway events over HTTP: one at a time and in batches (JSON and NDJSON), idempotency,
//! contact matching, intake boards, per-event results, and a 10,000-event batch checked
//! against a model.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::server::{TestServer, ADMIN};

fn me(s: &TestServer) -> u64 {
    let (st, v) = s.get("/v1/me", ADMIN);
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

fn timeline(s: &TestServer, id: u64) -> Vec<Value> {
    let (st, v) = s.get(&format!("/v1/items/{id}/timeline?limit=500"), ADMIN);
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

fn event(s: &TestServer, body: Value) -> Value {
    let (st, v) = s.post("/v1/events", ADMIN, &body);
    assert_eq!(st, 201, "{v}");
    v
}

fn batch(s: &TestServer, query: &str, events: Value) -> Value {
    let (st, v) = s.post(&format!("/v1/events/batch{query}"), ADMIN, &events);
    assert_eq!(st, 200, "{v}");
    v
}

fn ndjson(s: &TestServer, query: &str, body: &str) -> (u16, Value) {
    s.call(
        "POST",
        &format!("/v1/events/batch{query}"),
        Some(ADMIN),
        Some(("application/x-ndjson", body.as_bytes())),
    )
}

fn statuses(v: &Value) -> Vec<&str> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect()
}

/// (accepted, duplicates, unmatched, rejected)
fn counts(v: &Value) -> (u64, u64, u64, u64) {
    (
        v["accepted"].as_u64().unwrap(),
        v["duplicates"].as_u64().unwrap(),
        v["unmatched"].as_u64().unwrap(),
        v["rejected"].as_u64().unwrap(),
    )
}

fn unread_items(s: &TestServer, user: u64) -> u64 {
    let (st, v) = s.get(&format!("/v1/counters?user={user}"), ADMIN);
    assert_eq!(st, 200, "{v}");
    v["unread_items"].as_u64().unwrap()
}

/// Items of a column, top first, with their attention.
fn column(s: &TestServer, board: u64, col: u64) -> Vec<(u64, u64)> {
    let (st, v) = s.get(
        &format!("/v1/boards/{board}/columns/{col}/items?limit=500"),
        ADMIN,
    );
    assert_eq!(st, 200, "{v}");
    assert!(v["next_cursor"].is_null());
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_u64().unwrap(), i["attention"].as_u64().unwrap()))
        .collect()
}

fn error_message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

#[test]
fn one_event_answers_201_with_its_status_and_lands_on_the_timeline() {
    let s = TestServer::spawn();
    let admin = me(&s);
    let (b, cols) = s.board(&["New"]);
    let x = s.item(b, "x");
    let y = s.item(b, "y");
    let r = event(
        &s,
        json!({"id": "gw-1", "kind": "email_in", "item": x, "summary": "Re: offer", "at": "2026-01-02T03:04:05Z"}),
    );
    assert_eq!(r, json!({"status": "accepted", "item": x}));
    assert_eq!(s.walk(b, cols[0], 50), vec![x, y]);
    let it = item(&s, x);
    assert_eq!(
        (&it["focus_reason"], &it["attention"], &it["unread"]),
        (&json!("email_in"), &json!(1), &json!(true))
    );
    let tl = timeline(&s, x);
    assert_eq!(tl.len(), 1);
    let e = &tl[0];
    assert_eq!(
        (
            &e["kind"],
            &e["item"],
            &e["event_kind"],
            &e["event_id"],
            &e["text"],
            &e["at"],
            &e["author"]
        ),
        (
            &json!("event"),
            &json!(x),
            &json!("email_in"),
            &json!("gw-1"),
            &json!("Re: offer"),
            &json!("2026-01-02T03:04:05Z"),
            &json!(admin)
        )
    );
    assert_eq!(unread_items(&s, admin), 1);
}

#[test]
fn a_repeated_id_is_a_duplicate_and_changes_nothing_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let s = TestServer::spawn_at(&data);
    let admin = me(&s);
    let (b, cols) = s.board(&["New"]);
    let x = new_item(
        &s,
        json!({"board": b, "title": "x", "contacts": {"phones": ["+1 555 010 2030"]}}),
    );
    let y = s.item(b, "y");
    let r = event(&s, json!({"id": "d-1", "kind": "call_in", "item": x}));
    assert_eq!(r["status"], "accepted");
    // y on top by hand, so that a second focus of x would show.
    let (st, _) = s.post(
        &format!("/v1/items/{y}/move"),
        ADMIN,
        &json!({"position": "top"}),
    );
    assert_eq!(st, 200);
    let snapshot = |s: &TestServer| {
        (
            s.walk(b, cols[0], 50),
            item(s, x),
            item(s, y),
            timeline(s, x),
            timeline(s, y),
            unread_items(s, admin),
        )
    };
    let before = snapshot(&s);
    assert_eq!(before.0, vec![y, x]);
    assert_eq!(before.1["attention"], 1);

    // The same event again, and the same id with another kind, item or contact.
    for body in [
        json!({"id": "d-1", "kind": "call_in", "item": x}),
        json!({"id": "d-1", "kind": "chat_in", "item": y, "summary": "other"}),
        json!({"id": "d-1", "kind": "email_in", "contact": {"phone": "+15550102030"}}),
    ] {
        let r = event(&s, body.clone());
        assert_eq!(r, json!({"status": "duplicate"}), "{body}");
        assert!(snapshot(&s) == before, "{body} changed something");
    }

    // Within one batch: the first is applied, the repeats are duplicates.
    let v = batch(
        &s,
        "",
        json!([
            {"id": "d-2", "kind": "email_in", "item": x},
            {"id": "d-2", "kind": "email_in", "item": x},
            {"id": "d-1", "kind": "email_in", "item": y},
            {"id": "d-2", "kind": "chat_in", "contact": {"phone": "+1 (555) 010-2030"}}
        ]),
    );
    assert_eq!(counts(&v), (1, 3, 0, 0), "{v}");
    assert_eq!(
        statuses(&v),
        ["accepted", "duplicate", "duplicate", "duplicate"]
    );
    assert_eq!(
        v["results"][0],
        json!({"index": 0, "status": "accepted", "item": x})
    );
    assert_eq!(v["results"][1], json!({"index": 1, "status": "duplicate"}));
    assert_eq!(attention(&s, x), 2, "applied once");
    assert_eq!(attention(&s, y), 0);
    assert_eq!(timeline(&s, x).len(), 2);
    assert_eq!(s.walk(b, cols[0], 50), vec![x, y]);

    // An unmatched event's id is taken too: a retry is a duplicate.
    let r = event(
        &s,
        json!({"id": "u-1", "kind": "call_in", "contact": {"phone": "+44 20 7946 0000"}}),
    );
    assert_eq!(r, json!({"status": "unmatched"}));
    let r = event(
        &s,
        json!({"id": "u-1", "kind": "call_in", "contact": {"phone": "+44 20 7946 0000"}}),
    );
    assert_eq!(r, json!({"status": "duplicate"}));
    // A rejected event changed nothing, its id included.
    let (st, v) = s.post(
        "/v1/events",
        ADMIN,
        &json!({"id": "r-1", "kind": "chat_in"}),
    );
    assert_eq!(st, 400, "{v}");
    let r = event(&s, json!({"id": "r-1", "kind": "chat_in", "item": y}));
    assert_eq!(r, json!({"status": "accepted", "item": y}));

    // For ever: across a restart too.
    let after = snapshot(&s);
    assert!(s.terminate().success());
    let s = TestServer::spawn_at(&data);
    for id in ["d-1", "d-2", "u-1", "r-1"] {
        let r = event(&s, json!({"id": id, "kind": "email_in", "item": x}));
        assert_eq!(r, json!({"status": "duplicate"}), "{id} after a restart");
    }
    assert!(
        snapshot(&s) == after,
        "a duplicate after a restart changed something"
    );
}

#[test]
fn contacts_match_normalized_to_the_most_recently_focused_item() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["A", "B"]);
    let (_, bob_token) = s.user("Bob", false);
    let a = new_item(
        &s,
        json!({"board": b, "title": "a", "contacts": {"phones": ["+1 (555) 010-2030"], "emails": ["Ann@Example.com"]}}),
    );
    let other = new_item(
        &s,
        json!({"board": b, "title": "other", "contacts": {"emails": ["other@example.com"]}}),
    );
    let bb = new_item(
        &s,
        json!({"board": b, "column": cols[1], "title": "b", "contacts": {"phones": ["+15550102030"]}}),
    );
    let n = std::cell::Cell::new(0);
    let send = |kind: &str, contact: Value| -> Value {
        n.set(n.get() + 1);
        event(
            &s,
            json!({"id": format!("c-{}", n.get()), "kind": kind, "contact": contact}),
        )
    };
    // Both carry the number; b was created (focused) last.
    assert_eq!(
        send("call_in", json!({"phone": "+15550102030"}))["item"],
        bb
    );
    // a focused by an event on the item: now it is the most recent.
    event(&s, json!({"id": "direct-1", "kind": "chat_in", "item": a}));
    assert_eq!(
        send("call_missed", json!({"phone": "+1 (555) 010-2030"}))["item"],
        a
    );
    assert_eq!(
        send("call_in", json!({"phone": "+1.555.010.2030"}))["item"],
        a
    );
    // E-mails compare case-insensitively; only a carries this one.
    assert_eq!(
        send("email_in", json!({"email": "ANN@EXAMPLE.COM"}))["item"],
        a
    );
    assert_eq!(
        send("email_in", json!({"email": "Other@Example.COM"}))["item"],
        other
    );
    // A comment by someone else is a focus too.
    let (st, _) = s.post(
        &format!("/v1/items/{bb}/comments"),
        &bob_token,
        &json!({"text": "hi"}),
    );
    assert_eq!(st, 201);
    assert_eq!(
        send("chat_in", json!({"phone": "+1 555 010 2030"}))["item"],
        bb
    );
    // A manual move to the top is not a focus: b stays the most recently focused.
    let (st, _) = s.post(
        &format!("/v1/items/{a}/move"),
        ADMIN,
        &json!({"position": "top"}),
    );
    assert_eq!(st, 200);
    assert_eq!(
        send("email_out", json!({"phone": "+15550102030"}))["item"],
        bb
    );
    // Within one batch, the focus order of the batch itself counts.
    let v = batch(
        &s,
        "",
        json!([
            {"id": "t-1", "kind": "chat_in", "item": bb},
            {"id": "t-2", "kind": "chat_in", "item": a},
            {"id": "t-3", "kind": "call_in", "contact": {"phone": "+15550102030"}}
        ]),
    );
    assert_eq!(counts(&v), (3, 0, 0, 0), "{v}");
    assert_eq!(
        v["results"][2]["item"], a,
        "a was focused after b in the same batch"
    );
    // The contact taken off a: b carries it alone.
    let (st, _) = s.patch(
        &format!("/v1/items/{a}"),
        ADMIN,
        &json!({"contacts": {"phones": [], "emails": ["Ann@Example.com"]}}),
    );
    assert_eq!(st, 200);
    assert_eq!(
        send("call_in", json!({"phone": "+1 (555) 010-2030"}))["item"],
        bb
    );
    // Deleted items match nothing.
    assert_eq!(s.delete(&format!("/v1/items/{bb}"), ADMIN).0, 204);
    assert_eq!(
        send("call_in", json!({"phone": "+15550102030"})),
        json!({"status": "unmatched"})
    );
    assert_eq!(s.walk(b, cols[1], 50), Vec::<u64>::new());
    assert_eq!(s.walk(b, cols[0], 50)[0], a);
}

#[test]
fn unmatched_contacts_and_the_intake_board() {
    let s = TestServer::spawn();
    let admin = me(&s);
    let (b, _) = s.board(&["New"]);
    let (intake, icols) = s.board(&["Inbox", "Qualified"]);
    let x = new_item(
        &s,
        json!({"board": b, "title": "x", "contacts": {"phones": ["+1 555 010 2030"]}}),
    );
    let w = s.item(intake, "already there");

    // No intake board: unmatched, nothing created.
    let r = event(
        &s,
        json!({"id": "u-1", "kind": "call_in", "contact": {"phone": "+1 (555) 999-0001"}}),
    );
    assert_eq!(r, json!({"status": "unmatched"}));
    let v = batch(
        &s,
        "",
        json!([{"id": "u-2", "kind": "email_in", "contact": {"email": "nobody@example.com"}}]),
    );
    assert_eq!(counts(&v), (0, 0, 1, 0));
    assert_eq!(v["results"], json!([{"index": 0, "status": "unmatched"}]));
    assert_eq!(s.walk(intake, icols[0], 50), vec![w]);

    // With one: a new item in its first column, carrying the contact, on top.
    let v = batch(
        &s,
        &format!("?intake_board={intake}"),
        json!([
            {"id": "n-1", "kind": "call_missed", "contact": {"phone": "+1 (555) 999-0002"}},
            {"id": "n-2", "kind": "chat_in", "contact": {"phone": "+15559990002"}},
            {"id": "n-3", "kind": "call_in", "contact": {"phone": "+1 555 010 2030"}},
            {"id": "n-4", "kind": "email_in", "contact": {"email": "New@Lead.io"}}
        ]),
    );
    assert_eq!(counts(&v), (4, 0, 0, 0), "{v}");
    let new1 = v["results"][0]["item"].as_u64().unwrap();
    assert_eq!(
        v["results"][1]["item"], new1,
        "the second goes to the new item"
    );
    assert_eq!(
        v["results"][2]["item"], x,
        "a matched contact is not taken in"
    );
    let new2 = v["results"][3]["item"].as_u64().unwrap();
    assert!(new1 != new2 && new1 != w && new2 != w);
    assert_eq!(
        s.walk(intake, icols[0], 50),
        vec![new2, new1, w],
        "the new ones on top"
    );
    assert!(s.walk(intake, icols[1], 50).is_empty());
    let it = item(&s, new1);
    assert_eq!(
        (
            &it["board"],
            &it["column"],
            &it["responsible"],
            &it["contacts"]
        ),
        (
            &json!(intake),
            &json!(icols[0]),
            &json!(admin),
            &json!({"phones": ["+1 (555) 999-0002"], "emails": []})
        )
    );
    assert_eq!(
        (&it["attention"], &it["unread"], &it["focus_reason"]),
        (&json!(2), &json!(true), &json!("chat_in"))
    );
    let it = item(&s, new2);
    assert_eq!(
        it["contacts"],
        json!({"phones": [], "emails": ["New@Lead.io"]})
    );
    assert_eq!(
        (&it["attention"], &it["unread"], &it["focus_reason"]),
        (&json!(1), &json!(true), &json!("email_in"))
    );
    assert_eq!(timeline(&s, new2).len(), 1);
    assert_eq!(timeline(&s, new2)[0]["event_id"], "n-4");
    assert_eq!(attention(&s, x), 1);
    // The new items carry the contact: later events find them without an intake board.
    let r = event(
        &s,
        json!({"id": "n-5", "kind": "email_in", "contact": {"email": "new@lead.io"}}),
    );
    assert_eq!(r, json!({"status": "accepted", "item": new2}));
    assert_eq!(attention(&s, new2), 2);

    // An intake board that does not exist: 400, and nothing in the batch applies.
    for q in ["?intake_board=999", "?intake_board=abc", "?intake=1"] {
        let (st, v) = s.post(
            &format!("/v1/events/batch{q}"),
            ADMIN,
            &json!([
                {"id": "m-1", "kind": "chat_in", "item": x},
                {"id": "m-2", "kind": "chat_in", "contact": {"phone": "+1 555 000 0000"}}
            ]),
        );
        assert_eq!(
            (st, &v["error"]["code"]),
            (400, &json!("invalid")),
            "{q}: {v}"
        );
        assert!(error_message(&v).contains("intake"), "{q}: {v}");
    }
    assert_eq!(attention(&s, x), 1);
    assert_eq!(s.walk(intake, icols[0], 50), vec![new2, new1, w]);
    let v = batch(&s, "", json!([{"id": "m-1", "kind": "chat_in", "item": x}]));
    assert_eq!(counts(&v), (1, 0, 0, 0), "the refused batch took no id");
}

#[test]
fn ndjson_batch_rejects_bad_lines_and_applies_the_rest() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["New"]);
    let x = s.item(b, "x");
    let y = s.item(b, "y");
    let z = s.item(b, "z");
    let lines = [
        format!(r#"{{"id":"n-0","kind":"email_in","item":{x}}}"#),
        "not json".to_string(),
        format!(r#"{{"id":"n-2","kind":"fax_in","item":{x}}}"#),
        format!(r#"{{"id":"n-3","kind":"call_in","item":{y}}}"#),
        r#"{"id":"n-4","kind":"chat_in"}"#.to_string(),
        format!(r#"{{"id":"","kind":"chat_in","item":{x}}}"#),
        r#"{"id":"n-6","kind":"call_missed","contact":{"phone":"abc"}}"#.to_string(),
        format!(r#"{{"id":"n-7","kind":"call_out","item":{x},"bogus":1}}"#),
        format!(r#"{{"id":"n-0","kind":"email_in","item":{x}}}"#),
        r#"{"id":"n-9","kind":"chat_in","contact":{"email":"nobody@example.com"}}"#.to_string(),
        format!(r#"{{"id":"n-10","kind":"email_out","item":{y}}}"#),
        format!(r#"{{"id":"n-11","kind":"chat_in","item":{x},"at":"yesterday"}}"#),
    ];
    // One line ends in CRLF, and the body in a newline.
    let body = lines.join("\n").replacen('\n', "\r\n", 1) + "\n";
    let (st, v) = ndjson(&s, "", &body);
    assert_eq!(st, 200, "{v}");
    assert_eq!(counts(&v), (3, 1, 1, 7), "{v}");
    assert_eq!(
        statuses(&v),
        [
            "accepted",
            "rejected",
            "rejected",
            "accepted",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "duplicate",
            "unmatched",
            "accepted",
            "rejected"
        ]
    );
    let results = v["results"].as_array().unwrap();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i);
    }
    for (i, field) in [
        (1, ""),
        (2, "kind"),
        (4, "item"),
        (5, "id"),
        (6, "phone"),
        (7, "bogus"),
        (11, "at"),
    ] {
        let r = &results[i];
        assert_eq!(r["error"]["code"], "invalid", "line {i}: {r}");
        assert!(
            error_message(r).contains(field),
            "line {i} does not name {field:?}: {r}"
        );
        assert!(r.get("item").is_none());
    }
    assert_eq!(results[0]["item"], x);
    assert_eq!(results[3]["item"], y);
    assert_eq!(results[10]["item"], y);
    assert_eq!(s.walk(b, cols[0], 50), vec![y, x, z]);
    assert_eq!((attention(&s, x), attention(&s, y)), (1, 1));
    assert_eq!(timeline(&s, x).len(), 1);
    assert_eq!(timeline(&s, y).len(), 2);

    // The rejected ids were not taken; a JSON array works the same way.
    let v = batch(
        &s,
        "",
        json!([
            {"id": "n-2", "kind": "chat_in", "item": z},
            42,
            {"id": "n-4", "kind": "chat_in", "item": z}
        ]),
    );
    assert_eq!(counts(&v), (2, 0, 0, 1), "{v}");
    assert_eq!(statuses(&v), ["accepted", "rejected", "accepted"]);
    assert_eq!(attention(&s, z), 2);

    // Not a batch at all: the request fails whole.
    let (st, v) = s.post(
        "/v1/events/batch",
        ADMIN,
        &json!({"id": "n-20", "kind": "chat_in", "item": z}),
    );
    assert_eq!((st, &v["error"]["code"]), (400, &json!("invalid")), "{v}");
    let (st, v) = s.call(
        "POST",
        "/v1/events/batch",
        Some(ADMIN),
        Some(("text/plain", lines[0].as_bytes())),
    );
    assert_eq!(
        (st, &v["error"]["code"]),
        (415, &json!("unsupported_media_type")),
        "{v}"
    );
    assert_eq!(attention(&s, z), 2);
    assert_eq!(attention(&s, x), 1);
}

#[test]
fn an_event_needs_an_item_or_a_contact_and_valid_fields() {
    let s = TestServer::spawn();
    let (b, _) = s.board(&["New"]);
    let x = s.item(b, "x");
    for (body, field) in [
        (json!({"id": "v-1", "kind": "email_in"}), "item"),
        (
            json!({"id": "v-1", "kind": "email_in", "contact": {}}),
            "item",
        ),
        (json!({"id": "v-1", "kind": "fax_in", "item": x}), "kind"),
        (json!({"id": "", "kind": "email_in", "item": x}), "id"),
        (
            json!({"id": "x".repeat(129), "kind": "email_in", "item": x}),
            "id",
        ),
        (
            json!({"id": "v-1", "kind": "email_in", "item": x, "at": "noon"}),
            "at",
        ),
        (
            json!({"id": "v-1", "kind": "email_in", "item": x, "summary": "s".repeat(20_001)}),
            "summary",
        ),
        (
            json!({"id": "v-1", "kind": "email_in", "contact": {"phone": "--"}}),
            "phone",
        ),
        (
            json!({"id": "v-1", "kind": "email_in", "contact": {"email": "not an address"}}),
            "email",
        ),
        (
            json!({"id": "v-1", "kind": "email_in", "item": x, "extra": true}),
            "extra",
        ),
    ] {
        let (st, v) = s.post("/v1/events", ADMIN, &body);
        assert_eq!(
            (st, &v["error"]["code"]),
            (400, &json!("invalid")),
            "{body}: {v}"
        );
        assert!(
            error_message(&v).contains(field),
            "{body}: {v} does not name {field}"
        );
    }
    // The same in a batch: rejected with its own error.
    let v = batch(
        &s,
        "",
        json!([{"id": "v-1", "kind": "email_in"}, {"id": "v-2", "kind": "email_in", "item": x}]),
    );
    assert_eq!(counts(&v), (1, 0, 0, 1), "{v}");
    assert_eq!(v["results"][0]["error"]["code"], "invalid");
    assert!(error_message(&v["results"][0]).contains("item"));
    assert_eq!(attention(&s, x), 1);
    // Nothing was taken by the refusals: the id is still free, and 128 characters is fine.
    assert_eq!(
        event(&s, json!({"id": "v-1", "kind": "email_in", "item": x}))["status"],
        "accepted"
    );
    assert_eq!(
        event(
            &s,
            json!({"id": "x".repeat(128), "kind": "email_in", "item": x})
        )["status"],
        "accepted"
    );
    assert_eq!(attention(&s, x), 3);
}

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn ten_thousand_ndjson_events_across_a_hundred_items() {
    const KINDS: [&str; 6] = [
        "email_in",
        "chat_in",
        "call_in",
        "call_missed",
        "email_out",
        "call_out",
    ];
    const ITEMS: usize = 100;
    const EVENTS: usize = 10_000;
    let s = TestServer::spawn();
    let admin = me(&s);
    let (b, cols) = s.board(&["A", "B", "C", "D"]);
    let bodies: Vec<Value> = (0..ITEMS)
        .map(|i| {
            json!({"board": b, "column": cols[i % cols.len()], "title": format!("i{i}"),
                   "contacts": {"phones": [format!("+1 555 {i:03}-0000")],
                                "emails": [format!("Item{i}@Bulk.example")]}})
        })
        .collect();
    let (st, v) = s.post("/v1/items/batch", ADMIN, &Value::Array(bodies));
    assert_eq!((st, &v["created"]), (200, &json!(ITEMS)), "{v}");
    let ids: Vec<u64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();

    // The model: per event its expected status and item; per item its incoming count and
    // the index of its last incoming event.
    let mut rng = Lcg(0x5eed);
    let mut body = String::with_capacity(EVENTS * 90);
    let mut want: Vec<(&str, Option<u64>)> = Vec::with_capacity(EVENTS);
    let mut incoming = vec![0u64; ITEMS];
    let mut last: Vec<Option<usize>> = vec![None; ITEMS];
    for n in 0..EVENTS {
        let r = rng.next();
        let line = if n % 997 == 13 {
            want.push(("rejected", None));
            format!("{{\"id\": \"ev-{n}\", \"kind\": ")
        } else if n % 499 == 7 {
            // Event 0 is always accepted: this id is taken.
            want.push(("duplicate", None));
            format!(
                r#"{{"id":"ev-0","kind":"chat_in","item":{}}}"#,
                ids[n % ITEMS]
            )
        } else if n % 331 == 5 {
            want.push(("unmatched", None));
            format!(r#"{{"id":"ev-{n}","kind":"call_in","contact":{{"phone":"+1 999 {n:05}"}}}}"#)
        } else {
            let k = usize::try_from(r % ITEMS as u64).unwrap();
            let kind = KINDS[usize::try_from((r >> 8) % 6).unwrap()];
            let target = match (r >> 16) % 3 {
                0 => format!(r#""item":{}"#, ids[k]),
                1 => format!(r#""contact":{{"phone":"+1555{k:03}0000"}}"#),
                _ => format!(r#""contact":{{"email":"ITEM{k}@bulk.EXAMPLE"}}"#),
            };
            want.push(("accepted", Some(ids[k])));
            if !kind.ends_with("_out") {
                incoming[k] += 1;
                last[k] = Some(n);
            }
            format!(r##"{{"id":"ev-{n}","kind":"{kind}",{target},"summary":"#{n}"}}"##)
        };
        body.push_str(&line);
        body.push('\n');
    }
    assert!(incoming.iter().all(|c| *c > 0), "every item gets events");

    let (st, v) = ndjson(&s, "", &body);
    assert_eq!(st, 200, "{}", v["error"]);
    let tally = |st: &str| want.iter().filter(|w| w.0 == st).count() as u64;
    let expected = (
        tally("accepted"),
        tally("duplicate"),
        tally("unmatched"),
        tally("rejected"),
    );
    assert_eq!(counts(&v), expected);
    assert_eq!(
        expected.0 + expected.1 + expected.2 + expected.3,
        EVENTS as u64
    );
    assert!(expected.1 > 0 && expected.2 > 0 && expected.3 > 0);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), EVENTS);
    for (n, (r, (status, item))) in results.iter().zip(&want).enumerate() {
        assert_eq!(r["index"], n, "{r}");
        assert_eq!(r["status"], *status, "event {n}: {r}");
        assert_eq!(r["item"].as_u64(), *item, "event {n}: {r}");
    }

    // Every column in the order of its items' last incoming event, newest on top; every
    // item's attention the number of incoming events it received.
    let by_id: HashMap<u64, usize> = ids.iter().enumerate().map(|(k, id)| (*id, k)).collect();
    for (c, col) in cols.iter().enumerate() {
        let mut expect: Vec<usize> = (0..ITEMS).filter(|k| k % cols.len() == c).collect();
        expect.sort_by_key(|k| std::cmp::Reverse(last[*k]));
        let got = column(&s, b, *col);
        let got_k: Vec<usize> = got.iter().map(|(id, _)| by_id[id]).collect();
        assert_eq!(got_k, expect, "column {c}");
        for (id, att) in got {
            assert_eq!(att, incoming[by_id[&id]], "attention of item {id}");
        }
    }
    assert_eq!(unread_items(&s, admin), ITEMS as u64);
    // The timeline of one item holds all its events, newest first.
    let tl_len = want.iter().filter(|w| w.1 == Some(ids[0])).count();
    let (st, v) = s.get(&format!("/v1/items/{}/timeline?limit=500", ids[0]), ADMIN);
    assert_eq!(st, 200);
    assert_eq!(v["items"].as_array().unwrap().len(), tl_len);
}
