//! Health, auth, users, groups, modules, boards, columns, OpenAPI and metrics.

use serde_json::{json, Value};

use super::server::{start, TestServer, ADMIN};

#[test]
fn health_needs_no_token_everything_else_does() {
    let s = TestServer::spawn();
    assert_eq!(
        s.call("GET", "/healthz", None, None),
        (200, json!({"status": "ok"}))
    );
    for path in ["/v1/me", "/v1/boards", "/metrics", "/openapi.json"] {
        let (st, v) = s.call("GET", path, None, None);
        assert_eq!(st, 401, "{path}");
        assert_eq!(v["error"]["code"], "unauthorized");
        let (st, _) = s.call("GET", path, Some("wrong-token"), None);
        assert_eq!(st, 401, "{path}");
    }
}

/// The board page's three files (PRODUCT §10) need no token, come from this origin only
/// (the policy that says so is on each), and name each other as the page loads them.
#[test]
fn the_board_page_and_its_files() {
    let s = TestServer::spawn();
    let get = |path: &str| {
        let r = ureq::get(&s.url(path)).call().expect(path);
        let csp = r
            .header("content-security-policy")
            .unwrap_or("")
            .to_string();
        let ct = r.content_type().to_string();
        (ct, csp, r.into_string().expect("text"))
    };
    let (ct, csp, html) = get("/");
    assert_eq!(ct, "text/html");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(html.contains("<script src=\"/ui/app.js\"") && html.contains("/ui/app.css"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from another host"
    );
    let (ct, _, js) = get("/ui/app.js");
    assert_eq!(ct, "text/javascript");
    assert!(js.contains("EventSource") && js.contains("/v1/streams/ticket"));
    assert!(
        !js.contains("innerHTML"),
        "the page never renders API text as markup"
    );
    let (ct, _, css) = get("/ui/app.css");
    assert_eq!(ct, "text/css");
    assert!(css.contains(".card.lit"));
    // Anything else under /ui/ is the API's 404, in its JSON shape.
    let (st, v) = s.call("GET", "/ui/other.js", None, None);
    assert_eq!((st, &v["error"]["code"]), (404, &json!("not_found")));
}

#[test]
fn users_tokens_and_admin_rights() {
    let s = TestServer::spawn();
    let (me_status, me) = s.get("/v1/me", ADMIN);
    assert_eq!(me_status, 200);
    assert_eq!(me["admin"], true);

    let (st, v) = s.post(
        "/v1/users",
        ADMIN,
        &json!({"name": "Ann", "email": "ann@x.io", "roles": ["sales"]}),
    );
    assert_eq!(st, 201, "{v}");
    let ann = v["id"].as_u64().unwrap();
    let ann_token = v["token"].as_str().unwrap().to_string();
    assert_eq!(v["roles"], json!(["sales"]));

    // Users never show tokens.
    let (_, list) = s.get("/v1/users", &ann_token);
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u.get("token").is_none()));
    assert_eq!(
        s.get(&format!("/v1/users/{ann}"), &ann_token).1["name"],
        "Ann"
    );

    // A non-admin cannot administer, and a refusal changes nothing.
    let users_before = s.get("/v1/users", ADMIN).1;
    let boards_before = s.get("/v1/boards", ADMIN).1;
    let (st, v) = s.post("/v1/users", &ann_token, &json!({"name": "Bob"}));
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("forbidden")));
    assert!(
        v["error"]["message"].as_str().unwrap().contains("admin"),
        "{v}"
    );
    let (st, _) = s.post(
        "/v1/boards",
        &ann_token,
        &json!({"module": "deal", "name": "X", "columns": [{"name": "A"}]}),
    );
    assert_eq!(st, 403);
    assert_eq!(s.get("/v1/users", ADMIN).1, users_before);
    assert_eq!(s.get("/v1/boards", ADMIN).1, boards_before);

    // Rotating a token revokes the old one at once.
    let (st, v) = s.post(&format!("/v1/users/{ann}/token"), &ann_token, &json!({}));
    assert_eq!(st, 200);
    let fresh = v["token"].as_str().unwrap().to_string();
    assert_eq!(s.get("/v1/me", &ann_token).0, 401);
    assert_eq!(s.get("/v1/me", &fresh).1["id"], ann);

    // Someone else's token: admin only.
    let (bob, bob_token) = s.user("Bob", false);
    assert_eq!(
        s.post(&format!("/v1/users/{ann}/token"), &bob_token, &json!({}))
            .0,
        403
    );
    assert_eq!(
        s.get("/v1/me", &fresh).1["id"],
        ann,
        "a refused rotation changed the token"
    );

    // Deactivation stops the token; the user stays listed as inactive.
    assert_eq!(s.delete(&format!("/v1/users/{bob}"), ADMIN).0, 204);
    assert_eq!(s.get("/v1/me", &bob_token).0, 401);
    assert_eq!(s.get(&format!("/v1/users/{bob}"), ADMIN).1["active"], false);

    // The last admin cannot be deactivated.
    let admin_id = me["id"].as_u64().unwrap();
    let (st, v) = s.delete(&format!("/v1/users/{admin_id}"), ADMIN);
    assert_eq!((st, v["error"]["code"].as_str()), (409, Some("conflict")));
    assert_eq!(
        s.get("/v1/me", ADMIN).1["id"],
        admin_id,
        "the refused deactivation went through"
    );
    assert_eq!(
        s.get(&format!("/v1/users/{admin_id}"), ADMIN).1["active"],
        true
    );
}

