"""Data for the contract test: users, a group, a board with items, activities, comments,
a message, a follow rule, a file and a followed record, so schemathesis reaches the
server's logic with ids that exist. Standard library only."""

import json
import sys
import urllib.request

BASE, TOKEN = sys.argv[1], sys.argv[2]


def call(method, path, body=None, content_type="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=30) as res:
        text = res.read().decode()
        return json.loads(text) if text else None


# User 2 is the one the run deactivates and rotates (schemathesis.toml pins it).
ann = call("POST", "/v1/users", {"name": "Ann", "roles": ["sales"]})
bob = call("POST", "/v1/users", {"name": "Bob", "email": "bob@example.com", "roles": ["sales"]})
call("POST", "/v1/groups", {"name": "Team", "members": [1, ann["id"], bob["id"]]})
board = call("POST", "/v1/boards", {
    "module": "deal", "name": "Sales",
    "columns": [{"name": "New"}, {"name": "Offer"}, {"name": "Won"}],
})
items = []
for i in range(30):
    it = call("POST", "/v1/items", {
        "board": board["id"], "title": f"Deal {i}", "amount": 1000 + i,
        "contacts": {"phones": [f"+1555010{i:04d}"], "emails": [f"c{i}@example.com"]},
    })
    items.append(it["id"])
for i in items[:10]:
    call("POST", f"/v1/items/{i}/comments", {"text": "call back tomorrow"})
    call("POST", f"/v1/items/{i}/activities", {
        "kind": "call", "subject": "follow up", "deadline": "2030-01-01T10:00:00Z",
    })
call("POST", "/v1/items/batch", [{"board": board["id"], "title": f"Batch {i}"} for i in range(5)])
call("POST", "/v1/events", {"id": "seed-1", "kind": "call_in", "contact": {"phone": "+15550100001"}})
call("POST", "/v1/feed/posts", {"text": "hello team"})
call("POST", "/v1/messages", {"text": "hi", "to_users": [bob["id"]]})
call("PUT", f"/v1/items/{items[0]}/follow")
call("POST", "/v1/follow-rules", {
    "name": "big deals", "module": "deal",
    "criteria": [{"field": "amount", "op": "gt", "value": 1010}],
})
call("POST", "/v1/groups/1/files?name=notes.txt", b"some notes", "text/plain")
print(f"seeded: board {board['id']}, items {items[0]}..{items[-1]}")
