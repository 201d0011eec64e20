"""Member rules, through the service functions the API, the UI and the command line call."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import argon2
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from madoguchi.audit.models import AuditEntry
from madoguchi.config import Settings
from madoguchi.events.types import MemberCreated, MemberUpdated
from madoguchi.kit import security
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Conflict, Forbidden, Invalid, TooManyAttempts, Unauthorized
from madoguchi.members import service
from madoguchi.members.models import ApiToken, LoginThrottle, Member
from tests.conftest import PRODUCT_HASHER, RecordingBus
from tests.fixtures import PASSWORD, Factory

ADDRESS = "203.0.113.7"


def _bus(ctx: Ctx) -> RecordingBus:
    assert isinstance(ctx.bus, RecordingBus)
    return ctx.bus


async def _stored(database: Database, member_id: int) -> Member:
    """The member as another session reads it: what was committed, not what is in memory."""
    async with database.read_sessions() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        return member


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(ctx: Ctx) -> _Clock:
    """A clock the test moves, and a lower failure limit: each failure costs an argon2 check."""
    clock = _Clock()
    ctx.clock = clock
    ctx.settings = ctx.settings.model_copy(update={"login_max_failures": 3})
    return clock


# --- creating members ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "agent"])
async def test_member_of_each_role_is_stored_with_an_argon2_hash_and_announced(
    ctx: Ctx, database: Database, role: str
) -> None:
    member = await service.create_member(
        ctx, email="  Hanako.Sato@Example.COM ", name=" 佐藤 花子 ", role=role, password=PASSWORD
    )
    stored = await _stored(database, member.id)
    assert (stored.email, stored.name, stored.role) == (
        "hanako.sato@example.com",
        "佐藤 花子",
        role,
    )
    assert stored.language == ctx.settings.default_language
    assert (stored.send_shortcut, stored.notify_assigned, stored.notify_mentions) == (
        "enter",
        True,
        True,
    )
    assert stored.active is True
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert PasswordHasher().verify(stored.password_hash, PASSWORD)
    assert _bus(ctx).published == [MemberCreated(new_member_id=member.id)]
    [entry] = list(await ctx.db.scalars(select(AuditEntry)))
    assert (entry.action, entry.subject, entry.member_id) == (
        "member.created",
        f"member {member.id}",
        None,
    )
    assert entry.detail == {"email": "hanako.sato@example.com", "name": "佐藤 花子", "role": role}


async def test_the_product_hashes_passwords_at_rfc_9106_s_strength(
    ctx: Ctx, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite hashes at argon2's cheapest (conftest); the product at RFC 9106's second
    recommendation, and an unknown e-mail's login is checked against a hash of that strength."""
    monkeypatch.setattr(security, "_hasher", PRODUCT_HASHER)
    member = await service.create_member(
        ctx, email="strong@example.com", name="強", role="agent", password=PASSWORD
    )
    stored = await _stored(database, member.id)
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert argon2.extract_parameters(stored.password_hash) == security.PASSWORD_PARAMETERS
    assert security.PASSWORD_PARAMETERS == argon2.profiles.RFC_9106_LOW_MEMORY
    dummy = security._dummy_hash(PRODUCT_HASHER)
    assert argon2.extract_parameters(dummy) == security.PASSWORD_PARAMETERS
    await service.authenticate(ctx, email="strong@example.com", password=PASSWORD, address=ADDRESS)
    with pytest.raises(Unauthorized):
        await service.authenticate(
            ctx, email="nobody@example.com", password=PASSWORD, address=ADDRESS
        )


async def test_same_password_gives_different_hashes(ctx: Ctx, factory: Factory) -> None:
    first, second = await factory.member(), await factory.member()
    assert first.password_hash and second.password_hash
    assert first.password_hash != second.password_hash


async def test_duplicate_email_in_any_case_is_a_conflict(ctx: Ctx) -> None:
    await service.create_member(
        ctx, email="mika@example.com", name="美香", role="agent", password=PASSWORD
    )
    _bus(ctx).published.clear()
    with pytest.raises(Conflict) as error:
        await service.create_member(
            ctx, email=" MIKA@example.com", name="別人", role="admin", password=PASSWORD
        )
    assert str(error.value) == "A member with the e-mail mika@example.com already exists."
    assert [m.name for m in await service.list_members(ctx.db)] == ["美香"]
    assert _bus(ctx).published == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "not-an-email"}, "not-an-email is not an e-mail address."),
        ({"email": "two@@example.com"}, "two@@example.com is not an e-mail address."),
        ({"email": "a" * 310 + "@example.com"}, None),
        ({"name": "   "}, "A member's name must be 1 to 100 characters."),
        ({"name": "長" * 101}, "A member's name must be 1 to 100 characters."),
        ({"role": "boss"}, "The role must be owner, admin or agent."),
        ({"role": "Owner"}, "The role must be owner, admin or agent."),
        ({"password": "seven77"}, "The password must be at least 8 characters."),
        ({"password": ""}, "The password must be at least 8 characters."),
    ],
)
async def test_bad_member_details_are_refused_with_a_clear_message(
    ctx: Ctx, changes: dict[str, str], message: str | None
) -> None:
    details = {"email": "new@example.com", "name": "新人", "role": "agent", "password": PASSWORD}
    with pytest.raises(Invalid) as error:
        await service.create_member(ctx, **{**details, **changes})  # type: ignore[arg-type]
    if message is not None:
        assert str(error.value) == message
    else:
        assert str(error.value).endswith("is not an e-mail address.")
    assert await service.count_members(ctx.db) == 0
    assert _bus(ctx).published == []


