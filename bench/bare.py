"""The reference for the request floor (bench/floor.py) and for ingest (bench/ingest.py): a bare
FastAPI app with a JSON route and a JSON POST route, served by uvicorn with the options
``madoguchi serve`` gives it.

    .venv/bin/python -m bench.bare PORT
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/inbound", status_code=201)
async def inbound(body: dict[str, Any]) -> dict[str, Any]:
    """What an ingest request is, without the work: a JSON body read, answered 201 with JSON."""
    return body


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
