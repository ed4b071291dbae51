-- wrk script: the top-50 page of a random column of board 1 (columns 1..10 on a fresh
-- store), with the admin token in env TOKEN.
local token = os.getenv("TOKEN")
math.randomseed(os.time())
wrk.headers["Authorization"] = "Bearer " .. token
request = function()
  return wrk.format("GET", "/v1/boards/1/columns/" .. math.random(1, 10) .. "/items?limit=50")
end
