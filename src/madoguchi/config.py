"""Settings from `MADOGUCHI_*` environment variables (and `DATABASE_URL`, `REDIS_URL`) or `.env`."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(spec: str) -> tuple[Network, ...]:
    """The networks in a comma-separated list of addresses and CIDRs (ValueError names a bad
    one)."""
    found = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(found)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MADOGUCHI_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "MADOGUCHI_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "MADOGUCHI_REDIS_URL")
    )
    # Prefix for Redis pub/sub channels, so several installs (or test runs) can share one Redis.
    redis_prefix: str = "madoguchi"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Public base URL, used in links shown to members (webhook URLs, member links). Unset, it is
    # the address served on (http://HOST:PORT).
    base_url: str = ""
    smtp_listen: str | None = None
    default_language: str = "ja"
    timezone: str = "Asia/Tokyo"
    session_days: int = 30
    # Cookie flag: set true when served over HTTPS.
    secure_cookies: bool = False
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    # Anonymous answers to a public form (each makes a new contact) from one address: at most
    # this many in this many minutes (forms.service); answers through a contact's link are not
    # counted.
    form_answers_per_address: int = Field(default=10, ge=1)
    form_answers_window_minutes: int = Field(default=10, ge=1)
    log_level: str = "info"
    # The worker loop (scheduled messages, snooze wake-ups) runs inside `serve`.
    worker: bool = True
    worker_interval: float = 2.0
    # Request bodies, in bytes, counted as they arrive: a larger one is answered 413 before the
    # rest is read (kit/limits.py). The JSON API, the staff UI's forms and the web chat:
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # LINE and Instagram webhooks (/webhooks/...), checked before their signature is.
    max_webhook_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: comma-separated
    # addresses or networks ("127.0.0.1, 10.0.0.0/8"). Empty: none, the peer is the client.
    trusted_proxies: str = ""
    # Web Push: a browser's push service is reached over HTTPS only. True lets an endpoint on
    # http://127.0.0.1 through as well (the tests' recording push service; never in production).
    push_allow_loopback_http: bool = False

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        networks(value)  # a mistyped address stops the start, rather than trusting nobody
        return value

    @model_validator(mode="before")
    @classmethod
    def _base_url_from_address(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("base_url"):
            host = str(data.get("host") or "127.0.0.1")
            shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            if ":" in shown:  # an IPv6 address goes in brackets in a URL
                shown = f"[{shown}]"
            data = {**data, "base_url": f"http://{shown}:{data.get('port') or 8000}"}
        return data

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The async driver URL for SQLAlchemy."""
        url = self.database_url
        if not url:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'madoguchi.db').resolve()}"
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"


def get_settings(**overrides: Any) -> Settings:
    """The settings, with ``overrides`` (a command's options) before the environment."""
    return Settings(**overrides)
