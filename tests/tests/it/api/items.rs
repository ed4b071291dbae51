//! Items over HTTP: create, batch, patch, move, read, delete and the three views.

use serde_json::{json, Value};

use super::server::{TestServer, ADMIN};

fn ids(v: &Value) -> Vec<u64> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn create_defaults_and_fields() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["New", "Won"]);
    let (ann, ann_token) = s.user("Ann", false);
    let (st, it) = s.post(
        "/v1/items",
        &ann_token,
        &json!({"board": b, "title": "ACME", "amount": 1200.5, "fields": {"source": "web", "vip": true, "score": 7},
                "contacts": {"phones": ["+1 (555) 010-2030"], "emails": ["Ann@Example.com"]}}),
    );
    assert_eq!(st, 201, "{it}");
    assert_eq!(it["column"], cols[0], "first column by default");
    assert_eq!(it["responsible"], ann, "the caller by default");
    assert_eq!(it["focus_reason"], "created");
    assert_eq!(it["attention"], 0);
    assert_eq!(it["unread"], false);
    assert_eq!(it["amount"], 1200.5);
    assert_eq!(
        it["fields"],
        json!({"score": 7.0, "source": "web", "vip": true})
    );
    assert_eq!(it["contacts"]["phones"], json!(["+1 (555) 010-2030"]));
    assert_eq!(it["next_deadline"], Value::Null);
    assert!(it["created_at"].as_str().unwrap().ends_with('Z'));
    let id = it["id"].as_u64().unwrap();
    assert_eq!(s.get(&format!("/v1/items/{id}"), ADMIN).1, it);
}

#[test]
fn batch_json_and_ndjson_with_bad_lines() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["New"]);
    let body = json!([
        {"board": b, "title": "one"},
        {"board": b, "title": ""},
        {"board": b, "title": "three", "bogus": 1},
        {"board": b, "title": "four"},
        {"board": 999, "title": "five"}
    ]);
    let (st, v) = s.post("/v1/items/batch", ADMIN, &body);
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["created"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(3))
    );
    let statuses: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["created", "rejected", "rejected", "created", "rejected"]
    );
    assert_eq!(v["results"][1]["error"]["code"], "invalid");
    assert!(v["results"][2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("bogus"));
    let one = v["results"][0]["id"].as_u64().unwrap();
    let four = v["results"][3]["id"].as_u64().unwrap();
    // The last one given ends on top.
    assert_eq!(s.walk(b, cols[0], 50), vec![four, one]);

    let nd = format!(
        "{{\"board\": {b}, \"title\": \"n1\"}}\n\nnot json\n{{\"board\": {b}, \"title\": \"n2\"}}\r\n"
    );
    let (st, v) = s.call(
        "POST",
        "/v1/items/batch",
        Some(ADMIN),
        Some(("application/x-ndjson", nd.as_bytes())),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["created"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(v["results"][1]["status"], "rejected");
    assert_eq!(s.walk(b, cols[0], 50).len(), 4);

    // Over 10,000 elements: refused whole.
    let many: Vec<Value> = (0..10_001)
        .map(|_| json!({"board": b, "title": "x"}))
        .collect();
    let (st, v) = s.post("/v1/items/batch", ADMIN, &Value::Array(many));
    assert_eq!((st, v["error"]["code"].as_str()), (413, Some("too_large")));
}

#[test]
fn moves_never_renumber_and_respect_positions() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["A", "B"]);
    let a = s.item(b, "a");
    let bb = s.item(b, "b");
    let c = s.item(b, "c");
    assert_eq!(s.walk(b, cols[0], 50), vec![c, bb, a]);
    let mv = |id: u64, body: Value| {
        let (st, v) = s.post(&format!("/v1/items/{id}/move"), ADMIN, &body);
        assert_eq!(st, 200, "{v}");
        v
    };
    mv(c, json!({"position": "bottom"}));
    assert_eq!(s.walk(b, cols[0], 50), vec![bb, a, c]);
    mv(c, json!({"position": {"before": a}}));
    assert_eq!(s.walk(b, cols[0], 50), vec![bb, c, a]);
    mv(bb, json!({"position": {"after": a}}));
    assert_eq!(s.walk(b, cols[0], 50), vec![c, a, bb]);
    mv(bb, json!({"position": "top"}));
    assert_eq!(s.walk(b, cols[0], 50), vec![bb, c, a]);
    // Manual moves are not a focus.
    assert_eq!(
        s.get(&format!("/v1/items/{bb}"), ADMIN).1["focus_reason"],
        "created"
    );

    // Another column with a position; then without one: a focus with reason "moved".
    let x = mv(a, json!({"column": cols[1], "position": "bottom"}));
    assert_eq!(x["column"], cols[1]);
    let y = mv(c, json!({"column": cols[1]}));
    assert_eq!(y["focus_reason"], "moved");
    assert_eq!(s.walk(b, cols[1], 50), vec![c, a]);
    assert_eq!(s.walk(b, cols[0], 50), vec![bb]);

    // Bad moves change nothing.
    let (st, v) = s.post(
        &format!("/v1/items/{bb}/move"),
        ADMIN,
        &json!({"position": {"before": a}}),
    );
    assert_eq!(st, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("position.before"));
    let (st, _) = s.post(
        &format!("/v1/items/{bb}/move"),
        ADMIN,
        &json!({"position": {"before": bb}}),
    );
    assert_eq!(st, 400);
    let (st, _) = s.post(
        &format!("/v1/items/{bb}/move"),
        ADMIN,
        &json!({"position": "sideways"}),
    );
    assert_eq!(st, 400);
    let (st, _) = s.post(&format!("/v1/items/{bb}/move"), ADMIN, &json!({}));
    assert_eq!(st, 400);
    let (b2, cols2) = s.board(&["Other"]);
    let (st, _) = s.post(
        &format!("/v1/items/{bb}/move"),
        ADMIN,
        &json!({"column": cols2[0]}),
    );
    assert_eq!(st, 400, "columns of another board are refused");
    assert_eq!(s.walk(b, cols[0], 50), vec![bb]);
    assert!(s.walk(b2, cols2[0], 50).is_empty());
}