async def test_password_of_exactly_the_minimum_length_is_accepted(ctx: Ctx) -> None:
    member = await service.create_member(
        ctx, email="min@example.com", name="最短", role="agent", password="8chars!!"
    )
    signed_in = await service.authenticate(
        ctx, email="min@example.com", password="8chars!!", address=ADDRESS
    )
    assert signed_in.id == member.id


@pytest.mark.parametrize(
    ("actor_role", "new_role", "allowed"),
    [
        ("owner", "owner", True),
        ("owner", "admin", True),
        ("admin", "admin", True),
        ("admin", "agent", True),
        ("admin", "owner", False),
        ("agent", "agent", False),
    ],
)
async def test_who_may_add_whom(
    ctx: Ctx, factory: Factory, actor_role: str, new_role: str, allowed: bool
) -> None:
    actor = await factory.member(role=actor_role)
    details = {"email": "added@example.com", "name": "追加", "role": new_role}
    if allowed:
        added = await service.create_member(ctx, **details, password=None, actor=actor)
        assert added.role == new_role
        entry = await ctx.db.scalar(
            select(AuditEntry).where(AuditEntry.subject == f"member {added.id}")
        )
        assert entry is not None and (entry.member_id, entry.member_name) == (actor.id, actor.name)
    else:
        with pytest.raises(Forbidden):
            await service.create_member(ctx, **details, password=None, actor=actor)
        assert await service.count_members(ctx.db) == 1


# --- signing in ----------------------------------------------------------------------------


async def test_right_password_signs_in_with_any_case_of_the_email(
    ctx: Ctx, factory: Factory
) -> None:
    member = await factory.member()
    signed_in = await service.authenticate(
        ctx, email=f" {member.email.upper()} ", password=PASSWORD, address=ADDRESS
    )
    assert signed_in.id == member.id


async def test_wrong_password_unknown_email_and_inactive_member_get_the_same_error(
    ctx: Ctx, factory: Factory
) -> None:
    member = await factory.member()
    retired = await factory.member()
    retired.active = False
    await ctx.db.commit()
    attempts = [
        (member.email, "wrong password"),
        ("ghost@example.com", PASSWORD),
        (retired.email, PASSWORD),
    ]
    messages = []
    for email, password in attempts:
        with pytest.raises(Unauthorized) as error:
            await service.authenticate(ctx, email=email, password=password, address=ADDRESS)
        messages.append((type(error.value), str(error.value)))
    assert messages == [(Unauthorized, "The e-mail or password is wrong.")] * 3


async def test_member_without_a_password_cannot_sign_in_even_with_the_timing_dummy(
    ctx: Ctx,
) -> None:
    member = await service.create_member(
        ctx, email="invited@example.com", name="招待", role="agent", password=None
    )
    assert member.password_hash is None
    for password in ("", "madoguchi-timing-equaliser"):
        with pytest.raises(Unauthorized):
            await service.authenticate(
                ctx, email="invited@example.com", password=password, address=ADDRESS
            )


async def test_repeated_failures_lock_the_account_until_the_lock_ends(
    ctx: Ctx, factory: Factory, clock: _Clock
) -> None:
    member = await factory.member()
    limit = ctx.settings.login_max_failures
    for _ in range(limit):
        with pytest.raises(Unauthorized):
            await service.authenticate(ctx, email=member.email, password="nope", address=ADDRESS)
        clock.advance(seconds=10)
    # Locked: the right password from another address does not help.
    with pytest.raises(TooManyAttempts) as error:
        await service.authenticate(
            ctx, email=member.email, password=PASSWORD, address="198.51.100.1"
        )
    assert str(error.value) == "Too many failed sign-ins. Try again in a few minutes."
    # A colleague at the same address is not locked out by it.
    colleague = await factory.member()
    ok = await service.authenticate(ctx, email=colleague.email, password=PASSWORD, address=ADDRESS)
    assert ok.id == colleague.id

    clock.advance(minutes=ctx.settings.login_lock_minutes - 1)
    with pytest.raises(TooManyAttempts):
        await service.authenticate(ctx, email=member.email, password=PASSWORD, address=ADDRESS)
    clock.advance(minutes=1, seconds=1)
    signed_in = await service.authenticate(
        ctx, email=member.email, password=PASSWORD, address=ADDRESS
    )
    assert signed_in.id == member.id
    keys = set(await ctx.db.scalars(select(LoginThrottle.key)))
    assert f"email:{member.email}" not in keys


