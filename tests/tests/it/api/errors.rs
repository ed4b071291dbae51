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
    // serde reads a struct from an array too: `[[]]` was a `Preferences` (schemathesis).
    assert_error(
        s.call(
            "PUT",
            "/v1/feed/preferences",
            Some(ADMIN),
            Some(("application/json", b"[[]]")),
        ),
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
    assert_eq!(
        s.get("/v1/boards", ADMIN).1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
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

#[test]
fn every_directory_list_is_a_page_and_a_route_without_parameters_refuses_any() {
    let s = TestServer::spawn();
    for n in ["Ann", "Bob", "Cy", "Di"] {
        s.user(n, false);
    }
    // Five users (with the admin), two at a time, in id order, none twice.
    let mut seen = Vec::new();
    let mut path = "/v1/users?limit=2".to_string();
    loop {
        let (st, v) = s.get(&path, ADMIN);
        assert_eq!(st, 200, "{v}");
        let items = v["items"].as_array().expect("a page");
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_u64().expect("id")));
        match v["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    // The other lists answer pages too, and check their limit and cursor.
    for list in [
        "/v1/boards",
        "/v1/groups",
        "/v1/modules",
        "/v1/follow-rules",
    ] {
        let (st, v) = s.get(list, ADMIN);
        assert_eq!(st, 200, "{list}: {v}");
        assert!(
            v["items"].is_array() && v.get("next_cursor").is_some(),
            "{list}: {v}"
        );
        let (st, v) = s.get(&format!("{list}?limit=0"), ADMIN);
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (400, Some("invalid")),
            "{list}"
        );
        let (st, _) = s.get(&format!("{list}?cursor=garbage"), ADMIN);
        assert_eq!(st, 400, "{list}");
    }
    let (_, mods) = s.get("/v1/modules?limit=2", ADMIN);
    assert_eq!(mods["items"].as_array().map(Vec::len), Some(2));
    // A route that takes no parameters refuses one, naming it; so do routes that take some.
    let (board, _) = s.board(&["New"]);
    let item = s.item(board, "x");
    for path in [
        format!("/v1/items/{item}?x=1"),
        format!("/v1/boards/{board}?verbose=true"),
        "/v1/me?fields=all".to_string(),
        "/v1/feed?user=2".to_string(),
    ] {
        let (st, v) = s.get(&path, ADMIN);
        assert_eq!(st, 400, "{path}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or("");
        let name = path
            .split('?')
            .nth(1)
            .and_then(|q| q.split('=').next())
            .unwrap_or("");
        assert!(msg.contains(name), "{path}: {msg}");
    }
    // A deactivated user is listed, and rotating its token is a conflict, not a 404.
    let (cy, _) = s.user("Ed", false);
    assert_eq!(s.delete(&format!("/v1/users/{cy}"), ADMIN).0, 204);
    let (st, v) = s.post(&format!("/v1/users/{cy}/token"), ADMIN, &json!({}));
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{v}"
    );
    assert_eq!(s.post("/v1/users/999/token", ADMIN, &json!({})).0, 404);
}

/// What the contract test (schemathesis) holds the server to, checked directly: a method a
/// path does not have is a 405 with `Allow` (a literal path wins over a template), an
/// integer written `2.0` is an integer, an empty query value is the parameter left out
/// while a padded one is read as sent, and a number past 2^63 − 1 is a 400.
#[test]
fn methods_integers_and_query_values_as_the_document_declares_them() {
    let s = TestServer::spawn();
    let (board, cols) = s.board(&["New", "Won"]);
    let item = s.item(board, "x");

    let (st, v) = s.call("PATCH", "/v1/items/batch", Some(ADMIN), None);
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{v}"
    );
    let res = ureq::request("TRACE", &s.url("/v1/boards?limit=1"))
        .set("Authorization", &format!("Bearer {ADMIN}"))
        .call();
    let Err(ureq::Error::Status(405, r)) = res else {
        panic!("TRACE /v1/boards: {res:?}");
    };
    assert_eq!(r.header("Allow"), Some("GET, POST"));
    assert_eq!(s.call("GET", "/v1/nothing-here", Some(ADMIN), None).0, 404);

    // `2.0` is the integer 2, where an integer is declared; `2.5` is not.
    let (st, v) = s.post(
        &format!("/v1/items/{item}/move"),
        ADMIN,
        &json!({"column": cols[1] as f64, "position": "top"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["column"], cols[1], "{v}");
    let (st, v) = s.post("/v1/items", ADMIN, &json!({"board": 1.5, "title": "y"}));
    assert_eq!(st, 400, "{v}");

    // Empty is absent; padded is read as sent; past 2^63 - 1 is refused.
    let base = format!("/v1/boards/{board}/columns/{}/items", cols[1]);
    assert_eq!(s.get(&format!("{base}?limit="), ADMIN).0, 200);
    assert_error(
        s.get(&format!("{base}?limit=%2010"), ADMIN),
        400,
        "invalid",
        "limit",
    );
    assert_error(
        s.get("/v1/activities?responsible=9223372036854775808", ADMIN),
        400,
        "invalid",
        "responsible",
    );
    // Only integers are held to it: a file may be named with twenty digits.
    let (st, g) = s.post(
        "/v1/groups",
        ADMIN,
        &json!({"name": "Files", "members": [1]}),
    );
    assert_eq!(st, 201, "{g}");
    let (st, v) = s.call(
        "POST",
        &format!("/v1/groups/{}/files?name=12345678901234567890", g["id"]),
        Some(ADMIN),
        Some(("text/plain", b"x")),
    );
    assert_eq!(st, 201, "{v}");
}