#[test]
fn patch_and_delete() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["A"]);
    let (bob, _) = s.user("Bob", false);
    let (_, it) = s.post(
        "/v1/items",
        ADMIN,
        &json!({"board": b, "title": "t", "fields": {"k": "v", "gone": 1}}),
    );
    let id = it["id"].as_u64().unwrap();
    let (st, v) = s.patch(
        &format!("/v1/items/{id}"),
        ADMIN,
        &json!({"title": "T2", "responsible": bob, "amount": 5, "fields": {"k": "w", "gone": null, "new": false},
                "contacts": {"emails": ["x@y.z"]}}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["title"], "T2");
    assert_eq!(v["responsible"], bob);
    assert_eq!(v["amount"], 5.0);
    assert_eq!(v["fields"], json!({"k": "w", "new": false}));
    assert_eq!(v["contacts"]["emails"], json!(["x@y.z"]));
    // An edit is not a focus: the order and the focus reason stay.
    assert_eq!(v["focus_reason"], "created");
    // Bad patches change nothing: the whole item (and its timeline) stays as it was, and
    // each error names the field.
    let before = s.get(&format!("/v1/items/{id}"), ADMIN).1;
    let timeline_before = s.get(&format!("/v1/items/{id}/timeline"), ADMIN).1;
    let (st, v) = s.patch(&format!("/v1/items/{id}"), ADMIN, &json!({"title": ""}));
    assert_eq!(st, 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("title"),
        "{v}"
    );
    assert_eq!(
        s.patch(
            &format!("/v1/items/{id}"),
            ADMIN,
            &json!({"responsible": 999})
        )
        .0,
        400
    );
    assert_eq!(
        s.patch(
            &format!("/v1/items/{id}"),
            ADMIN,
            &json!({"contacts": {"phones": ["abc"]}})
        )
        .0,
        400
    );
    assert_eq!(s.get(&format!("/v1/items/{id}"), ADMIN).1, before);
    assert_eq!(
        s.get(&format!("/v1/items/{id}/timeline"), ADMIN).1,
        timeline_before
    );

    assert_eq!(s.delete(&format!("/v1/items/{id}"), ADMIN).0, 204);
    assert_eq!(s.get(&format!("/v1/items/{id}"), ADMIN).0, 404);
    assert_eq!(s.delete(&format!("/v1/items/{id}"), ADMIN).0, 404);
    assert!(s.walk(b, cols[0], 50).is_empty());
}

