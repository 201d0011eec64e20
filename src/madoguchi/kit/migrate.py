"""Bring the schema up to date (``madoguchi migrate``, and ``serve`` on start)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from madoguchi.config import Settings


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", "madoguchi:migrations")
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), "head")
