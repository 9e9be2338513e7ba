"""Seeing jobs over HTTP: a JSON API, server-sent events and a live status page.

Everything here reads what Redis already holds for a job (its hash, task stream, consumer
group, counts and dead letters) with bounded commands, so watching a job never slows it;
the only writes are ``POST /jobs`` (the driver's bootstrap) and ``DELETE /jobs/{id}``.
FastAPI and uvicorn are imported only by :mod:`engine.web.app` and :mod:`engine.web.server`,
so the rest of the engine does not need them.
"""
