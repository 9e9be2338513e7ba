#!lua name=mylib

-- Acknowledge a file and add its counts in one step: if the file was already
-- acknowledged (another worker stole it and committed), change nothing.
redis.register_function('wc_commit', function(keys, args)
  local acked = redis.call('XACK', keys[1], args[1], args[2])
  if acked == 1 then
    for i = 3, #args, 2 do
      redis.call('ZINCRBY', keys[2], args[i + 1], args[i])
    end
  end
  return acked
end)
