-- wrk script: a durable focus per request. A comment by a user who is not the item's
-- responsible on a random item among 1..ITEMS (env ITEMS), with the token in env TOKEN.
local items = tonumber(os.getenv("ITEMS") or "100000")
local token = os.getenv("TOKEN")
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.body = '{"text":"hello"}'
request = function()
  return wrk.format(nil, "/v1/items/" .. math.random(1, items) .. "/comments")
end