#[test]
fn groups_and_modules() {
    let s = TestServer::spawn();
    let (ann, ann_token) = s.user("Ann", false);
    let (bob, bob_token) = s.user("Bob", false);
    let (st, g) = s.post(
        "/v1/groups",
        ADMIN,
        &json!({"name": "Marketing", "members": [ann]}),
    );
    assert_eq!(st, 201, "{g}");
    let gid = g["id"].as_u64().unwrap();
    assert_eq!(
        s.get("/v1/groups", &ann_token).1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.get("/v1/groups", &bob_token).1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.get("/v1/groups", ADMIN).1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (st, g) = s.call(
        "PUT",
        &format!("/v1/groups/{gid}/members/{bob}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(g["members"], json!([ann, bob]));
    let (st, g) = s.delete(&format!("/v1/groups/{gid}/members/{ann}"), ADMIN);
    assert_eq!((st, g["members"].clone()), (200, json!([bob])));
    assert_eq!(
        s.call(
            "PUT",
            &format!("/v1/groups/{gid}/members/999"),
            Some(ADMIN),
            None
        )
        .0,
        404
    );

    let (_, mods) = s.get("/v1/modules", &ann_token);
    let keys: Vec<&str> = mods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    for k in ["deal", "lead", "invoice", "contact", "company"] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    let (st, m) = s.post(
        "/v1/modules",
        ADMIN,
        &json!({"key": "repairs", "name": "Repairs"}),
    );
    assert_eq!((st, m["builtin"].clone()), (201, json!(false)));
    assert_eq!(
        s.post(
            "/v1/modules",
            ADMIN,
            &json!({"key": "repairs", "name": "Again"})
        )
        .0,
        409
    );
    let (_, mods) = s.get("/v1/modules", ADMIN);
    let repairs: Vec<&Value> = mods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["key"] == "repairs")
        .collect();
    assert_eq!(repairs.len(), 1);
    assert_eq!(
        repairs[0]["name"], "Repairs",
        "the refused module replaced the first"
    );
    let (st, v) = s.post(
        "/v1/modules",
        ADMIN,
        &json!({"key": "Bad-Key", "name": "X"}),
    );
    assert_eq!(st, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("key"));
    // A board of the new module.
    let (st, _) = s.post(
        "/v1/boards",
        ADMIN,
        &json!({"module": "repairs", "name": "R", "columns": [{"name": "A"}]}),
    );
    assert_eq!(st, 201);
}

#[test]
fn boards_and_columns() {
    let s = TestServer::spawn();
    let (b, cols) = s.board(&["New", "Won"]);
    let (_, board) = s.get(&format!("/v1/boards/{b}"), ADMIN);
    assert_eq!(board["focus_enabled"], true);
    assert_eq!(board["focus_lead_minutes"], 15);

    let (st, v) = s.patch(
        &format!("/v1/boards/{b}"),
        ADMIN,
        &json!({"name": "Pipeline", "focus_lead_minutes": 30}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["name"].as_str(), v["focus_lead_minutes"].as_u64()),
        (Some("Pipeline"), Some(30))
    );
    let (st, v) = s.patch(
        &format!("/v1/boards/{b}"),
        ADMIN,
        &json!({"focus_lead_minutes": 10081}),
    );
    assert_eq!(st, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("focus_lead_minutes"));
    let now = s.get(&format!("/v1/boards/{b}"), ADMIN).1;
    assert_eq!(
        (now["name"].as_str(), now["focus_lead_minutes"].as_u64()),
        (Some("Pipeline"), Some(30)),
        "a refused patch changed the board"
    );

    // Add a column in the middle, move it first, rename it.
    let (st, c) = s.post(
        &format!("/v1/boards/{b}/columns"),
        ADMIN,
        &json!({"name": "Qualified", "after": cols[0]}),
    );
    assert_eq!(st, 201);
    let q = c["id"].as_u64().unwrap();
    let order = |s: &TestServer| -> Vec<u64> {
        s.get(&format!("/v1/boards/{b}"), ADMIN).1["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(order(&s), vec![cols[0], q, cols[1]]);
    let (st, _) = s.patch(
        &format!("/v1/boards/{b}/columns/{q}"),
        ADMIN,
        &json!({"after": 0, "name": "Hot"}),
    );
    assert_eq!(st, 200);
    assert_eq!(order(&s), vec![q, cols[0], cols[1]]);

    // Delete: refused while non-empty, or moves items (in order) with move_to.
    let a = s
        .post(
            "/v1/items",
            ADMIN,
            &json!({"board": b, "column": q, "title": "a"}),
        )
        .1["id"]
        .as_u64()
        .unwrap();
    let c2 = s
        .post(
            "/v1/items",
            ADMIN,
            &json!({"board": b, "column": q, "title": "c"}),
        )
        .1["id"]
        .as_u64()
        .unwrap();
    let w = s
        .post(
            "/v1/items",
            ADMIN,
            &json!({"board": b, "column": cols[1], "title": "w"}),
        )
        .1["id"]
        .as_u64()
        .unwrap();
    let (st, v) = s.delete(&format!("/v1/boards/{b}/columns/{q}"), ADMIN);
    assert_eq!((st, v["error"]["code"].as_str()), (409, Some("conflict")));
    // Refused: the column and its items are where they were.
    assert_eq!(s.walk(b, q, 50), vec![c2, a]);
    assert!(order(&s).contains(&q));
    let (st, _) = s.delete(
        &format!("/v1/boards/{b}/columns/{q}?move_to={}", cols[1]),
        ADMIN,
    );
    assert_eq!(st, 204);
    assert_eq!(s.walk(b, cols[1], 50), vec![w, c2, a]);
    assert_eq!(order(&s), vec![cols[0], cols[1]]);
    assert_eq!(s.get(&format!("/v1/items/{a}"), ADMIN).1["column"], cols[1]);
    // Empty column: deleted directly.
    assert_eq!(
        s.delete(&format!("/v1/boards/{b}/columns/{}", cols[0]), ADMIN)
            .0,
        204
    );
    // The last column stays.
    assert_eq!(
        s.delete(&format!("/v1/boards/{b}/columns/{}", cols[1]), ADMIN)
            .0,
        409
    );
    assert_eq!(order(&s), vec![cols[1]]);
    assert_eq!(s.walk(b, cols[1], 50), vec![w, c2, a]);
}

#[test]
fn openapi_lists_every_route_and_the_item_schema_matches() {
    let s = TestServer::spawn();
    let (st, doc) = s.get("/openapi.json", ADMIN);
    assert_eq!(st, 200);
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/v1/users",
        "/v1/users/{id}",
        "/v1/me",
        "/v1/users/{id}/token",
        "/v1/groups",
        "/v1/groups/{id}/members/{user}",
        "/v1/modules",
        "/v1/boards",
        "/v1/boards/{id}",
        "/v1/boards/{id}/columns",
        "/v1/boards/{id}/columns/{col}",
        "/v1/items",
        "/v1/items/batch",
        "/v1/items/{id}",
        "/v1/items/{id}/move",
        "/v1/items/{id}/read",
        "/v1/boards/{id}/columns/{col}/items",
        "/v1/boards/{id}/kanban",
        "/v1/boards/{id}/items",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    // Every documented path answers something other than "no such route".
    let (b, cols) = s.board(&["A"]);
    let item = s.item(b, "x");
    // A user the loop may rotate or deactivate without locking the admin out.
    let (victim, _) = s.user("victim", false);
    for (p, ops) in paths {
        for m in ops.as_object().unwrap().keys() {
            let concrete = p
                .replace("{id}/columns/{col}", &format!("{b}/columns/{}", cols[0]))
                .replace("/v1/boards/{id}", &format!("/v1/boards/{b}"))
                .replace("/v1/items/{id}", &format!("/v1/items/{item}"))
                .replace("/v1/users/{id}", &format!("/v1/users/{victim}"))
                .replace("{id}", "1")
                .replace("{user}", "1")
                .replace("{col}", &cols[0].to_string());
            let (_, v) = s.call(
                &m.to_uppercase(),
                &concrete,
                Some(ADMIN),
                Some(("application/json", b"{}")),
            );
            assert_ne!(v["error"]["message"], "no such route", "{m} {concrete}");
        }
    }
    let props: Vec<&str> = doc["components"]["schemas"]["Item"]["properties"]
        .as_object()
        .expect("Item schema")
        .keys()
        .map(String::as_str)
        .collect();
    let mut want: Vec<&str> = hoist_server::ITEM_FIELDS.to_vec();
    want.sort_unstable();
    let mut got = props.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    // And the JSON the server writes has exactly those keys (a fresh item: the loop above
    // may have deleted the first one).
    let fresh = s.item(b, "y");
    let (_, it) = s.get(&format!("/v1/items/{fresh}"), ADMIN);
    let mut keys: Vec<&str> = it.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, want);
}

#[test]
fn metrics_count_requests_and_items() {
    let s = TestServer::spawn();
    let (b, _) = s.board(&["A"]);
    s.item(b, "x");
    let (st, v) = s.get("/metrics", ADMIN);
    assert_eq!(st, 200);
    let text = v.as_str().expect("text");
    assert!(text.contains("hoist_items 1"), "{text}");
    assert!(text.contains("route=\"/v1/items\""), "{text}");
    assert!(text.contains("hoist_http_request_duration_seconds_bucket"));
}

#[test]
fn first_start_writes_a_private_admin_token_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let (mut child, base) = start(&data, None).expect("start");
    let path = data.join("admin.token");
    let token = std::fs::read_to_string(&path)
        .expect("admin.token")
        .trim()
        .to_string();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let resp = ureq::get(&format!("{base}/v1/me"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("me");
    assert_eq!(resp.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_second_server_on_the_same_directory_is_refused() {
    let s = TestServer::spawn();
    let err = start(&s.data, Some(ADMIN)).expect_err("must refuse");
    assert!(err.contains("in use by another process"), "{err}");
}

#[test]
fn sigterm_shuts_down_cleanly_and_keeps_the_writes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let s = TestServer::spawn_at(&data);
    let (b, cols) = s.board(&["A"]);
    let ids: Vec<u64> = (0..20).map(|i| s.item(b, &format!("t{i}"))).collect();
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    let s = TestServer::spawn_at(&data);
    let mut want = ids.clone();
    want.reverse();
    assert_eq!(s.walk(b, cols[0], 7), want);
}
