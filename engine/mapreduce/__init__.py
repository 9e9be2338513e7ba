"""The MapReduce mode: N map tasks write M partition files each to shared storage, then M
reduce tasks merge them and set each word's final count once, on the same Redis machinery
(streams, consumer groups, atomic function commits) as the stream mode. See
docs/mapreduce.md."""