async def test_failures_spread_over_more_than_the_window_do_not_lock(
    ctx: Ctx, factory: Factory, clock: _Clock
) -> None:
    member = await factory.member()
    limit = ctx.settings.login_max_failures
    for _ in range(2):
        for _ in range(limit - 1):
            with pytest.raises(Unauthorized):
                await service.authenticate(
                    ctx, email=member.email, password="nope", address=ADDRESS
                )
        clock.advance(minutes=ctx.settings.login_lock_minutes + 1)
    signed_in = await service.authenticate(
        ctx, email=member.email, password=PASSWORD, address=ADDRESS
    )
    assert signed_in.id == member.id


async def test_a_successful_sign_in_forgives_earlier_mistakes(
    ctx: Ctx, factory: Factory, clock: _Clock
) -> None:
    member = await factory.member()
    limit = ctx.settings.login_max_failures
    for round_ in range(2):
        for _ in range(limit - 1):
            with pytest.raises(Unauthorized):
                await service.authenticate(
                    ctx, email=member.email, password="nope", address=f"198.51.100.{round_}"
                )
        signed_in = await service.authenticate(
            ctx, email=member.email, password=PASSWORD, address=f"198.51.100.{round_}"
        )
        assert signed_in.id == member.id


async def test_an_unknown_email_is_locked_like_a_real_one(ctx: Ctx, clock: _Clock) -> None:
    # Otherwise the lock itself would tell which addresses belong to members.
    for _ in range(ctx.settings.login_max_failures):
        with pytest.raises(Unauthorized):
            await service.authenticate(
                ctx, email="ghost@example.com", password="guess", address=ADDRESS
            )
    with pytest.raises(TooManyAttempts):
        await service.authenticate(
            ctx, email="GHOST@example.com", password="guess", address="198.51.100.9"
        )


async def test_session_secret_is_hashed_expires_and_ends(
    ctx: Ctx, factory: Factory, clock: _Clock
) -> None:
    member = await factory.member()
    secret = await service.start_session(ctx, member=member)
    found = await service.member_for_session(ctx.db, secret=secret, now=clock.now)
    assert found is not None and found.id == member.id
    assert await service.member_for_session(ctx.db, secret=secret + "x", now=clock.now) is None
    later = clock.now + timedelta(days=ctx.settings.session_days, seconds=1)
    assert await service.member_for_session(ctx.db, secret=secret, now=later) is None

    await service.end_session(ctx, secret=secret)
    assert await service.member_for_session(ctx.db, secret=secret, now=clock.now) is None


# --- personal settings ---------------------------------------------------------------------


async def test_settings_are_saved_and_announced_to_that_member_only(
    ctx: Ctx, factory: Factory, database: Database
) -> None:
    member, colleague = await factory.member(), await factory.member()
    _bus(ctx).published.clear()
    await service.update_settings(
        ctx,
        member=member,
        send_shortcut="mod_enter",
        language="en",
        notify_assigned=False,
        notify_mentions=False,
    )
    stored = await _stored(database, member.id)
    assert (stored.send_shortcut, stored.language) == ("mod_enter", "en")
    assert (stored.notify_assigned, stored.notify_mentions) == (False, False)
    untouched = await _stored(database, colleague.id)
    assert (untouched.send_shortcut, untouched.language, untouched.notify_assigned) == (
        "enter",
        "ja",
        True,
    )
    [event] = _bus(ctx).published
    assert event == MemberUpdated(member_id=member.id)
    assert event.visible_to(member.id) and not event.visible_to(colleague.id)