#[test]
fn column_cursor_survives_inserts_above() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["A"]);
    let created: Vec<u64> = (0..25).map(|i| s.item(b, &format!("i{i}"))).collect();
    let (_, p1) = s.get(
        &format!("/v1/boards/{b}/columns/{}/items?limit=10", cols[0]),
        ADMIN,
    );
    let mut seen = ids(&p1);
    // New items and a focus above the cursor do not shift the next pages.
    s.item(b, "late1");
    s.post(
        &format!("/v1/items/{}/move", created[0]),
        ADMIN,
        &json!({"position": "top"}),
    );
    let mut cursor = p1["next_cursor"].as_str().unwrap().to_string();
    loop {
        let (_, p) = s.get(
            &format!(
                "/v1/boards/{b}/columns/{}/items?limit=10&cursor={cursor}",
                cols[0]
            ),
            ADMIN,
        );
        seen.extend(ids(&p));
        match p["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let mut want: Vec<u64> = created
        .iter()
        .rev()
        .copied()
        .filter(|i| *i != created[0])
        .collect();
    want.truncate(24);
    assert_eq!(seen, want, "nothing skipped, nothing twice");
}

#[test]
fn kanban_and_list_views() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["A", "B"]);
    let (ann, ann_token) = s.user("Ann", false);
    let a1 = s.item(b, "a1");
    let (_, v) = s.post("/v1/items", &ann_token, &json!({"board": b, "title": "a2"}));
    let a2 = v["id"].as_u64().unwrap();
    let (_, v) = s.post(
        "/v1/items",
        ADMIN,
        &json!({"board": b, "column": cols[1], "title": "b1"}),
    );
    let b1 = v["id"].as_u64().unwrap();

    let (st, k) = s.get(&format!("/v1/boards/{b}/kanban?per_column=1"), ADMIN);
    assert_eq!(st, 200, "{k}");
    assert_eq!(k["columns"][0]["count"], 2);
    assert_eq!(k["columns"][0]["unread"], 0);
    assert_eq!(ids(&k["columns"][0]), vec![a2]);
    assert!(k["columns"][0]["next_cursor"].is_string());
    assert_eq!(ids(&k["columns"][1]), vec![b1]);
    assert!(k["columns"][1]["next_cursor"].is_null());

    let (_, l) = s.get(&format!("/v1/boards/{b}/items"), ADMIN);
    assert_eq!(ids(&l), vec![b1, a2, a1]);
    let (_, l) = s.get(&format!("/v1/boards/{b}/items?responsible={ann}"), ADMIN);
    assert_eq!(ids(&l), vec![a2]);
    let (_, l) = s.get(
        &format!(
            "/v1/boards/{b}/items?column={}&responsible=&unread=",
            cols[0]
        ),
        ADMIN,
    );
    assert_eq!(ids(&l), vec![a2, a1]);
    let (_, l) = s.get(&format!("/v1/boards/{b}/items?unread=true"), ADMIN);
    assert!(ids(&l).is_empty());
    // Paging the list.
    let (_, p1) = s.get(&format!("/v1/boards/{b}/items?limit=2"), ADMIN);
    assert_eq!(ids(&p1), vec![b1, a2]);
    let c = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = s.get(&format!("/v1/boards/{b}/items?limit=2&cursor={c}"), ADMIN);
    assert_eq!(ids(&p2), vec![a1]);
    assert!(p2["next_cursor"].is_null());
}

