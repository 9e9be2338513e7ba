"""Memory: a worker's peak RSS on one huge file and on a file without line breaks, and
Redis' memory against input size and distinct words.

The worker reads a task in blocks that end at a word boundary (engine/inputs.py), so its
memory should depend on the block size and the vocabulary, not on the file; a file with
no line break at all is the case where a line-based reader would hold everything. Redis
keeps one sorted-set member per distinct word, so its memory should follow the number of
distinct words, not the bytes counted: the Gutenberg books repeated add no new words, the
generated corpus adds new rare words as it grows.
"""

from __future__ import annotations

from benchmarks.context import Context, Result
from benchmarks.corpus import big_file, gutenberg_base, gutenberg_books, scratch, zipf_base
from benchmarks.exp_scaling import main_corpus
from benchmarks.nodes import job_args, node_env, redis_node, used_memory
from benchmarks.report import Plot, Series, Table
from benchmarks.runs import chunk_args, run_engine
from benchmarks.scale import human
from engine.keys import JobKeys

RSS_LIMIT_MB = 300


def worker_memory(ctx: Context) -> Result:
    """A worker's peak RSS on one huge file and on a file with no line break."""
    s = ctx.scale
    table = Table("memory", ["input", "mb", "chunking", "seconds", "worker_peak_rss_mb"])
    chunk = chunk_args(s.chunk_size)
    tiny = [] if s.name == "small" else [("tiny file", 1000, True)]  # a worker's base size
    cases = (*tiny, ("single file", s.memory_single_bytes, True),
             ("no newline", s.memory_noline_bytes, False))
    with scratch("memory") as where:
        for label, size, newlines in cases:
            path = big_file(main_corpus(ctx), where / f"{size}.txt", size, newlines=newlines)
            out = run_engine([path], 2, extra=chunk, timeout_s=s.timeout_s)
            path.unlink()
            table.add(input=label, mb=size / 1e6, chunking=chunk[1] if chunk else "off",
                      seconds=out.seconds, worker_peak_rss_mb=out.worker_rss_mb)
    table.notes.append(f"peak RSS of the largest worker process, polled every 50 ms; "
                       f"target < {RSS_LIMIT_MB} MB" + ("; the tiny file: a worker's base size"
                                                      if tiny else ""))
    return Result(table, Plot(
        "Worker peak memory", "", "peak RSS (MB)",
        [Series("largest worker", [], [float(v) for v in table.column("worker_peak_rss_mb")])],  # type: ignore[arg-type]
        categories=[f"{r['input']} {human(float(r['mb']) * 1e6)}" for r in table.rows],  # type: ignore[arg-type]
        hline=RSS_LIMIT_MB, hline_label="target"))


def redis_memory(ctx: Context) -> Result:
    """Redis used_memory against input size, for a fixed and a growing vocabulary."""
    s = ctx.scale
    table = Table("redis_memory", ["corpus", "books", "input_mb", "distinct_words",
                                   "used_memory_mb", "bytes_per_word"])
    fractions = (s.input_fractions[0], s.input_fractions[-1])
    books_bytes = int(s.total_bytes * fractions[0] / 2)
    books = gutenberg_books(books_bytes)
    for corpus, files in (("gutenberg", gutenberg_base(s.total_bytes, s.n_files, books_bytes)),
                          ("zipf", zipf_base(s.total_bytes, s.n_files))):
        for fraction in fractions:
            part = files[: max(1, round(fraction * len(files)))]
            with redis_node() as node:
                before = used_memory(node)
                job, args = job_args()
                run_engine(part, 2, extra=args, env=node_env(node), timeout_s=s.timeout_s)
                grown = used_memory(node) - before
                client = node.client(socket_timeout=10)
                words = int(client.zcard(JobKeys(job).counts))
                client.close()
            table.add(corpus=corpus, books=len(books) if corpus == "gutenberg" else None,
                      input_mb=sum(p.stat().st_size for p in part) / 1e6,
                      distinct_words=words, used_memory_mb=grown / 1e6,
                      bytes_per_word=grown / max(1, words))
    table.notes.append("used_memory after the job minus before it (INFO memory); the "
                       f"Gutenberg rows repeat the {len(books)} smallest books that fit in "
                       f"half the smaller input, so both inputs hold the same words")
    return Result(table, Plot(
        "Redis memory against input size", "input (MB)", "used_memory growth (MB)",
        [Series(c, [float(v) for v in table.column("input_mb", corpus=c)],  # type: ignore[arg-type]
                [float(v) for v in table.column("used_memory_mb", corpus=c)])  # type: ignore[arg-type]
         for c in ("gutenberg", "zipf")], logx=True))
