//! Feeds over HTTP: who sees which entry on their wall (records, status messages, group
//! discussions and files, direct messages, mentions), following and auto-follow rules,
//! feed preferences, wall order, paging and filters, and the record peek.
//!
//! Every test runs on its own server with the admin, Ann (role `sales`), Bob (role
//! `legal`), a group "Marketing" with Ann only, and a `deal` board.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::server::{now_ms, TestServer, ADMIN};

struct World {
    s: TestServer,
    admin: u64,
    ann: u64,
    ann_t: String,
    bob: u64,
    bob_t: String,
    mkt: u64,
    board: u64,
    cols: Vec<u64>,
}

fn user_with_roles(s: &TestServer, name: &str, roles: &[&str]) -> (u64, String) {
    let (st, v) = s.post("/v1/users", ADMIN, &json!({"name": name, "roles": roles}));
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["roles"], json!(roles), "{v}");
    (
        v["id"].as_u64().unwrap(),
        v["token"].as_str().unwrap().to_string(),
    )
}

fn world() -> World {
    world_on(TestServer::spawn())
}

fn world_on(s: TestServer) -> World {
    let (st, me) = s.get("/v1/me", ADMIN);
    assert_eq!(st, 200, "{me}");
    let admin = me["id"].as_u64().unwrap();
    let (ann, ann_t) = user_with_roles(&s, "Ann", &["sales"]);
    let (bob, bob_t) = user_with_roles(&s, "Bob", &["legal"]);
    let (st, g) = s.post(
        "/v1/groups",
        ADMIN,
        &json!({"name": "Marketing", "members": [ann]}),
    );
    assert_eq!(st, 201, "{g}");
    assert_eq!(g["members"], json!([ann]));
    let mkt = g["id"].as_u64().unwrap();
    let (board, cols) = s.board(&["New", "Won"]);
    World {
        s,
        admin,
        ann,
        ann_t,
        bob,
        bob_t,
        mkt,
        board,
        cols,
    }
}

impl World {
    /// Stops the server cleanly and starts a new one on the same data directory; with
    /// `rebuild`, without the checkpoint the stop wrote, so the start reads every record.
    fn restart(self, data: &Path, rebuild: bool) -> World {
        let World {
            s,
            admin,
            ann,
            ann_t,
            bob,
            bob_t,
            mkt,
            board,
            cols,
        } = self;
        assert!(s.terminate().success());
        if rebuild {
            std::fs::remove_dir_all(data.join("checkpoint")).unwrap();
        }
        World {
            s: TestServer::spawn_at(data),
            admin,
            ann,
            ann_t,
            bob,
            bob_t,
            mkt,
            board,
            cols,
        }
    }

    /// Creates an item as the admin with `responsible` and any other body fields.
    fn item_in(&self, board: u64, title: &str, responsible: u64, extra: Value) -> u64 {
        let mut body = json!({"board": board, "title": title, "responsible": responsible});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let (st, v) = self.s.post("/v1/items", ADMIN, &body);
        assert_eq!(st, 201, "{v}");
        v["id"].as_u64().unwrap()
    }

    fn item(&self, title: &str, responsible: u64) -> u64 {
        self.item_in(self.board, title, responsible, json!({}))
    }

    fn lead_board(&self) -> u64 {
        let (st, v) = self.s.post(
            "/v1/boards",
            ADMIN,
            &json!({"module": "lead", "name": "Leads", "columns": [{"name": "In"}]}),
        );
        assert_eq!(st, 201, "{v}");
        v["id"].as_u64().unwrap()
    }

    fn patch(&self, item: u64, body: Value) -> Value {
        let (st, v) = self.s.patch(&format!("/v1/items/{item}"), ADMIN, &body);
        assert_eq!(st, 200, "{v}");
        v
    }

    /// A comment by `token`; returns the entry id.
    fn comment(&self, item: u64, token: &str, text: &str, mentions: Value) -> u64 {
        let body = if mentions.is_null() {
            json!({"text": text})
        } else {
            json!({"text": text, "mentions": mentions})
        };
        let (st, v) = self
            .s
            .post(&format!("/v1/items/{item}/comments"), token, &body);
        assert_eq!(st, 201, "{v}");
        v["id"].as_u64().unwrap()
    }

    fn note(&self, item: u64, token: &str, text: &str) -> u64 {
        let (st, v) = self.s.post(
            &format!("/v1/items/{item}/notes"),
            token,
            &json!({"text": text}),
        );
        assert_eq!(st, 201, "{v}");
        v["id"].as_u64().unwrap()
    }

    /// A status message; returns the entry.
    fn post(&self, token: &str, body: Value) -> Value {
        let (st, v) = self.s.post("/v1/feed/posts", token, &body);
        assert_eq!(st, 201, "{v}");
        v
    }

    fn dm(&self, token: &str, body: Value) -> Value {
        let (st, v) = self.s.post("/v1/messages", token, &body);
        assert_eq!(st, 201, "{v}");
        v
    }

    fn follow(&self, item: u64, token: &str) {
        let (st, v) = self.s.call(
            "PUT",
            &format!("/v1/items/{item}/follow"),
            Some(token),
            None,
        );
        assert_eq!(st, 204, "{v}");
    }

    fn unfollow(&self, item: u64, token: &str) {
        let (st, v) = self.s.delete(&format!("/v1/items/{item}/follow"), token);
        assert_eq!(st, 204, "{v}");
    }

    fn member(&self, group: u64, user: u64, add: bool) {
        let method = if add { "PUT" } else { "DELETE" };
        let (st, v) = self.s.call(
            method,
            &format!("/v1/groups/{group}/members/{user}"),
            Some(ADMIN),
            None,
        );
        assert_eq!(st, 200, "{v}");
    }

    /// The whole first page (limit 500) of `path`.
    fn page(&self, path: &str, token: &str) -> Vec<Value> {
        let (st, v) = self.s.get(path, token);
        assert_eq!(st, 200, "{path}: {v}");
        v["items"].as_array().expect("items").clone()
    }

    /// The caller's wall with extra query parameters (`&module=deal`…).
    fn wall(&self, token: &str, q: &str) -> Vec<Value> {
        self.page(&format!("/v1/feed?limit=500{q}"), token)
    }

    fn sees(&self, token: &str, entry: u64) -> bool {
        ids(&self.wall(token, "")).contains(&entry)
    }

    /// The kinds of the caller's wall entries about `item`, newest first.
    fn kinds_about(&self, token: &str, item: u64) -> Vec<String> {
        self.wall(token, "")
            .iter()
            .filter(|e| e["item"] == item)
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    }

    /// "Followed by me": item → reasons.
    fn follows(&self, token: &str, q: &str) -> Vec<(u64, Vec<String>)> {
        self.page(&format!("/v1/follows?limit=500{q}"), token)
            .iter()
            .map(|f| {
                let reasons = f["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect();
                (f["item"].as_u64().unwrap(), reasons)
            })
            .collect()
    }

    fn reasons(&self, token: &str, item: u64) -> Option<Vec<String>> {
        self.follows(token, "")
            .into_iter()
            .find(|(i, _)| *i == item)
            .map(|(_, r)| r)
    }

    fn rule(&self, token: &str, body: Value) -> Value {
        let (st, v) = self.s.post("/v1/follow-rules", token, &body);
        assert_eq!(st, 201, "{v}");
        v
    }
}

fn ids(entries: &[Value]) -> Vec<u64> {
    entries.iter().map(|e| e["id"].as_u64().unwrap()).collect()
}

fn kinds(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

fn find<'a>(entries: &'a [Value], item: u64, kind: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|e| e["item"] == item && e["kind"] == kind)
}