#[test]
fn reading_clears_attention_only_for_the_responsible() {
    let s = TestServer::spawn();
    let (b, _) = s.board(&["A"]);
    let id = s.item(b, "x");
    let (_, bob_token) = s.user("Bob", false);
    // Two incoming calls: attention 2, unread for the responsible (the admin).
    for ev in ["read-1", "read-2"] {
        let (st, v) = s.post(
            "/v1/events",
            ADMIN,
            &json!({"id": ev, "kind": "call_in", "item": id}),
        );
        assert_eq!((st, &v["status"]), (201, &json!("accepted")), "{v}");
    }
    let (_, v) = s.get(&format!("/v1/items/{id}"), ADMIN);
    assert_eq!((&v["attention"], &v["unread"]), (&json!(2), &json!(true)));
    // Bob is not the responsible: his read changes nothing.
    let (st, v) = s.post(&format!("/v1/items/{id}/read"), &bob_token, &json!({}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["attention"], &v["unread"]),
        (&json!(2), &json!(true)),
        "{v}"
    );
    let (_, c) = s.get("/v1/counters", ADMIN);
    assert_eq!(c["unread_items"], 1, "{c}");
    // The responsible's read clears it, and the counter with it.
    let (st, v) = s.post(&format!("/v1/items/{id}/read"), ADMIN, &json!({}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (&v["attention"], &v["unread"]),
        (&json!(0), &json!(false)),
        "{v}"
    );
    let (_, c) = s.get("/v1/counters", ADMIN);
    assert_eq!(c["unread_items"], 0, "{c}");
    assert_eq!(s.post("/v1/items/999/read", ADMIN, &json!({})).0, 404);
}

#[test]
fn a_deletion_is_authored_by_the_user_who_deleted() {
    let s = TestServer::spawn();
    let (b, _) = s.board(&["A"]);
    // The admin is the responsible, so the record is on the admin's wall (owner follow).
    let id = s.item(b, "to go");
    let (bob, bob_token) = s.user("Bob", false);
    assert_eq!(s.delete(&format!("/v1/items/{id}"), &bob_token).0, 204);
    let (st, wall) = s.get("/v1/feed?kind=record_deleted", ADMIN);
    assert_eq!(st, 200, "{wall}");
    let entries = wall["items"].as_array().unwrap();
    let deleted: Vec<&Value> = entries.iter().filter(|e| e["item"] == id).collect();
    assert_eq!(deleted.len(), 1, "{wall}");
    assert_eq!(
        deleted[0]["author"], bob,
        "record_deleted names who deleted it"
    );
}

/// A page writes each item with literal keys (`ItemJson::write`, the hot path); the item
/// route goes through serde (`ItemJson`'s `Serialize`). A page must hold each item's bytes
/// exactly as the item route gives them, for every kind of value an item can carry.
#[test]
fn a_page_holds_each_item_byte_for_byte_as_the_item_route_writes_it() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["New"]);
    let (_, bob_token) = s.user("Bob", false);
    let bodies = [
        json!({"board": b, "title": "plain"}),
        json!({"board": b, "title": "say \"hi\"\n\t\\ / </script> \u{1}", "amount": 1.5e-7,
               "fields": {"q": "ü 🎉 \u{7f}", "big": 1e300, "neg": -0.5, "int": 42, "flag": false, "on": true},
               "contacts": {"phones": ["+1 (555) 010-2030", "+44 20 7946 0958"], "emails": ["a@b.example"]}}),
        json!({"board": b, "title": "é\u{2028}", "amount": -1200.25, "fields": {"k": ""}}),
        json!({"board": b, "title": "x".repeat(300), "amount": 0}),
    ];
    let mut ids = Vec::new();
    for body in &bodies {
        let (st, it) = s.post("/v1/items", ADMIN, body);
        assert_eq!(st, 201, "{it}");
        ids.push(it["id"].as_u64().unwrap());
    }
    // A deadline (next_deadline), and a focus by someone else (attention, unread, reason).
    let (st, v) = s.post(
        &format!("/v1/items/{}/activities", ids[1]),
        ADMIN,
        &json!({"kind": "task", "subject": "call", "deadline": super::server::rfc3339(super::server::now_ms() + 3_600_123)}),
    );
    assert_eq!(st, 201, "{v}");
    let (st, v) = s.post(
        &format!("/v1/items/{}/comments", ids[2]),
        &bob_token,
        &json!({"text": "ping"}),
    );
    assert_eq!(st, 201, "{v}");
    let (st, _, page) = s.get_raw(
        &format!("/v1/boards/{b}/columns/{}/items?limit=50", cols[0]),
        ADMIN,
    );
    let page = String::from_utf8(page).expect("UTF-8");
    assert_eq!(st, 200, "{page}");
    let parsed: Value = serde_json::from_str(&page).expect("a page is JSON");
    assert_eq!(parsed["items"].as_array().map(Vec::len), Some(ids.len()));
    assert_eq!(parsed["next_cursor"], Value::Null);
    for id in &ids {
        let (st, _, one) = s.get_raw(&format!("/v1/items/{id}"), ADMIN);
        let one = String::from_utf8(one).expect("UTF-8");
        assert_eq!(st, 200, "{one}");
        assert!(
            page.contains(&one),
            "item {id}: {one}\nnot in the page: {page}"
        );
    }
}
