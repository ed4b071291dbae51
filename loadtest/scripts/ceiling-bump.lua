-- wrk script: hoist-ceiling's small POST on a random id.
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"hello"}'
request = function()
  return wrk.format(nil, "/b/" .. math.random(1, 1000000))
end
