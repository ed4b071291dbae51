-- wrk script: hoist-ceiling's page of a random column.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/p/" .. math.random(1, 10))
end
