//! Bad input: the right status and the JSON error shape, naming the field, changing nothing.

use serde_json::{json, Value};

use super::server::{TestServer, ADMIN};

fn assert_error(r: (u16, Value), status: u16, code: &str, mentions: &str) {
    assert_eq!(r.0, status, "{}", r.1);
    assert_eq!(r.1["error"]["code"], code, "{}", r.1);
    let msg = r.1["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains(mentions),
        "{msg:?} should mention {mentions:?}"
    );
}

#[test]
fn malformed_bodies() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["A"]);
    let raw = |ct: &str, body: &[u8]| s.call("POST", "/v1/items", Some(ADMIN), Some((ct, body)));
    assert_error(
        raw("application/json", b"{not json"),
        400,
        "invalid",
        "line 1 column 2",
    );
    assert_error(raw("application/json", b""), 400, "invalid", "EOF");
    assert_error(
        raw("application/json", b"[1,2]"),
        400,
        "invalid",
        "expected struct",
    );
    assert_error(
        raw(
            "application/json",
            format!("{{\"board\":{b},\"title\":\"x\"}} trailing").as_bytes(),
        ),
        400,
        "invalid",
        "trailing",
    );
    assert_error(
        raw("text/plain", b"{}"),
        415,
        "unsupported_media_type",
        "application/json",
    );
    assert_error(
        s.post("/v1/items", ADMIN, &json!({"board": b, "title": 5})),
        400,
        "invalid",
        "title",
    );
    assert_error(
        s.post("/v1/items", ADMIN, &json!({"board": "one", "title": "x"})),
        400,
        "invalid",
        "board",
    );
    assert_error(
        s.post(
            "/v1/items",
            ADMIN,
            &json!({"board": b, "title": "x", "extra": 1}),
        ),
        400,
        "invalid",
        "extra",
    );
    assert_error(
        s.post(
            "/v1/items",
            ADMIN,
            &json!({"board": b, "title": "x", "fields": {"k": [1]}}),
        ),
        400,
        "invalid",
        "fields",
    );
    assert_error(
        s.post(
            "/v1/items",
            ADMIN,
            &json!({"board": b, "title": "x", "contacts": {"emails": ["nope"]}}),
        ),
        400,
        "invalid",
        "contacts.emails[0]",
    );
    assert_error(
        s.post(
            "/v1/items",
            ADMIN,
            &json!({"board": b, "title": "x".repeat(501)}),
        ),
        400,
        "invalid",
        "title",
    );
    assert_error(
        s.post("/v1/items", ADMIN, &json!({"board": 77, "title": "x"})),
        400,
        "invalid",
        "board",
    );
    assert_error(
        s.post(
            "/v1/items",
            ADMIN,
            &json!({"board": b, "column": 999, "title": "x"}),
        ),
        400,
        "invalid",
        "column",
    );
    assert_error(
        raw(
            "application/json",
            format!("{{\"board\":{b},\"title\":\"x\",\"amount\":-1e400}}").as_bytes(),
        ),
        400,
        "invalid",
        "amount",
    );
    assert_error(
        s.post(
            "/v1/boards",
            ADMIN,
            &json!({"module": "nope", "name": "x", "columns": [{"name": "a"}]}),
        ),
        400,
        "invalid",
        "module",
    );
    assert_error(
        s.post(
            "/v1/boards",
            ADMIN,
            &json!({"module": "deal", "name": "x", "columns": []}),
        ),
        400,
        "invalid",
        "columns",
    );
    // Nothing of the above was created.
    assert!(s.walk(b, cols[0], 50).is_empty());
    assert_eq!(s.get("/v1/boards", ADMIN).1.as_array().unwrap().len(), 1);
}

#[test]
fn oversized_bodies_are_413() {
    let s = TestServer::spawn();
    let (b, _) = s.board(&["A"]);
    let big = format!("{{\"board\":{b},\"title\":\"{}\"}}", "x".repeat(1_100_000));
    assert_error(
        s.call(
            "POST",
            "/v1/items",
            Some(ADMIN),
            Some(("application/json", big.as_bytes())),
        ),
        413,
        "too_large",
        "1048576 bytes",
    );
}

#[test]
fn unknown_ids_and_routes_are_404() {
    let s = TestServer::spawn();
    let (b, _) = s.board(&["A"]);
    assert_error(s.get("/v1/items/12345", ADMIN), 404, "not_found", "item");
    assert_error(s.get("/v1/items/abc", ADMIN), 404, "not_found", "item");
    assert_error(s.get("/v1/items/0", ADMIN), 404, "not_found", "item");
    assert_error(s.get("/v1/boards/999", ADMIN), 404, "not_found", "board");
    assert_error(
        s.get(&format!("/v1/boards/{b}/columns/999/items"), ADMIN),
        404,
        "not_found",
        "column",
    );
    assert_error(s.get("/v1/users/999", ADMIN), 404, "not_found", "user");
    assert_error(s.get("/v1/nothing-here", ADMIN), 404, "not_found", "route");
}

#[test]
fn bad_query_parameters() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["A"]);
    let col = cols[0];
    assert_error(
        s.get(
            &format!("/v1/boards/{b}/columns/{col}/items?limit=0"),
            ADMIN,
        ),
        400,
        "invalid",
        "limit",
    );
    assert_error(
        s.get(
            &format!("/v1/boards/{b}/columns/{col}/items?limit=501"),
            ADMIN,
        ),
        400,
        "invalid",
        "limit",
    );
    assert_error(
        s.get(
            &format!("/v1/boards/{b}/columns/{col}/items?limit=ten"),
            ADMIN,
        ),
        400,
        "invalid",
        "limit",
    );
    assert_error(
        s.get(
            &format!("/v1/boards/{b}/columns/{col}/items?cursor=%%%"),
            ADMIN,
        ),
        400,
        "invalid",
        "cursor",
    );
    assert_error(
        s.get(
            &format!("/v1/boards/{b}/columns/{col}/items?cursor=bm90LWEtY3Vyc29y"),
            ADMIN,
        ),
        400,
        "invalid",
        "cursor",
    );
    assert_error(
        s.get(
            &format!("/v1/boards/{b}/columns/{col}/items?bogus=1"),
            ADMIN,
        ),
        400,
        "invalid",
        "bogus",
    );
    assert_error(
        s.get(&format!("/v1/boards/{b}/kanban?per_column=0"), ADMIN),
        400,
        "invalid",
        "per_column",
    );
    assert_error(
        s.get(&format!("/v1/boards/{b}/items?unread=maybe"), ADMIN),
        400,
        "invalid",
        "unread",
    );
    assert_error(
        s.get(&format!("/v1/boards/{b}/items?column=999"), ADMIN),
        400,
        "invalid",
        "column",
    );
}
