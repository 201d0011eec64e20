"""The ``madoguchi`` command, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from madoguchi.config import Settings
from madoguchi.kit.db import Database
from tests.fixtures import auth

MADOGUCHI = str(Path(sys.executable).parent / "madoguchi")


def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["MADOGUCHI_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [MADOGUCHI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_the_commands(settings: Settings) -> None:
    result = run(settings, "--help")
    assert result.returncode == 0
    for command in ("serve", "migrate", "demo", "member", "token", "channel"):
        assert command in result.stdout


async def test_member_token_and_channel_work_through_the_api(
    settings: Settings, database: Database, client: httpx.AsyncClient
) -> None:
    assert run(settings, "migrate").returncode == 0
    created = run(
        settings, "member", "create", "aya@example.com", "--name", "彩", "--role", "owner"
    )
    assert created.returncode == 0, created.stderr
    assert "Password: " in created.stdout  # generated, shown once

    token = run(settings, "token", "create", "aya@example.com").stdout.strip()
    assert token.startswith("mdg_")
    channel = run(settings, "channel", "create", "api", "--name", "予約システム")
    assert channel.returncode == 0, channel.stderr
    channel_id = int(channel.stdout.strip())

    me = await client.get("/api/v1/me", headers=auth(token))
    assert me.json()["name"] == "彩" and me.json()["role"] == "owner"
    posted = await client.post(
        f"/api/v1/channels/{channel_id}/inbound",
        json={"contact": {"external_id": "x"}, "text": "テスト"},
        headers=auth(token),
    )
    assert posted.status_code == 201


def test_channel_create_takes_settings_and_keeps_secrets_out_of_the_api(
    settings: Settings, database: Database
) -> None:
    result = run(
        settings,
        "channel",
        "create",
        "line",
        "--name",
        "公式LINE",
        "--set",
        "channel_secret=s3cret",
        "--set",
        "access_token=tok",
        "--set",
        "api_base=http://127.0.0.1:9",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit()


@pytest.mark.parametrize(
    ("args", "code", "sentence"),
    [
        (("member", "create", "bad", "--name", "x"), 1, "is not an e-mail address"),
        (
            ("member", "create", "a@example.com", "--name", "x", "--role", "boss"),
            1,
            "owner, admin or agent",
        ),
        (
            ("member", "create", "a@example.com", "--name", "x", "--password", "short"),
            1,
            "at least 8",
        ),
        (("token", "create", "ghost@example.com"), 1, "No member with the e-mail"),
        (("channel", "create", "fax", "--name", "x"), 1, "Unknown channel kind fax"),
        (("channel", "create", "line", "--name", "x", "--set", "colour=red"), 1, "Unknown setting"),
        (("channel", "create", "api", "--name", "x", "--set", "novalue"), 2, "KEY=VALUE"),
    ],
)
def test_bad_input_exits_with_a_sentence(
    settings: Settings, database: Database, args: tuple[str, ...], code: int, sentence: str
) -> None:
    result = run(settings, *args)
    assert result.returncode == code
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_member_is_refused(settings: Settings, database: Database) -> None:
    assert run(settings, "member", "create", "b@example.com", "--name", "B").returncode == 0
    again = run(settings, "member", "create", "b@example.com", "--name", "B")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_a_port_out_of_range_is_refused_before_serving(settings: Settings) -> None:
    flag = run(settings, "serve", "--port", "99999")
    assert flag.returncode == 2 and "65535" in flag.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(MADOGUCHI_DATA_DIR=str(settings.data_dir), MADOGUCHI_PORT="99999")
    variable = subprocess.run(
        [MADOGUCHI, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert variable.returncode == 2
    assert "MADOGUCHI_PORT=99999" in variable.stderr and "Traceback" not in variable.stderr


def test_the_public_address_follows_the_served_one_unless_given() -> None:
    from madoguchi.config import Settings

    assert Settings(port=9000).base_url == "http://127.0.0.1:9000"
    assert Settings(host="0.0.0.0", port=8080).base_url == "http://127.0.0.1:8080"
    assert Settings(port=9000, base_url="https://salon.example.jp").base_url == (
        "https://salon.example.jp"
    )


async def test_tokens_are_named_listed_and_revoked_on_the_command_line(
    settings: Settings, database: Database, client: httpx.AsyncClient
) -> None:
    assert run(settings, "migrate").returncode == 0
    for email, name in (("aya@example.com", "彩"), ("ken@example.com", "健")):
        made = run(settings, "member", "create", email, "--name", name, "--role", "admin")
        assert made.returncode == 0, made.stderr
    token = run(settings, "token", "create", "aya@example.com", "--name", "予約システム")
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip()
    run(settings, "token", "create", "ken@example.com", "--name", "在庫")
    assert (await client.get("/api/v1/me", headers=auth(secret))).status_code == 200

    everyone = run(settings, "token", "list")
    assert everyone.returncode == 0, everyone.stderr
    assert "予約システム" in everyone.stdout and "在庫" in everyone.stdout
    assert secret not in everyone.stdout
    own = run(settings, "token", "list", "aya@example.com")
    lines = own.stdout.strip().splitlines()
    assert len(lines) == 2 and "aya@example.com" in lines[1] and "在庫" not in own.stdout
    assert "never" not in lines[1]  # used once above
    token_id = lines[1].split("\t")[0]

    revoked = run(settings, "token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout
    assert (await client.get("/api/v1/me", headers=auth(secret))).status_code == 401

    missing = run(settings, "token", "revoke", token_id)
    assert missing.returncode == 1
    assert f"No API token with id {token_id}." in missing.stderr
    unknown = run(settings, "token", "list", "nobody@example.com")
    assert unknown.returncode == 1 and "No member with the e-mail" in unknown.stderr


async def test_a_forgotten_owner_password_is_reset_on_the_command_line(
    settings: Settings, database: Database, client: httpx.AsyncClient
) -> None:
    assert run(settings, "migrate").returncode == 0
    run(settings, "member", "create", "owner@example.com", "--name", "店長", "--role", "owner")
    reset = run(settings, "member", "reset-password", "owner@example.com")
    assert reset.returncode == 0, reset.stderr
    password = reset.stdout.split("One-time password: ")[1].split()[0]
    signed_in = await client.post(
        "/api/v1/auth/login", json={"email": "owner@example.com", "password": password}
    )
    assert signed_in.status_code == 200 and signed_in.json()["password_must_change"] is True
    assert (await client.get("/api/v1/conversations")).status_code == 403
