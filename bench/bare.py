"""The reference for the request floor (bench/floor.py): a bare FastAPI app with one JSON route,
served by uvicorn with the options ``madoguchi serve`` gives it.

    .venv/bin/python -m bench.bare PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