/// An RFC 3339 UTC time (`…:05Z` or `…:05.25Z`) as a string that sorts in time order.
fn at_key(at: &Value) -> String {
    let at = at.as_str().expect("at").strip_suffix('Z').expect("UTC");
    let (secs, frac) = at.split_once('.').unwrap_or((at, ""));
    format!("{secs}.{frac:0<9}")
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

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
fn record_entries_reach_the_followers_at_the_time() {
    let w = world();
    let s = &w.s;
    // Bob's rule follows every record with "acme" in the title.
    let r = w.rule(
        &w.bob_t,
        json!({"name": "acme", "module": "deal",
               "criteria": [{"field": "title", "op": "contains", "value": "acme"}]}),
    )["id"]
        .as_u64()
        .unwrap();

    // Ann owns X: she sees its creation; Bob and the admin (its creator) do not.
    let x = w.item_in(w.board, "Globex", w.ann, json!({"amount": 100}));
    let ann_wall = w.wall(&w.ann_t, "");
    let created = find(&ann_wall, x, "record_created").expect("record_created for the owner");
    assert_eq!(created["module"], "deal");
    assert_eq!(created["title"], "Globex");
    assert_eq!(created["author"], w.admin);
    assert!(created["at"].as_str().unwrap().ends_with('Z'));
    let created_id = created["id"].as_u64().unwrap();
    assert!(!w.sees(&w.bob_t, created_id));
    assert!(!w.sees(ADMIN, created_id), "creating is not following");

    let c1 = w.comment(x, &w.ann_t, "first", Value::Null);
    assert!(w.sees(&w.ann_t, c1));
    assert!(!w.sees(&w.bob_t, c1));

    // Bob follows from now on: not the earlier entries, every later one.
    w.follow(x, &w.bob_t);
    w.patch(x, json!({"title": "Globex big", "amount": 250}));
    let note = w.note(x, &w.ann_t, "a note");
    let (st, v) = s.post(
        "/v1/events",
        ADMIN,
        &json!({"id": "ev-x-1", "kind": "call_in", "item": x, "summary": "called in"}),
    );
    assert_eq!(st, 201, "{v}");
    let (st, v) = s.post(
        &format!("/v1/items/{x}/activities"),
        &w.ann_t,
        &json!({"kind": "call", "subject": "Call back", "deadline": "2099-01-01T00:00:00Z"}),
    );
    assert_eq!(st, 201, "{v}");
    let expected = ["activity", "event", "note", "record_updated"];
    assert_eq!(w.kinds_about(&w.bob_t, x), expected);
    assert_eq!(
        w.kinds_about(&w.ann_t, x),
        [&expected[..], &["comment", "record_created"]].concat()
    );
    let bob_wall = w.wall(&w.bob_t, "");
    let upd = find(&bob_wall, x, "record_updated").unwrap();
    assert_eq!(upd["title"], "Globex big");
    let mut changes = upd["changes"].as_array().unwrap().clone();
    changes.sort_by_key(|c| c["field"].as_str().unwrap().to_string());
    assert_eq!(
        Value::Array(changes),
        json!([
            {"field": "amount", "old": 100.0, "new": 250.0},
            {"field": "title", "old": "Globex", "new": "Globex big"}
        ])
    );
    assert_eq!(find(&bob_wall, x, "event").unwrap()["text"], "called in");
    assert_eq!(find(&bob_wall, x, "activity").unwrap()["text"], "Call back");
    assert_eq!(find(&bob_wall, x, "note").unwrap()["id"], note);
    assert!(!w.sees(ADMIN, note), "the admin does not follow X");

    // Bob unfollows: later entries no longer reach him, earlier ones stay on his wall.
    w.unfollow(x, &w.bob_t);
    let c2 = w.comment(x, &w.ann_t, "second", Value::Null);
    assert!(w.sees(&w.ann_t, c2));
    assert!(!w.sees(&w.bob_t, c2));
    assert_eq!(w.kinds_about(&w.bob_t, x), expected);

    // A rule follower sees the record from its creation on.
    let y = w.item("Big ACME deal", w.admin);
    assert_eq!(w.reasons(&w.bob_t, y), Some(vec![format!("rule:{r}")]));
    assert_eq!(w.kinds_about(&w.bob_t, y), ["record_created"]);
    assert!(w.kinds_about(&w.ann_t, y).is_empty());

    // Deleting: the followers at that moment see it.
    let (st, v) = s.delete(&format!("/v1/items/{x}"), ADMIN);
    assert_eq!(st, 204, "{v}");
    let (st, v) = s.delete(&format!("/v1/items/{y}"), ADMIN);
    assert_eq!(st, 204, "{v}");
    assert_eq!(w.kinds_about(&w.ann_t, x)[0], "record_deleted");
    assert!(!w
        .kinds_about(&w.bob_t, x)
        .contains(&"record_deleted".to_string()));
    assert_eq!(
        w.kinds_about(&w.bob_t, y),
        ["record_deleted", "record_created"]
    );
    assert_eq!(
        w.kinds_about(ADMIN, y),
        ["record_deleted", "record_created"]
    );
    assert_eq!(
        w.reasons(&w.bob_t, y),
        None,
        "a deleted record is not followed"
    );
}

#[test]
fn mentions_reach_users_groups_and_roles() {
    let w = world();
    // The admin owns Z; neither Ann nor Bob follows it.
    let z = w.item("Initech", w.admin);
    let plain = w.comment(z, ADMIN, "nobody mentioned", Value::Null);
    let to_bob = w.comment(z, ADMIN, "hey Bob", json!({"users": [w.bob]}));
    let to_mkt = w.comment(z, ADMIN, "hey Marketing", json!({"groups": [w.mkt]}));
    let to_legal = w.comment(z, ADMIN, "hey legal", json!({"roles": ["legal"]}));
    let to_sales = w.comment(z, ADMIN, "hey sales", json!({"roles": ["sales"]}));
    for e in [plain, to_bob, to_mkt, to_legal, to_sales] {
        assert!(w.sees(ADMIN, e), "the owner sees every comment");
    }
    assert!(!w.sees(&w.ann_t, plain));
    assert!(!w.sees(&w.bob_t, plain));
    assert!(w.sees(&w.bob_t, to_bob));
    assert!(!w.sees(&w.ann_t, to_bob));
    assert!(w.sees(&w.ann_t, to_mkt), "Ann is in Marketing");
    assert!(!w.sees(&w.bob_t, to_mkt));
    assert!(w.sees(&w.bob_t, to_legal), "Bob has the role legal");
    assert!(!w.sees(&w.ann_t, to_legal));
    assert!(w.sees(&w.ann_t, to_sales));
    assert!(!w.sees(&w.bob_t, to_sales));
    let bob_wall = w.wall(&w.bob_t, "");
    let e = bob_wall.iter().find(|e| e["id"] == to_bob).unwrap();
    assert_eq!(e["kind"], "comment");
    assert_eq!(e["item"], z);
    assert_eq!(e["module"], "deal");
    assert_eq!(e["title"], "Initech");
    assert_eq!(e["author"], w.admin);
    assert_eq!(e["text"], "hey Bob");
    assert_eq!(
        e["mentions"],
        json!({"users": [w.bob], "groups": [], "roles": []})
    );
    // Mentions do not make anyone a follower.
    assert_eq!(w.reasons(&w.bob_t, z), None);
    let later = w.comment(z, ADMIN, "later", Value::Null);
    assert!(!w.sees(&w.bob_t, later));
    // A mention of an unknown user or group is refused, naming it.
    assert_error(
        w.s.post(
            &format!("/v1/items/{z}/comments"),
            ADMIN,
            &json!({"text": "x", "mentions": {"users": [999]}}),
        ),
        400,
        "invalid",
        "mentions.users[0]",
    );
    assert_error(
        w.s.post(
            &format!("/v1/items/{z}/comments"),
            ADMIN,
            &json!({"text": "x", "mentions": {"groups": [999]}}),
        ),
        400,
        "invalid",
        "mentions.groups[0]",
    );
}

#[test]
fn status_messages_public_and_group() {
    let w = world();
    let s = &w.s;
    let public = w.post(&w.bob_t, json!({"text": "hello all"}));
    assert_eq!(public["kind"], "status");
    assert_eq!(public["author"], w.bob);
    assert_eq!(public["text"], "hello all");
    assert!(public.get("group").is_none() && public.get("item").is_none());
    let public = public["id"].as_u64().unwrap();
    for t in [w.ann_t.as_str(), w.bob_t.as_str(), ADMIN] {
        assert!(w.sees(t, public));
    }
    // A user created afterwards sees it too: "every user".
    let (_, carol_t) = w.s.user("Carol", false);
    assert!(w.sees(&carol_t, public));

    let g = w.post(&w.ann_t, json!({"text": "mkt only", "group": w.mkt}));
    assert_eq!(g["group"], w.mkt);
    let g = g["id"].as_u64().unwrap();
    assert!(w.sees(&w.ann_t, g));
    assert!(!w.sees(&w.bob_t, g));
    assert!(!w.sees(ADMIN, g), "admins are not members");
    let feed = format!("/v1/groups/{}/feed", w.mkt);
    assert_eq!(ids(&w.page(&feed, &w.ann_t)), [g], "no public status");
    assert_error(s.get(&feed, &w.bob_t), 404, "not_found", "group");
    assert_error(s.get(&feed, ADMIN), 404, "not_found", "group");
    assert_error(
        s.get("/v1/groups/999/feed", &w.ann_t),
        404,
        "not_found",
        "group 999",
    );
    // Only members post to a group.
    assert_error(
        s.post(
            "/v1/feed/posts",
            &w.bob_t,
            &json!({"text": "x", "group": w.mkt}),
        ),
        404,
        "not_found",
        "group",
    );
    assert_error(
        s.post("/v1/feed/posts", &w.bob_t, &json!({"text": ""})),
        400,
        "invalid",
        "text",
    );

    // Membership is read at read time: Bob joins and sees the earlier message.
    w.member(w.mkt, w.bob, true);
    assert!(w.sees(&w.bob_t, g));
    assert_eq!(ids(&w.page(&feed, &w.bob_t)), [g]);
    let g2 = w.post(&w.bob_t, json!({"text": "thanks", "group": w.mkt}))["id"]
        .as_u64()
        .unwrap();
    assert!(w.sees(&w.ann_t, g2));
    assert_eq!(ids(&w.page(&feed, &w.ann_t)), [g2, g]);
    // …and leaves: none of it any more.
    w.member(w.mkt, w.bob, false);
    assert!(!w.sees(&w.bob_t, g));
    assert!(!w.sees(&w.bob_t, g2));
    assert_error(s.get(&feed, &w.bob_t), 404, "not_found", "group");
    // The admin who joins reads the group's feed like any member.
    w.member(w.mkt, w.admin, true);
    assert_eq!(ids(&w.page(&feed, ADMIN)), [g2, g]);
    assert!(w.sees(ADMIN, g));
}

#[test]
fn direct_messages_are_private() {
    let w = world();
    let s = &w.s;
    let (carol, carol_t) = w.s.user("Carol", false);
    let m1 = w.dm(&w.ann_t, json!({"text": "hi Bob", "to_users": [w.bob]}));
    assert_eq!(m1["kind"], "direct_message");
    assert_eq!(m1["author"], w.ann);
    assert_eq!(m1["recipients"], json!([w.bob]));
    let m1 = m1["id"].as_u64().unwrap();
    let m2 = w.dm(&w.bob_t, json!({"text": "hi Ann", "to_users": [w.ann]}))["id"]
        .as_u64()
        .unwrap();
    for t in [w.ann_t.as_str(), w.bob_t.as_str()] {
        assert!(w.sees(t, m1) && w.sees(t, m2));
        assert_eq!(ids(&w.page("/v1/messages", t)), [m2, m1]);
    }
    for t in [carol_t.as_str(), ADMIN] {
        assert!(!w.sees(t, m1) && !w.sees(t, m2));
        assert!(w.page("/v1/messages", t).is_empty());
    }

    // To a group: its members when sent, except the sender.
    assert_error(
        s.post(
            "/v1/messages",
            &w.ann_t,
            &json!({"text": "x", "to_group": w.mkt}),
        ),
        400,
        "invalid",
        "to_users",
    );
    w.member(w.mkt, carol, true);
    let m3 = w.dm(&w.ann_t, json!({"text": "hi team", "to_group": w.mkt}));
    assert_eq!(m3["recipients"], json!([carol]));
    assert_eq!(m3["group"], w.mkt);
    let m3 = m3["id"].as_u64().unwrap();
    w.member(w.mkt, w.bob, true);
    w.member(w.mkt, carol, false);
    assert!(w.sees(&carol_t, m3), "a recipient keeps the message");
    assert!(!w.sees(&w.bob_t, m3), "members are resolved at send time");
    assert!(!w.sees(ADMIN, m3));
    let feed = format!("/v1/groups/{}/feed", w.mkt);
    assert!(
        !ids(&w.page(&feed, &w.ann_t)).contains(&m3),
        "a direct message is not a group discussion"
    );
    // Non-members cannot message a group.
    assert_error(
        s.post(
            "/v1/messages",
            ADMIN,
            &json!({"text": "x", "to_group": w.mkt}),
        ),
        404,
        "not_found",
        "group",
    );

    // One conversation.
    assert_eq!(
        ids(&w.page(&format!("/v1/messages?with={}", w.bob), &w.ann_t)),
        [m2, m1]
    );
    assert_eq!(
        ids(&w.page(&format!("/v1/messages?with={carol}"), &w.ann_t)),
        [m3]
    );
    assert_eq!(
        ids(&w.page(&format!("/v1/messages?with={}", w.ann), &carol_t)),
        [m3]
    );
    assert!(w
        .page(&format!("/v1/messages?with={}", w.bob), &carol_t)
        .is_empty());
    assert_eq!(
        ids(&w.page("/v1/messages?limit=1", &w.ann_t)),
        [m3],
        "newest first"
    );

    // Nobody to send to.
    assert_error(
        s.post(
            "/v1/messages",
            &w.ann_t,
            &json!({"text": "x", "to_users": [w.ann]}),
        ),
        400,
        "invalid",
        "to_users",
    );
    assert_error(
        s.post("/v1/messages", &w.ann_t, &json!({"text": "x"})),
        400,
        "invalid",
        "to_users",
    );
    assert_error(
        s.post(
            "/v1/messages",
            &w.ann_t,
            &json!({"text": "x", "to_users": [999]}),
        ),
        400,
        "invalid",
        "to_users[0]",
    );
}

#[test]
fn group_files() {
    let w = world();
    let s = &w.s;
    let body = b"hello\nworld, \xc3\xa9t\xc3\xa9";
    let upload = |token: &str, name: &str, bytes: &[u8]| {
        s.call(
            "POST",
            &format!("/v1/groups/{}/files?name={name}", w.mkt),
            Some(token),
            Some(("text/plain", bytes)),
        )
    };
    let (st, f) = upload(&w.ann_t, "a.txt", body);
    assert_eq!(st, 201, "{f}");
    let fid = f["id"].as_u64().unwrap();
    assert_eq!(
        f,
        json!({"id": fid, "name": "a.txt", "size": body.len(), "content_type": "text/plain"})
    );
    let path = format!("/v1/groups/{}/files/{fid}", w.mkt);
    let (st, ct, bytes) = s.get_raw(&path, &w.ann_t);
    assert_eq!(st, 200);
    assert_eq!(ct, "text/plain");
    assert_eq!(bytes, body);
    // Not a member: not found, for download and upload; the admin included.
    for t in [w.bob_t.as_str(), ADMIN] {
        let (st, _, bytes) = s.get_raw(&path, t);
        assert_eq!(st, 404, "{}", String::from_utf8_lossy(&bytes));
        assert_error(upload(t, "b.txt", b"x"), 404, "not_found", "group");
    }
    assert_error(
        s.get(&format!("/v1/groups/{}/files/999", w.mkt), &w.ann_t),
        404,
        "not_found",
        "file",
    );
    // The file entry: on the group's feed and its members' walls only.
    let feed = w.page(&format!("/v1/groups/{}/feed", w.mkt), &w.ann_t);
    assert_eq!(kinds(&feed), ["file"]);
    let e = &feed[0];
    assert_eq!(e["file"], fid);
    assert_eq!(e["group"], w.mkt);
    assert_eq!(e["author"], w.ann);
    assert_eq!(e["text"], "a.txt");
    let eid = e["id"].as_u64().unwrap();
    assert!(w.sees(&w.ann_t, eid));
    assert!(!w.sees(&w.bob_t, eid));
    assert!(!w.sees(ADMIN, eid));
    w.member(w.mkt, w.bob, true);
    assert!(w.sees(&w.bob_t, eid));
    assert_eq!(s.get_raw(&path, &w.bob_t).2, body);

    // Up to 8 MiB.
    let big = vec![b'x'; 8 << 20];
    let (st, f) = upload(&w.ann_t, "big.bin", &big);
    assert_eq!(st, 201, "{f}");
    assert_eq!(f["size"], 8 << 20);
    let over = vec![b'x'; (8 << 20) + 1];
    assert_error(
        upload(&w.ann_t, "over.bin", &over),
        413,
        "too_large",
        "8388608 bytes",
    );
    assert_eq!(
        kinds(&w.page(&format!("/v1/groups/{}/feed", w.mkt), &w.ann_t)),
        ["file", "file"],
        "the refused file left no entry"
    );
    // A name is needed.
    assert_error(
        s.call(
            "POST",
            &format!("/v1/groups/{}/files", w.mkt),
            Some(&w.ann_t),
            Some(("text/plain", b"x")),
        ),
        400,
        "invalid",
        "name",
    );
}

#[test]
fn following_reasons_and_responsible_changes() {
    let w = world();
    let s = &w.s;
    let x = w.item("X", w.ann);
    let (st, v) = s.get("/v1/follows", &w.ann_t);
    assert_eq!(st, 200, "{v}");
    let f = &v["items"][0];
    assert_eq!(f["item"], x);
    assert_eq!(f["module"], "deal");
    assert_eq!(f["title"], "X");
    assert_eq!(f["reasons"], json!(["owner"]));
    assert!(f["updated_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["next_cursor"], Value::Null);
    w.follow(x, &w.ann_t);
    assert_eq!(w.reasons(&w.ann_t, x), Some(strs(&["owner", "manual"])));
    w.follow(x, &w.bob_t);
    assert_eq!(w.reasons(&w.bob_t, x), Some(strs(&["manual"])));
    // Module filter.
    let lead = w.lead_board();
    let l = w.item_in(lead, "L", w.ann, json!({}));
    assert_eq!(
        w.follows(&w.ann_t, "&module=deal"),
        [(x, strs(&["owner", "manual"]))]
    );
    assert_eq!(w.follows(&w.ann_t, "&module=lead"), [(l, strs(&["owner"]))]);
    assert_eq!(w.follows(&w.ann_t, "").len(), 2);
    let (st, v) = s.get("/v1/follows?limit=1", &w.ann_t);
    assert_eq!(st, 200);
    let c = v["next_cursor"].as_str().unwrap();
    let (st, v2) = s.get(&format!("/v1/follows?limit=1&cursor={c}"), &w.ann_t);
    assert_eq!(st, 200);
    assert_eq!(
        [
            v["items"][0]["item"].clone(),
            v2["items"][0]["item"].clone()
        ],
        [json!(x), json!(l)]
    );

    // The responsible changes: the new one follows as owner, the old one not as owner.
    w.patch(x, json!({"responsible": w.bob}));
    assert_eq!(w.reasons(&w.ann_t, x), Some(strs(&["manual"])));
    assert_eq!(w.reasons(&w.bob_t, x), Some(strs(&["owner", "manual"])));
    let y = w.item("Y", w.ann);
    w.patch(y, json!({"responsible": w.bob}));
    assert_eq!(w.reasons(&w.ann_t, y), None);
    assert_eq!(w.reasons(&w.bob_t, y), Some(strs(&["owner"])));
    let bob_wall = w.wall(&w.bob_t, "");
    let upd = find(&bob_wall, y, "record_updated").expect("the new owner sees the change");
    assert_eq!(
        upd["changes"],
        json!([{"field": "responsible", "old": w.ann, "new": w.bob}])
    );
    let c = w.comment(y, ADMIN, "for the owner", Value::Null);
    assert!(w.sees(&w.bob_t, c));
    assert!(!w.sees(&w.ann_t, c));

    // Unfollow sticks, whatever the reasons, across a change of responsible and back…
    let z = w.item("Z", w.ann);
    w.follow(z, &w.ann_t);
    w.unfollow(z, &w.ann_t);
    assert_eq!(w.reasons(&w.ann_t, z), None);
    w.patch(z, json!({"responsible": w.bob}));
    w.patch(z, json!({"responsible": w.ann}));
    assert_eq!(w.reasons(&w.ann_t, z), None);
    let c = w.comment(z, &w.bob_t, "still there?", Value::Null);
    assert!(!w.sees(&w.ann_t, c));
    assert_eq!(w.reasons(&w.bob_t, z), None, "Bob is no longer its owner");
    // …until Follow.
    w.follow(z, &w.ann_t);
    assert_eq!(w.reasons(&w.ann_t, z), Some(strs(&["owner", "manual"])));
    let c = w.comment(z, &w.bob_t, "back", Value::Null);
    assert!(w.sees(&w.ann_t, c));

    // …and across a rule match.
    let r = w.rule(
        &w.ann_t,
        json!({"name": "sticky", "module": "deal",
               "criteria": [{"field": "title", "op": "contains", "value": "sticky"}]}),
    )["id"]
        .as_u64()
        .unwrap();
    let v = w.item("A sticky one", w.bob);
    assert_eq!(w.reasons(&w.ann_t, v), Some(vec![format!("rule:{r}")]));
    w.unfollow(v, &w.ann_t);
    w.patch(v, json!({"amount": 5, "title": "Sticky two"}));
    assert_eq!(w.reasons(&w.ann_t, v), None);
    assert_eq!(w.kinds_about(&w.ann_t, v), ["record_created"]);
    w.follow(v, &w.ann_t);
    assert_eq!(
        w.reasons(&w.ann_t, v),
        Some(vec!["manual".to_string(), format!("rule:{r}")])
    );

    // Unknown records.
    assert_error(
        s.call("PUT", "/v1/items/999/follow", Some(&w.ann_t), None),
        404,
        "not_found",
        "item",
    );
    assert_error(
        s.delete("/v1/items/999/follow", &w.ann_t),
        404,
        "not_found",
        "item",
    );
}

#[test]
fn inactive_records() {
    let w = world();
    let s = &w.s;
    let x = w.item("X", w.ann);
    for bad in ["0", "181", "-1", "abc"] {
        assert_error(
            s.get(&format!("/v1/follows/inactive?days={bad}"), &w.ann_t),
            400,
            "invalid",
            "days",
        );
    }
    assert_error(
        s.get("/v1/follows/inactive", &w.ann_t),
        400,
        "invalid",
        "days",
    );
    // Just created, so not inactive for any period; the user does follow it.
    assert_eq!(w.reasons(&w.ann_t, x), Some(strs(&["owner"])));
    for days in [1, 90, 180] {
        assert!(w
            .page(&format!("/v1/follows/inactive?days={days}"), &w.ann_t)
            .is_empty());
    }
}

#[test]
fn auto_follow_rules() {
    let w = world();
    let s = &w.s;
    let (b2, b2cols) = s.board(&["Only"]);
    let crit = |field: &str, op: &str, value: Value| {
        json!({"name": format!("{field} {op}"), "module": "deal",
               "criteria": [{"field": field, "op": op, "value": value}]})
    };
    let mut rules = Vec::new();
    for body in [
        crit("amount", "gte", json!(1000)),
        crit("title", "contains", json!("ACME")),
        crit("column", "eq", json!(w.cols[1])),
        crit("board", "in", json!([b2, 999])),
        crit("responsible", "eq", json!(w.ann)),
        crit("source", "eq", json!("web")),
    ] {
        let r = w.rule(&w.bob_t, body.clone());
        assert!(r.get("job").is_none(), "{r}");
        assert_eq!(r["module"], "deal");
        assert_eq!(r["name"], body["name"]);
        assert_eq!(r["criteria"][0]["op"], body["criteria"][0]["op"]);
        assert_eq!(r["criteria"][0]["field"], body["criteria"][0]["field"]);
        rules.push(r["id"].as_u64().unwrap());
    }
    let rule = |i: usize| vec![format!("rule:{}", rules[i])];
    let listed: Vec<u64> = s.get("/v1/follow-rules", &w.bob_t).1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, rules);
    assert_eq!(
        s.get("/v1/follow-rules", &w.ann_t).1,
        json!({"items": [], "next_cursor": null})
    );

    let a = w.item_in(w.board, "big", w.admin, json!({"amount": 1000}));
    let a2 = w.item_in(w.board, "small", w.admin, json!({"amount": 999.5}));
    let b = w.item("Big acme deal", w.admin);
    let c = w.item("to move", w.admin);
    let d = w.item_in(w.board, "won", w.admin, json!({"column": w.cols[1]}));
    let e = w.item_in(b2, "other board", w.admin, json!({}));
    let f = w.item("Ann's", w.ann);
    let g = w.item_in(
        w.board,
        "web",
        w.admin,
        json!({"fields": {"source": "web"}}),
    );
    let g2 = w.item_in(
        w.board,
        "fax",
        w.admin,
        json!({"fields": {"source": "fax"}}),
    );
    let n = w.item("plain", w.admin);
    assert_eq!(w.reasons(&w.bob_t, a), Some(rule(0)));
    assert_eq!(w.reasons(&w.bob_t, b), Some(rule(1)));
    assert_eq!(w.reasons(&w.bob_t, d), Some(rule(2)));
    assert_eq!(w.reasons(&w.bob_t, e), Some(rule(3)));
    assert_eq!(w.reasons(&w.bob_t, f), Some(rule(4)));
    assert_eq!(w.reasons(&w.bob_t, g), Some(rule(5)));
    for i in [a2, c, g2, n] {
        assert_eq!(w.reasons(&w.bob_t, i), None, "item {i}");
    }
    assert_eq!(w.kinds_about(&w.bob_t, a), ["record_created"]);
    // Changed so as to match (a move to another stage, a PATCH): followed from that
    // change on, which the rule's owner sees, by its author.
    let (st, v) = s.post(
        &format!("/v1/items/{c}/move"),
        &w.ann_t,
        &json!({"column": w.cols[1]}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(w.reasons(&w.bob_t, c), Some(rule(2)));
    let bob_wall = w.wall(&w.bob_t, "");
    let moved = find(&bob_wall, c, "record_updated").expect("the move's entry");
    assert_eq!(moved["author"], w.ann);
    assert_eq!(
        moved["changes"],
        json!([{"field": "column", "old": w.cols[0] as f64, "new": w.cols[1] as f64}])
    );
    w.patch(n, json!({"amount": 5000, "title": "plain ACME"}));
    assert_eq!(w.reasons(&w.bob_t, n), Some([rule(0), rule(1)].concat()));
    assert_eq!(w.kinds_about(&w.bob_t, n), ["record_updated"]);
    assert_eq!(b2cols.len(), 1);

    // Change a rule: it applies to records created or changed from now on.
    let (st, v) = s.patch(
        &format!("/v1/follow-rules/{}", rules[0]),
        &w.bob_t,
        &json!({"name": "huge", "criteria": [{"field": "amount", "op": "gte", "value": 10000}]}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["name"], "huge");
    assert_eq!(v["criteria"][0]["value"], 10000.0);
    let h1 = w.item_in(w.board, "h1", w.admin, json!({"amount": 5000}));
    let h2 = w.item_in(w.board, "h2", w.admin, json!({"amount": 20000}));
    assert_eq!(w.reasons(&w.bob_t, h1), None);
    assert_eq!(w.reasons(&w.bob_t, h2), Some(rule(0)));
    assert_eq!(w.reasons(&w.bob_t, a), Some(rule(0)), "no unfollow");
    // Only the owner's rules.
    assert_error(
        s.patch(
            &format!("/v1/follow-rules/{}", rules[0]),
            &w.ann_t,
            &json!({"name": "mine"}),
        ),
        404,
        "not_found",
        "rule",
    );
    assert_error(
        s.delete(&format!("/v1/follow-rules/{}", rules[0]), &w.ann_t),
        404,
        "not_found",
        "rule",
    );

    // Delete a rule: what it followed stays followed, nothing new is.
    let (st, v) = s.delete(&format!("/v1/follow-rules/{}", rules[1]), &w.bob_t);
    assert_eq!(st, 204, "{v}");
    assert_eq!(w.reasons(&w.bob_t, b), Some(rule(1)));
    let b3 = w.item("ACME again", w.admin);
    assert_eq!(w.reasons(&w.bob_t, b3), None);
    assert_eq!(
        s.get("/v1/follow-rules", &w.bob_t).1["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_error(
        s.delete(&format!("/v1/follow-rules/{}", rules[1]), &w.bob_t),
        404,
        "not_found",
        "rule",
    );

    // Rules of another module never match deals.
    w.rule(
        &w.ann_t,
        json!({"name": "leads", "module": "lead",
               "criteria": [{"field": "amount", "op": "gte", "value": 0}]}),
    );
    let i = w.item("deal", w.admin);
    assert_eq!(w.reasons(&w.ann_t, i), None);

    // Validation names the field.
    let bad = |body: Value, field: &str| {
        assert_error(
            s.post("/v1/follow-rules", &w.bob_t, &body),
            400,
            "invalid",
            field,
        )
    };
    bad(
        json!({"name": "x", "module": "deal", "criteria": [{"field": "amount", "op": "like", "value": 1}]}),
        "criteria[0].op",
    );
    bad(
        json!({"name": "x", "module": "deal", "criteria": [{"field": "board", "op": "in", "value": 1}]}),
        "criteria[0].value",
    );
    bad(
        json!({"name": "x", "module": "deal", "criteria": [{"field": "title", "op": "contains", "value": 1}]}),
        "criteria[0].value",
    );
    bad(
        json!({"name": "x", "module": "nope", "criteria": [{"field": "amount", "op": "gt", "value": 1}]}),
        "module",
    );
    bad(
        json!({"name": "x", "module": "deal", "criteria": []}),
        "criteria",
    );
    bad(
        json!({"name": "x", "module": "deal", "criteria": [{"field": "bad key!", "op": "eq", "value": 1}]}),
        "criteria[0].field",
    );
    assert_error(
        s.patch(
            &format!("/v1/follow-rules/{}", rules[2]),
            &w.bob_t,
            &json!({"criteria": [{"field": "amount", "op": "gt", "value": [1]}]}),
        ),
        400,
        "invalid",
        "criteria[0].value",
    );
    assert_eq!(
        s.get("/v1/follow-rules", &w.bob_t).1["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn apply_to_existing_runs_a_job() {
    let w = world();
    let s = &w.s;
    let lead = w.lead_board();
    let mut globex = Vec::new();
    let mut others = Vec::new();
    for i in 0..6 {
        if i % 2 == 0 {
            globex.push(w.item(&format!("Globex {i}"), w.admin));
        } else {
            others.push(w.item(&format!("Initech {i}"), w.admin));
        }
    }
    let lead_item = w.item_in(lead, "Globex lead", w.admin, json!({}));
    // Without apply_to_existing, existing records are left alone.
    let r0 = w.rule(
        &w.bob_t,
        json!({"name": "g", "module": "deal",
               "criteria": [{"field": "title", "op": "contains", "value": "globex"}]}),
    );
    assert!(r0.get("job").is_none());
    assert!(w.follows(&w.bob_t, "").is_empty());

    let r = w.rule(
        &w.ann_t,
        json!({"name": "g", "module": "deal", "apply_to_existing": true,
               "criteria": [{"field": "title", "op": "contains", "value": "GLOBEX"}]}),
    );
    let rid = r["id"].as_u64().unwrap();
    let job = r["job"].as_u64().expect("a job");
    let deadline = Instant::now() + Duration::from_secs(5);
    let j = loop {
        let (st, j) = s.get(&format!("/v1/jobs/{job}"), &w.ann_t);
        assert_eq!(st, 200, "{j}");
        assert_eq!(j["id"], job);
        assert!(j["state"] == "running" || j["state"] == "done", "{j}");
        if j["state"] == "done" {
            break j;
        }
        assert!(Instant::now() < deadline, "job not done in 5 s: {j}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(j["done"], j["total"], "{j}");
    assert_eq!(j["total"], 6, "the deal records: {j}");
    let followed = w.follows(&w.ann_t, "");
    assert_eq!(
        followed,
        globex
            .iter()
            .map(|i| (*i, vec![format!("rule:{rid}")]))
            .collect::<Vec<_>>()
    );
    assert!(!followed.iter().any(|(i, _)| *i == lead_item));
    // It keeps working on new records.
    let later = w.item("globex later", w.admin);
    assert_eq!(
        w.reasons(&w.ann_t, later),
        Some(vec![format!("rule:{rid}")])
    );
    assert_eq!(others.len(), 3);
    assert_error(s.get("/v1/jobs/999", &w.ann_t), 404, "not_found", "job");
}

#[test]
fn preferences_switch_modules_off_and_on() {
    let w = world();
    let s = &w.s;
    assert_eq!(
        s.get("/v1/feed/preferences", &w.ann_t).1,
        json!({"disabled_modules": []})
    );
    let lead = w.lead_board();
    let d = w.item("D", w.ann);
    let l = w.item_in(lead, "L", w.ann, json!({}));
    w.comment(d, &w.ann_t, "on the deal", Value::Null);
    w.comment(l, &w.ann_t, "on the lead", Value::Null);
    let st_id = w.post(&w.bob_t, json!({"text": "status"}))["id"]
        .as_u64()
        .unwrap();
    let before = w.wall(&w.ann_t, "");
    assert_eq!(before.len(), 5);
    let peek_before = w.page(&format!("/v1/items/{d}/feed"), &w.ann_t);
    assert_eq!(peek_before.len(), 2);

    assert_error(
        s.call(
            "PUT",
            "/v1/feed/preferences",
            Some(&w.ann_t),
            Some(("application/json", br#"{"disabled_modules":["deal"]}"#)),
        ),
        403,
        "forbidden",
        "admin",
    );
    assert_error(
        s.call(
            "PUT",
            "/v1/feed/preferences",
            Some(ADMIN),
            Some(("application/json", br#"{"disabled_modules":["nope"]}"#)),
        ),
        400,
        "invalid",
        "disabled_modules[0]",
    );
    let put = |body: &str| {
        let (st, v) = s.call(
            "PUT",
            "/v1/feed/preferences",
            Some(ADMIN),
            Some(("application/json", body.as_bytes())),
        );
        assert_eq!(st, 200, "{v}");
        v
    };
    assert_eq!(
        put(r#"{"disabled_modules":["deal"]}"#),
        json!({"disabled_modules": ["deal"]})
    );
    assert_eq!(
        s.get("/v1/feed/preferences", &w.bob_t).1,
        json!({"disabled_modules": ["deal"]})
    );
    let wall = w.wall(&w.ann_t, "");
    assert!(wall.iter().all(|e| e["module"] != "deal"), "{wall:?}");
    assert_eq!(wall.len(), 3);
    assert!(ids(&wall).contains(&st_id));
    assert!(w.wall(&w.ann_t, "&module=deal").is_empty());
    assert_eq!(
        kinds(&w.wall(&w.ann_t, "&kind=comment")),
        ["comment"],
        "only the lead's"
    );
    assert!(w.page(&format!("/v1/items/{d}/feed"), &w.ann_t).is_empty());
    assert_eq!(w.page(&format!("/v1/items/{l}/feed"), &w.ann_t).len(), 2);
    // New entries of a switched-off module are kept, hidden.
    w.note(d, &w.ann_t, "while off");
    assert_eq!(w.wall(&w.ann_t, "").len(), 3);
    assert!(w.wall(&w.ann_t, "&module=deal&kind=note").is_empty());

    assert_eq!(
        put(r#"{"disabled_modules":[]}"#),
        json!({"disabled_modules": []})
    );
    let after = w.wall(&w.ann_t, "");
    assert_eq!(after.len(), 6);
    assert_eq!(after[0]["kind"], "note");
    assert_eq!(&after[1..], &before[..]);
    assert_eq!(w.wall(&w.ann_t, "&module=deal").len(), 3);
    assert_eq!(w.page(&format!("/v1/items/{d}/feed"), &w.ann_t).len(), 3);
}

#[test]
fn walls_order_paging_and_filters() {
    let w = world();
    let s = &w.s;
    let lead = w.lead_board();
    let d = w.item("D", w.ann);
    let l = w.item_in(lead, "L", w.ann, json!({}));
    for i in 0..10 {
        w.post(&w.bob_t, json!({"text": format!("s{i}")}));
    }
    w.comment(d, &w.ann_t, "dc", Value::Null);
    w.note(l, &w.ann_t, "ln");

    let full = w.wall(&w.ann_t, "");
    assert_eq!(full.len(), 14);
    let full_ids = ids(&full);
    assert!(full_ids.windows(2).all(|p| p[0] > p[1]), "newest first");
    assert!(full
        .windows(2)
        .all(|p| at_key(&p[0]["at"]) >= at_key(&p[1]["at"])));
    assert_eq!(full[0]["kind"], "note");
    assert_eq!(full[0]["text"], "ln");

    // Paging while new entries arrive: nothing skipped, nothing twice.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut new = Vec::new();
    let mut round = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/feed?limit=4&cursor={c}"),
            None => "/v1/feed?limit=4".to_string(),
        };
        let (st, v) = s.get(&path, &w.ann_t);
        assert_eq!(st, 200, "{v}");
        let items = v["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        seen.extend(ids(items));
        // Entries arrive above the cursor: a status, a comment on a followed record.
        new.push(
            w.post(&w.bob_t, json!({"text": format!("new {round}")}))["id"]
                .as_u64()
                .unwrap(),
        );
        new.push(w.comment(d, ADMIN, &format!("new {round}"), Value::Null));
        round += 1;
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, full_ids);
    assert_eq!(round, 4);
    let now = ids(&w.wall(&w.ann_t, ""));
    new.reverse();
    assert_eq!(now, [new, full_ids.clone()].concat());
    let uniq: HashSet<u64> = now.iter().copied().collect();
    assert_eq!(uniq.len(), now.len());

    // Filters.
    let by_module = w.wall(&w.ann_t, "&module=deal&module=lead");
    assert!(by_module
        .iter()
        .all(|e| e["module"] == "deal" || e["module"] == "lead"));
    assert!(by_module.iter().any(|e| e["module"] == "lead"));
    assert_eq!(
        by_module.iter().filter(|e| e["module"] == "deal").count(),
        6
    );
    assert_eq!(
        kinds(&w.wall(&w.ann_t, "&module=lead")),
        ["note", "record_created"]
    );
    let ck = w.wall(&w.ann_t, "&kind=comment&kind=note");
    assert_eq!(ck.len(), 6);
    assert!(ck.iter().any(|e| e["kind"] == "note"));
    assert!(ck
        .iter()
        .all(|e| e["kind"] == "comment" || e["kind"] == "note"));
    assert_eq!(w.wall(&w.ann_t, "&kind=status").len(), 14);
    assert_eq!(
        kinds(&w.wall(&w.ann_t, "&module=lead&kind=comment&kind=record_created")),
        ["record_created"]
    );
    assert!(w.wall(&w.ann_t, "&kind=file").is_empty());

    // A time period: since is inclusive, until exclusive. Times are in milliseconds, so each
    // boundary waits until the clock (shared with the server) has passed the moment the last
    // write was answered, and so the time that write was stamped with.
    let tick = || {
        let answered = now_ms();
        while now_ms() <= answered {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    tick();
    let b1 = w.post(&w.bob_t, json!({"text": "b1"}));
    let b2 = w.note(d, &w.ann_t, "b2");
    tick();
    let c1 = w.post(&w.bob_t, json!({"text": "c1"}));
    let since = b1["at"].as_str().unwrap();
    let until = c1["at"].as_str().unwrap();
    let b1 = b1["id"].as_u64().unwrap();
    let c1 = c1["id"].as_u64().unwrap();
    assert_eq!(
        ids(&w.wall(&w.ann_t, &format!("&since={since}&until={until}"))),
        [b2, b1]
    );
    assert_eq!(
        ids(&w.wall(&w.ann_t, &format!("&since={since}"))),
        [c1, b2, b1]
    );
    let old = w.wall(&w.ann_t, &format!("&until={since}"));
    assert_eq!(old.len(), now.len());
    assert_eq!(
        ids(&w.wall(&w.ann_t, &format!("&since={since}&until={until}&kind=note"))),
        [b2]
    );

    // Bad parameters.
    for (q, field) in [
        ("kind=bogus", "kind"),
        ("kind=comment&kind=nope", "kind[1]"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=zzz", "cursor"),
        ("colour=red", "colour"),
    ] {
        assert_error(
            s.get(&format!("/v1/feed?{q}"), &w.ann_t),
            400,
            "invalid",
            field,
        );
    }
    assert_error(
        s.call("GET", "/v1/feed", None, None),
        401,
        "unauthorized",
        "Bearer",
    );
}

#[test]
fn record_peek_lists_the_latest_entries() {
    let w = world();
    let s = &w.s;
    let x = w.item_in(w.board, "X", w.ann, json!({"amount": 1}));
    let other = w.item("other", w.ann);
    let c = w.comment(x, &w.bob_t, "hi", json!({"users": [w.admin]}));
    w.comment(other, &w.ann_t, "elsewhere", Value::Null);
    let n = w.note(x, &w.ann_t, "n");
    w.patch(x, json!({"amount": 2}));
    let (st, v) = s.post(
        &format!("/v1/items/{x}/activities"),
        &w.ann_t,
        &json!({"kind": "task", "subject": "Send offer", "deadline": "2099-01-01T00:00:00Z"}),
    );
    assert_eq!(st, 201, "{v}");
    // Anyone may peek (Bob follows nothing), newest first.
    let peek = w.page(&format!("/v1/items/{x}/feed"), &w.bob_t);
    assert_eq!(
        kinds(&peek),
        [
            "activity",
            "record_updated",
            "note",
            "comment",
            "record_created"
        ]
    );
    assert!(peek.iter().all(|e| e["item"] == x && e["module"] == "deal"));
    let p = ids(&peek);
    assert!(p.windows(2).all(|w| w[0] > w[1]));
    assert_eq!(p[2], n);
    assert_eq!(p[3], c);
    assert_eq!(peek[3]["text"], "hi");
    assert_eq!(peek[3]["author"], w.bob);
    assert_eq!(peek[3]["mentions"]["users"], json!([w.admin]));
    assert_eq!(
        peek[1]["changes"],
        json!([{"field": "amount", "old": 1.0, "new": 2.0}])
    );
    assert_eq!(peek[0]["text"], "Send offer");
    // The same ids as on the owner's wall.
    let ann_x: Vec<u64> = w
        .wall(&w.ann_t, "")
        .iter()
        .filter(|e| e["item"] == x)
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ann_x, p);
    // Pages of the latest.
    let (st, v) = s.get(&format!("/v1/items/{x}/feed?limit=2"), &w.bob_t);
    assert_eq!(st, 200, "{v}");
    assert_eq!(ids(v["items"].as_array().unwrap()), p[..2]);
    let cur = v["next_cursor"].as_str().unwrap();
    let (st, v) = s.get(
        &format!("/v1/items/{x}/feed?limit=2&cursor={cur}"),
        &w.bob_t,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(ids(v["items"].as_array().unwrap()), p[2..4]);
    assert_error(
        s.get("/v1/items/999/feed", &w.bob_t),
        404,
        "not_found",
        "item",
    );
}

#[test]
fn follows_walls_and_preferences_survive_a_restart_from_the_checkpoint_or_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let w = world_on(TestServer::spawn_at(&data));
    let lead = w.lead_board();
    let r = w.rule(
        &w.bob_t,
        json!({"name": "acme", "module": "deal",
               "criteria": [{"field": "title", "op": "contains", "value": "acme"}]}),
    )["id"]
        .as_u64()
        .unwrap();
    let x = w.item("X", w.ann);
    w.follow(x, &w.ann_t);
    w.unfollow(x, &w.ann_t);
    w.follow(x, &w.bob_t);
    let y = w.item("Acme", w.admin);
    w.comment(x, ADMIN, "on x", json!({"groups": [w.mkt]}));
    w.comment(y, ADMIN, "on y", json!({"roles": ["legal"]}));
    w.item_in(lead, "L", w.ann, json!({}));
    w.dm(&w.ann_t, json!({"text": "psst", "to_users": [w.bob]}));
    w.post(&w.ann_t, json!({"text": "mkt", "group": w.mkt}));
    w.post(&w.bob_t, json!({"text": "all"}));
    let (st, f) = w.s.call(
        "POST",
        &format!("/v1/groups/{}/files?name=a.txt", w.mkt),
        Some(&w.ann_t),
        Some(("text/plain", b"kept")),
    );
    assert_eq!(st, 201, "{f}");
    let (st, v) = w.s.call(
        "PUT",
        "/v1/feed/preferences",
        Some(ADMIN),
        Some(("application/json", br#"{"disabled_modules":["lead"]}"#)),
    );
    assert_eq!(st, 200, "{v}");
    let snapshot = |w: &World| {
        let tokens = [w.ann_t.as_str(), w.bob_t.as_str(), ADMIN];
        let mut out = Vec::new();
        for t in tokens {
            out.push(Value::Array(w.wall(t, "")));
            out.push(Value::Array(w.page("/v1/follows", t)));
            out.push(Value::Array(w.page("/v1/messages", t)));
            out.push(w.s.get("/v1/follow-rules", t).1);
        }
        out.push(Value::Array(
            w.page(&format!("/v1/groups/{}/feed", w.mkt), &w.ann_t),
        ));
        out.push(w.s.get("/v1/feed/preferences", ADMIN).1);
        out
    };
    let before = snapshot(&w);
    assert_eq!(w.reasons(&w.ann_t, x), None);
    assert_eq!(w.reasons(&w.bob_t, x), Some(strs(&["manual"])));

    let opened_from = |w: &World| -> u64 {
        let metrics = String::from_utf8(w.s.get_raw("/metrics", ADMIN).2).unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("hoist_opened_from_checkpoint "))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    // The first restart resumes from the checkpoint the stop wrote; the second rebuilds
    // from the records alone: both read the same.
    let w = w.restart(&data, false);
    assert!(opened_from(&w) > 0);
    assert_eq!(snapshot(&w), before);
    let w = w.restart(&data, true);
    assert_eq!(opened_from(&w), 0);
    assert_eq!(snapshot(&w), before);
    assert_eq!(
        w.s.get_raw(&format!("/v1/groups/{}/files/{}", w.mkt, f["id"]), &w.ann_t)
            .2,
        b"kept"
    );
    // Unfollow still sticks for the owner; Follow, rules and ownership still work.
    let c = w.comment(x, &w.bob_t, "after", Value::Null);
    assert!(!w.sees(&w.ann_t, c));
    assert!(w.sees(&w.bob_t, c));
    w.patch(x, json!({"responsible": w.bob}));
    w.patch(x, json!({"responsible": w.ann}));
    assert_eq!(w.reasons(&w.ann_t, x), None);
    let z = w.item("acme 2", w.admin);
    assert_eq!(w.reasons(&w.bob_t, z), Some(vec![format!("rule:{r}")]));
    w.follow(x, &w.ann_t);
    assert_eq!(w.reasons(&w.ann_t, x), Some(strs(&["owner", "manual"])));
}

#[test]
fn following_a_board_over_http_brings_its_records_entries_and_reason_board() {
    let w = world();
    let x = w.item("X", w.admin);
    let (st, v) = w.s.call(
        "PUT",
        &format!("/v1/boards/{}/follow", w.board),
        Some(&w.ann_t),
        None,
    );
    assert_eq!(st, 204, "{v}");
    let y = w.item("Y", w.admin);
    w.unfollow(x, &w.ann_t);
    let on_x = w.comment(x, ADMIN, "on x", Value::Null);
    let on_y = w.comment(y, ADMIN, "on y", Value::Null);
    assert!(!w.sees(&w.ann_t, on_x), "a record unfollow sticks");
    assert!(w.sees(&w.ann_t, on_y), "a record created after the follow");
    assert_eq!(w.reasons(&w.ann_t, y), Some(strs(&["board"])));
    assert_eq!(w.reasons(&w.ann_t, x), None);
    let (st, v) =
        w.s.delete(&format!("/v1/boards/{}/follow", w.board), &w.ann_t);
    assert_eq!(st, 204, "{v}");
    assert_eq!(w.reasons(&w.ann_t, y), None);
    let later = w.comment(y, ADMIN, "later", Value::Null);
    assert!(!w.sees(&w.ann_t, later));
    let (st, v) =
        w.s.call("PUT", "/v1/boards/999/follow", Some(&w.ann_t), None);
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
}