async def test_settings_left_out_keep_their_values(
    ctx: Ctx, factory: Factory, database: Database
) -> None:
    member = await factory.member()
    await service.update_settings(
        ctx, member=member, send_shortcut="mod_enter", notify_mentions=False
    )
    await service.update_settings(ctx, member=member, language="en")
    stored = await _stored(database, member.id)
    assert (stored.send_shortcut, stored.language) == ("mod_enter", "en")
    assert (stored.notify_assigned, stored.notify_mentions) == (True, False)
    await service.update_settings(ctx, member=member, send_shortcut="enter", notify_mentions=True)
    stored = await _stored(database, member.id)
    assert (stored.send_shortcut, stored.notify_mentions) == ("enter", True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"send_shortcut": "ctrl_enter"}, "The send shortcut must be enter or mod_enter."),
        ({"send_shortcut": ""}, "The send shortcut must be enter or mod_enter."),
        ({"language": "fr"}, "The language must be ja or en."),
        ({"language": "EN"}, "The language must be ja or en."),
        # One bad value spoils the whole change: the good one is not half-saved.
        (
            {"send_shortcut": "mod_enter", "notify_assigned": False, "language": "zh"},
            "The language must be ja or en.",
        ),
    ],
)
async def test_invalid_settings_are_refused_and_nothing_changes(
    ctx: Ctx, factory: Factory, database: Database, changes: dict[str, object], message: str
) -> None:
    member = await factory.member()
    _bus(ctx).published.clear()
    with pytest.raises(Invalid) as error:
        await service.update_settings(ctx, member=member, **changes)  # type: ignore[arg-type]
    assert str(error.value) == message
    stored = await _stored(database, member.id)
    assert (stored.send_shortcut, stored.language, stored.notify_assigned) == ("enter", "ja", True)
    assert (member.send_shortcut, member.language, member.notify_assigned) == ("enter", "ja", True)
    assert _bus(ctx).published == []


# --- API tokens ----------------------------------------------------------------------------


async def test_token_is_returned_once_and_stored_only_as_its_hash(
    ctx: Ctx, factory: Factory
) -> None:
    member = await factory.member()
    token = await service.create_token(ctx, member=member, name="予約システム連携")
    assert token.startswith("mdg_") and len(token) > 40
    [row] = list(await ctx.db.scalars(select(ApiToken)))
    assert row.member_id == member.id and row.name == "予約システム連携"
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash
    found = await service.member_for_token(ctx.db, secret=token)
    assert found is not None and found.id == member.id


async def test_each_token_is_new_and_names_its_own_member(ctx: Ctx, factory: Factory) -> None:
    alice, bob = await factory.member(), await factory.member()
    alice_tokens = [await service.create_token(ctx, member=alice) for _ in range(2)]
    bob_token = await service.create_token(ctx, member=bob)
    assert len({*alice_tokens, bob_token}) == 3
    for token in alice_tokens:
        found = await service.member_for_token(ctx.db, secret=token)
        assert found is not None and found.id == alice.id
    found = await service.member_for_token(ctx.db, secret=bob_token)
    assert found is not None and found.id == bob.id


async def test_a_token_name_is_one_to_a_hundred_characters(ctx: Ctx, factory: Factory) -> None:
    member = await factory.member()
    for name in ("名" * 101, "  "):
        with pytest.raises(Invalid):
            await service.create_token(ctx, member=member, name=name)
    await service.create_token(ctx, member=member, name=" " + "名" * 100 + " ")
    assert await ctx.db.scalar(select(ApiToken.name)) == "名" * 100


async def test_unknown_altered_or_hashed_token_does_not_authenticate(
    ctx: Ctx, factory: Factory
) -> None:
    member = await factory.member()
    token = await service.create_token(ctx, member=member)
    row_hash = await ctx.db.scalar(select(ApiToken.token_hash))
    assert row_hash is not None
    for secret in ("", "mdg_unknown", token[:-1], token + "x", token.upper(), row_hash):
        assert await service.member_for_token(ctx.db, secret=secret) is None


async def test_token_of_a_deactivated_member_no_longer_authenticates(
    ctx: Ctx, factory: Factory
) -> None:
    member = await factory.member()
    token = await service.create_token(ctx, member=member)
    member.active = False
    await ctx.db.commit()
    assert await service.member_for_token(ctx.db, secret=token) is None


async def test_deleted_token_no_longer_authenticates(ctx: Ctx, factory: Factory) -> None:
    # There is no revoke function yet; removing the row is what revoking has to amount to.
    member = await factory.member()
    kept, dropped = [await factory.token(member) for _ in range(2)]
    row = await ctx.db.scalar(
        select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(dropped.encode()).hexdigest())
    )
    assert row is not None
    await ctx.db.delete(row)
    await ctx.db.commit()
    assert await service.member_for_token(ctx.db, secret=dropped) is None
    found = await service.member_for_token(ctx.db, secret=kept)
    assert found is not None and found.id == member.id


async def test_the_same_email_added_twice_at_once_is_one_member_and_one_conflict(
    database: Database, settings: Settings
) -> None:
    async def add() -> Member | Conflict:
        async with database.write_sessions() as session:
            ctx = Ctx(db=session, bus=RecordingBus(), settings=settings)
            try:
                return await service.create_member(
                    ctx, email="same@example.com", name="同時", role="agent", password=PASSWORD
                )
            except Conflict as error:
                return error

    results = await asyncio.gather(add(), add(), add())
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Conflict", "Member"]
    async with database.read_sessions() as session:
        emails = list(await session.scalars(select(Member.email)))
    assert emails.count("same@example.com") == 1
