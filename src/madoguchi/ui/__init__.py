"""The staff web UI (server-rendered pages and htmx fragments)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
