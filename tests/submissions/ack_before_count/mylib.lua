#!lua name=mylib

-- Add the counts of a file (the worker acknowledged it when it read it).
redis.register_function('wc_commit', function(keys, args)
  for i = 3, #args, 2 do
    redis.call('ZINCRBY', keys[2], args[i + 1], args[i])
  end
  return 1
end)
