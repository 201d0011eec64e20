"""Every channel kind is described once, and the description is complete."""

from __future__ import annotations

from pathlib import Path

import madoguchi
from madoguchi.channels.kinds import KINDS
from madoguchi.channels.models import ChannelKind
from madoguchi.connectors.adapters import ROUTERS
from madoguchi.jobs import default_adapters

TEMPLATES = Path(madoguchi.__file__).resolve().parent / "templates"


def test_every_kind_has_one_description_with_its_setup_steps() -> None:
    assert set(KINDS) == set(ChannelKind)
    for kind, spec in KINDS.items():
        assert spec.kind == kind
        assert (TEMPLATES / spec.setup_template).is_file(), kind
        assert set(spec.required) <= set(spec.setting_keys), kind
        assert spec.secrets <= set(spec.setting_keys), kind


def test_the_worker_delivers_through_an_adapter_exactly_the_kinds_whose_replies_wait() -> None:
    waiting = {kind for kind, spec in KINDS.items() if spec.reply_delivery == "pending"}
    assert set(default_adapters()) == waiting == {"line", "instagram", "email"}


def test_the_app_mounts_routes_exactly_for_the_kinds_whose_servers_or_pages_call_us() -> None:
    calling = {kind for kind, spec in KINDS.items() if spec.webhook_path or spec.widget_path}
    assert set(ROUTERS) == calling == {"line", "instagram", "web"}
