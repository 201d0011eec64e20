"""The reference for the request floor (bench/floor.py) and for ingest (bench/ingest.py): a bare
FastAPI app with a JSON route and a JSON POST route, served by uvicorn with the options
``madoguchi serve`` gives it; and LINE's profile API for the ingest benchmark's LINE channel.

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


@app.get("/v2/bot/profile/{user_id}")
async def line_profile(user_id: str) -> dict[str, str]:
    """LINE's profile of a new sender, as LINE answers it (bench/ingest.py's LINE channel asks
    here): the product asks it for every new friend who writes."""
    return {"userId": user_id, "displayName": f"ベンチ {user_id[-4:]}"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
