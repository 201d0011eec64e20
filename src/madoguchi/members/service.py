"""Members: accounts, sign-in, API tokens and personal settings."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from madoguchi.audit import service as audit
from madoguchi.conversations.models import ConversationTeamUnread, ConversationUnread
from madoguchi.events.types import (
    MemberCreated,
    MemberSignedOut,
    MemberUpdated,
    TokenCreated,
    TokenRevoked,
)
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import side_engine, table_of, utcnow
from madoguchi.kit.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooManyAttempts,
    Unauthorized,
)
from madoguchi.kit.security import (
    hash_password,
    new_password,
    new_secret,
    secret_hash,
    verify_password,
)
from madoguchi.kit.sqlite import is_sqlite_writer
from madoguchi.members.models import (
    ApiToken,
    LoginThrottle,
    Member,
    MemberSession,
    Role,
    SendShortcut,
)

log = logging.getLogger(__name__)

LANGUAGES = ("ja", "en")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1000


def _clean_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise Invalid("%(email)s is not an e-mail address.", email=email)
    return email


async def create_member(
    ctx: Ctx,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    actor: Member | None = None,
) -> Member:
    """A new member. ``actor`` is who adds them (None: the command line, which may do all):
    agents add nobody, and only an owner adds an owner."""
    if actor is not None and (
        actor.role == Role.agent or (role == Role.owner and actor.role != Role.owner)
    ):
        raise Forbidden("Your role cannot add this member.")
    email = _clean_email(email)
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("A member's name must be 1 to 100 characters.")
    if role not in set(Role):
        raise Invalid("The role must be owner, admin or agent.")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("The password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if await ctx.db.scalar(select(Member.id).where(Member.email == email)) is not None:
        raise Conflict("A member with the e-mail %(email)s already exists.", email=email)
    member = Member(
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password) if password else None,
        language=ctx.settings.default_language,
        created_at=ctx.now(),
    )
    ctx.db.add(member)
    try:
        await ctx.db.flush()
    except IntegrityError:  # the same e-mail, added at the same moment by someone else
        await ctx.db.rollback()
        raise Conflict("A member with the e-mail %(email)s already exists.", email=email) from None
    # The team's backlog is new to a new member: what is 未確認 for the team is for them too.
    await ctx.db.execute(
        insert(ConversationUnread).from_select(
            ["member_id", "conversation_id", "activity_at", "count"],
            select(
                literal(member.id),
                ConversationTeamUnread.conversation_id,
                ConversationTeamUnread.activity_at,
                ConversationTeamUnread.count,
            ),
        )
    )
    audit.record(
        ctx,
        actor=actor,
        action="member.created",
        subject=f"member {member.id}",
        name=name,
        after={"name": name, "email": email, "role": role},
        detail={"email": email, "name": name, "role": role},
    )
    await ctx.commit(MemberCreated(new_member_id=member.id))
    return member


async def get_member(db: AsyncSession, *, member_id: int) -> Member:
    member = await db.get(Member, member_id)
    if member is None:
        raise NotFound("No member with id %(id)s.", id=member_id)
    return member


async def get_member_by_email(db: AsyncSession, *, email: str) -> Member:
    member = await db.scalar(select(Member).where(Member.email == email.strip().lower()))
    if member is None:
        raise NotFound("No member with the e-mail %(email)s.", email=email)
    return member


async def list_members(db: AsyncSession) -> list[Member]:
    return list(await db.scalars(select(Member).order_by(Member.id)))


async def count_members(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Member)) or 0)


async def update_settings(
    ctx: Ctx,
    *,
    member: Member,
    send_shortcut: str | None = None,
    language: str | None = None,
    notify_assigned: bool | None = None,
    notify_mentions: bool | None = None,
) -> Member:
    if send_shortcut is not None and send_shortcut not in set(SendShortcut):
        raise Invalid("The send shortcut must be enter or mod_enter.")
    if language is not None and language not in LANGUAGES:
        raise Invalid("The language must be ja or en.")
    before = _own_settings(member)
    if send_shortcut is not None:
        member.send_shortcut = send_shortcut
    if language is not None:
        member.language = language
    if notify_assigned is not None:
        member.notify_assigned = notify_assigned
    if notify_mentions is not None:
        member.notify_mentions = notify_mentions
    audit.record_changes(
        ctx,
        actor=member,
        action="member.settings_changed",
        subject=f"member {member.id}",
        name=member.name,
        before=before,
        after=_own_settings(member),
    )
    await ctx.commit(MemberUpdated(member_id=member.id))
    return member


def _own_settings(member: Member) -> dict[str, object]:
    return {
        "send_shortcut": member.send_shortcut,
        "language": member.language,
        "notify_assigned": member.notify_assigned,
        "notify_mentions": member.notify_mentions,
    }


# --- managing members (owners and admins) ------------------------------------------------------


def _ensure_may_manage(actor: Member, target: Member, *, role: str | None = None) -> None:
    """Owners and admins manage other members; only an owner changes an owner or makes one."""
    if actor.role not in (Role.owner, Role.admin):
        raise Forbidden("Only owners and admins can manage other members.")
    if target.role == Role.owner and actor.role != Role.owner:
        raise Forbidden("Only an owner can change an owner.")
    if role == Role.owner and actor.role != Role.owner:
        raise Forbidden("Only an owner can make someone an owner.")


async def _ensure_another_owner(ctx: Ctx, target: Member) -> None:
    """Refuse to leave the workspace without an active owner. The active owners are locked
    (PostgreSQL) so that two owners demoting each other at once cannot both succeed."""
    query = select(Member.id).where(Member.role == Role.owner, Member.active.is_(True))
    if ctx.dialect == "postgresql":
        query = query.with_for_update()
    owners = set(await ctx.db.scalars(query))
    if not owners - {target.id}:
        raise Conflict(
            "The workspace needs at least one active owner: make another member owner first."
        )


async def _end_sessions(ctx: Ctx, *, member_id: int, keep: str | None = None) -> None:
    """Sign the member out everywhere (but for the session ``keep``, their own of now)."""
    statement = delete(MemberSession).where(MemberSession.member_id == member_id)
    if keep:
        statement = statement.where(MemberSession.token_hash != secret_hash(keep))
    await ctx.db.execute(statement)


async def update_member(
    ctx: Ctx,
    *,
    member_id: int,
    actor: Member | None,
    role: str | None = None,
    active: bool | None = None,
    name: str | None = None,
) -> Member:
    """Change a member's role or name, deactivate them (their sessions, tokens and live
    connections stop at once; their name stays on what they wrote) or reactivate them.
    ``actor`` None: the command line."""
    target = await get_member(ctx.db, member_id=member_id)
    if actor is not None:
        _ensure_may_manage(actor, target, role=role)
    if role is not None and role not in set(Role):
        raise Invalid("The role must be owner, admin or agent.")
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            raise Invalid("A member's name must be 1 to 100 characters.")
    leaves_owners = target.role == Role.owner and target.active
    if leaves_owners and ((role is not None and role != Role.owner) or active is False):
        await _ensure_another_owner(ctx, target)
    events = []
    subject = f"member {target.id}"
    if name is not None and name != target.name:
        audit.record(
            ctx,
            actor=actor,
            action="member.renamed",
            subject=subject,
            name=name,
            before={"name": target.name},
            after={"name": name},
            detail={"name": name, "before": target.name},
        )
        target.name = name
    if role is not None and role != target.role:
        audit.record(
            ctx,
            actor=actor,
            action="member.role_changed",
            subject=subject,
            name=target.name,
            before={"role": target.role},
            after={"role": role},
            detail={"name": target.name, "role": role, "before": target.role},
        )
        target.role = role
    if active is not None and active != target.active:
        target.active = active
        audit.record(
            ctx,
            actor=actor,
            action="member.reactivated" if active else "member.deactivated",
            subject=subject,
            name=target.name,
            before={"active": not active},
            after={"active": active},
            detail={"name": target.name, "email": target.email},
        )
        if not active:
            # Tokens are refused while inactive (member_for_token); sessions go for good.
            await _end_sessions(ctx, member_id=target.id)
            events.append(MemberSignedOut(reason="deactivated", member_id=target.id))
    await ctx.commit(MemberUpdated(member_id=target.id), *events)
    return target


async def reset_password(ctx: Ctx, *, member_id: int, actor: Member | None) -> str:
    """A one-time password for a member who cannot sign in: it signs them out everywhere, and
    at their next sign-in they must choose their own before anything else."""
    target = await get_member(ctx.db, member_id=member_id)
    if actor is not None:
        if actor.id == target.id:
            raise Invalid("Change your own password with your current one instead.")
        _ensure_may_manage(actor, target)
    password = new_password()
    target.password_hash = hash_password(password)
    target.password_must_change = True
    await _end_sessions(ctx, member_id=target.id)
    audit.record(
        ctx,
        actor=actor,
        action="member.password_reset",
        subject=f"member {target.id}",
        name=target.name,
        detail={"name": target.name, "email": target.email},
    )
    await ctx.commit(
        MemberUpdated(member_id=target.id),
        MemberSignedOut(reason="password_reset", member_id=target.id),
    )
    return password


async def change_password(
    ctx: Ctx, *, member: Member, current: str, new: str, session: str | None = None
) -> Member:
    """A member changes their own password (they give the current one). Their other sessions
    end; ``session``, the one they are using, is kept."""
    keys = [f"email:{member.email}"]
    if await throttled(ctx, keys):
        raise TooManyAttempts("Too many failed sign-ins. Try again in a few minutes.")
    if not verify_password(member.password_hash, current):
        await _record_failure(ctx, keys)
        raise Invalid("The current password is wrong.")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise Invalid("The password must be at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if len(new) > MAX_PASSWORD_LENGTH:
        raise Invalid("The password can be at most %(n)d characters.", n=MAX_PASSWORD_LENGTH)
    if new == current:
        raise Invalid("The new password must differ from the current one.")
    member.password_hash = hash_password(new)
    member.password_must_change = False
    await _end_sessions(ctx, member_id=member.id, keep=session)
    audit.record(
        ctx,
        actor=member,
        action="member.password_changed",
        subject=f"member {member.id}",
        name=member.name,
        detail={"name": member.name},
    )
    await ctx.commit(MemberUpdated(member_id=member.id))
    return member


# What a member whose password was reset may still do: see who they are, change it, sign out.
PASSWORD_PAGE = "/settings/password"
_BEFORE_PASSWORD_CHANGE = frozenset(
    {
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/me/password"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", PASSWORD_PAGE),
        ("POST", PASSWORD_PAGE),
        ("POST", "/logout"),
    }
)


def must_change_password(member: Member, *, method: str, path: str) -> bool:
    """Whether this request waits for the member to choose a new password first."""
    return waits_for_password(member.password_must_change, method=method, path=path)


def waits_for_password(password_must_change: bool, *, method: str, path: str) -> bool:
    """``must_change_password`` of a member known by that one column."""
    return password_must_change and (method, path) not in _BEFORE_PASSWORD_CHANGE


def password_change_first() -> Forbidden:
    return Forbidden("Your password was reset: choose a new one first (POST /api/v1/me/password).")


# --- signing in ---------------------------------------------------------------------------


async def _throttle_rows(ctx: Ctx, keys: Sequence[str]) -> list[LoginThrottle]:
    rows = await ctx.db.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    return list(rows)


async def throttled(ctx: Ctx, keys: Sequence[str]) -> bool:
    """Whether any of these keys is locked now (the throttle sign-in and other doors share:
    counted in the database, so every process sees the same counts)."""
    now = ctx.now()
    return any(
        row.locked_until is not None and row.locked_until > now
        for row in await _throttle_rows(ctx, keys)
    )


async def count_attempt(ctx: Ctx, limits: Mapping[str, int], *, window: timedelta) -> None:
    """Count one attempt against each key; a key that reaches its limit within ``window`` of
    its first counted attempt is locked for ``window``. Committed on its own."""
    now = ctx.now()
    existing = {row.key: row for row in await _throttle_rows(ctx, list(limits))}
    for key, limit in limits.items():
        row = existing.get(key)
        if row is None or now - row.window_started_at > window:
            if row is not None:
                await ctx.db.delete(row)
                await ctx.db.flush()
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            ctx.db.add(row)
        row.failures += 1
        if row.failures >= limit:
            row.locked_until = now + window
    try:
        await ctx.commit()
    except IntegrityError:
        # A first attempt for the same key, counted at the same moment by another request:
        # theirs counts, this one is not added (the lock comes one attempt later at most).
        await ctx.db.rollback()


async def authenticate(ctx: Ctx, *, email: str, password: str, address: str) -> Member:
    """The member with these credentials; repeated failures lock the account and the address."""
    # The column holds 400 characters; the forms already stop an e-mail at 320.
    keys = [f"email:{email.strip().lower()[:320]}", f"addr:{address[:300]}"]
    if await throttled(ctx, keys):
        raise TooManyAttempts("Too many failed sign-ins. Try again in a few minutes.")
    member = await ctx.db.scalar(select(Member).where(Member.email == email.strip().lower()))
    valid = verify_password(member.password_hash if member else None, password)
    if member is None or not valid or not member.active:
        await _record_failure(ctx, keys)
        raise Unauthorized("The e-mail or password is wrong.")
    await ctx.db.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0]))
    await ctx.commit()
    return member


async def _record_failure(ctx: Ctx, keys: list[str]) -> None:
    # A salon's staff share one address: it takes more failures to lock it than an account.
    limit = ctx.settings.login_max_failures
    await count_attempt(
        ctx,
        {key: limit * (1 if key.startswith("email:") else 4) for key in keys},
        window=timedelta(minutes=ctx.settings.login_lock_minutes),
    )


async def start_session(ctx: Ctx, *, member: Member) -> str:
    """A new session secret for the cookie; only its hash is stored."""
    secret = new_secret()
    ctx.db.add(
        MemberSession(
            member_id=member.id,
            token_hash=secret_hash(secret),
            created_at=ctx.now(),
            expires_at=ctx.now() + timedelta(days=ctx.settings.session_days),
        )
    )
    await ctx.commit()
    return secret


async def end_session(ctx: Ctx, *, secret: str) -> None:
    await ctx.db.execute(
        delete(MemberSession).where(MemberSession.token_hash == secret_hash(secret))
    )
    await ctx.commit()


# Built once: every signed-in request reads it (issue 14: building a statement per request cost
# as much as running it).
_SESSION_MEMBER = (
    select(Member)
    .join(MemberSession, MemberSession.member_id == Member.id)
    .where(
        MemberSession.token_hash == bindparam("hash"),
        MemberSession.expires_at > bindparam("now"),
        Member.active.is_(True),
    )
)


async def member_for_session(db: AsyncSession, *, secret: str, now: datetime) -> Member | None:
    row = await db.execute(_SESSION_MEMBER, {"hash": secret_hash(secret), "now": now})
    return row.scalar_one_or_none()


@dataclass(frozen=True)
class IssuedToken:
    """A new token: its row, and the secret shown this once (only its hash is kept)."""

    token: ApiToken
    secret: str


MAX_TOKEN_NAME = 100


async def issue_token(
    ctx: Ctx, *, member: Member, name: str = "", actor: Member | None = None
) -> IssuedToken:
    """A new API token for ``member``, named for what it is for. ``actor`` is who asks (None:
    the command line)."""
    name = name.strip()
    if not name or len(name) > MAX_TOKEN_NAME:
        raise Invalid(
            "A token needs a name saying what it is for (1 to %(n)d characters).",
            n=MAX_TOKEN_NAME,
        )
    secret = new_secret("mdg_")
    token = ApiToken(
        member_id=member.id, name=name, token_hash=secret_hash(secret), created_at=ctx.now()
    )
    ctx.db.add(token)
    await ctx.db.flush()
    audit.record(
        ctx,
        actor=actor,
        action="token.created",
        subject=f"token {token.id}",
        name=name,
        detail={"name": name, "member_id": member.id, "member_name": member.name},
    )
    await ctx.commit(TokenCreated(token_id=token.id, member_id=member.id))
    return IssuedToken(token=token, secret=secret)


# The name of a token made on the command line without one.
COMMAND_LINE_TOKEN = "madoguchi token create"


async def create_token(ctx: Ctx, *, member: Member, name: str = COMMAND_LINE_TOKEN) -> str:
    """A new API token's secret (the command line's and the tests' short way)."""
    return (await issue_token(ctx, member=member, name=name)).secret


@dataclass(frozen=True)
class TokenRow:
    """A token as listed: never its secret, with whose it is."""

    token: ApiToken
    member: Member


async def list_tokens(
    db: AsyncSession, *, member_ids: Sequence[int] | None = None
) -> list[TokenRow]:
    """Tokens, oldest first: of these members, or everyone's (None)."""
    query = select(ApiToken, Member).join(Member, Member.id == ApiToken.member_id)
    if member_ids is not None:
        query = query.where(ApiToken.member_id.in_(member_ids))
    rows = await db.execute(query.order_by(ApiToken.id))
    return [TokenRow(token=token, member=member) for token, member in rows.all()]


async def tokens_visible_to(
    db: AsyncSession, *, actor: Member, member_id: int | None = None, everyone: bool = False
) -> list[TokenRow]:
    """What ``actor`` may see: their own; an owner or admin also anyone's (or everyone's)."""
    if everyone or (member_id is not None and member_id != actor.id):
        if actor.role not in (Role.owner, Role.admin):
            raise Forbidden("Only owners and admins can see other members' tokens.")
        if member_id is not None:
            await get_member(db, member_id=member_id)
        return await list_tokens(db, member_ids=None if member_id is None else [member_id])
    return await list_tokens(db, member_ids=[actor.id])


async def revoke_token(ctx: Ctx, *, token_id: int, actor: Member | None = None) -> ApiToken:
    """The token answers 401 from now on. A member revokes their own; an owner or admin anyone's
    (an admin not an owner's). ``actor`` None: the command line."""
    token = await ctx.db.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No API token with id %(id)s.", id=token_id)
    owner = await get_member(ctx.db, member_id=token.member_id)
    if actor is not None and actor.id != owner.id:
        if actor.role not in (Role.owner, Role.admin):
            # An agent is not told whose tokens exist.
            raise NotFound("No API token with id %(id)s.", id=token_id)
        _ensure_may_manage(actor, owner)
    await ctx.db.delete(token)
    audit.record(
        ctx,
        actor=actor,
        action="token.revoked",
        subject=f"token {token.id}",
        name=token.name,
        detail={"name": token.name, "member_id": owner.id, "member_name": owner.name},
    )
    # Live connections cannot tell which token opened them: all of the member's close, and
    # those with a session or another token reconnect.
    await ctx.commit(
        TokenRevoked(token_id=token.id, member_id=owner.id),
        MemberSignedOut(reason="token_revoked", member_id=owner.id),
    )
    return token


# A token's last use is written at most this often: a busy integration does not write a row on
# every request.
TOKEN_USE_PRECISION = timedelta(minutes=1)
# How long (ms) the note of a use waits for SQLite's write lock held by another request.
NOTE_WAIT_MS = 50


# A token admits its member while they are active: the rule of both look-ups below, in the
# tables' columns (a mapped class's would make token_holder's plain statement an ORM one).
_TOKEN_ADMITS = (
    table_of(ApiToken).c.token_hash == bindparam("hash"),
    table_of(Member).c.active.is_(True),
)
_TOKEN_MEMBER = (
    select(Member, ApiToken).join(ApiToken, ApiToken.member_id == Member.id).where(*_TOKEN_ADMITS)
)


async def member_for_token(
    db: AsyncSession, *, secret: str, now: datetime | None = None
) -> Member | None:
    """The active member behind a token (None: unknown, revoked, or deactivated), noting when
    the token was last used."""
    row = await db.execute(_TOKEN_MEMBER, {"hash": secret_hash(secret)})
    found = row.one_or_none()
    if found is None:
        return None
    member, token = found
    await _noted(db, token.id, token.last_used_at, now)
    return member


@dataclass(frozen=True)
class TokenHolder:
    """What a writer checking many requests' token (``connectors.intake``) needs of its
    member: who, and whether a reset password waits to be replaced."""

    member_id: int
    password_must_change: bool


@cache
def _token_holder() -> Select[Any]:
    # Plain columns, not the two mapped entities of member_for_token: a writer runs it straight
    # through the driver (kit.direct.run_direct), at a third of the cost.
    tokens, people = table_of(ApiToken), table_of(Member)
    return (
        select(tokens.c.id, tokens.c.last_used_at, people.c.id, people.c.password_must_change)
        .join(people, people.c.id == tokens.c.member_id)
        .where(*_TOKEN_ADMITS)
    )


async def token_holder(
    db: AsyncSession, *, secret: str, now: datetime | None = None
) -> TokenHolder | None:
    """``member_for_token`` without loading the member: None for a token that admits no one."""
    found = (await db.execute(_token_holder(), {"hash": secret_hash(secret)})).one_or_none()
    if found is None:
        return None
    token_id, last_used_at, member_id, password_must_change = found
    await _noted(db, token_id, last_used_at, now)
    return TokenHolder(member_id, bool(password_must_change))


async def _noted(
    db: AsyncSession, token_id: int, last_used_at: datetime | None, now: datetime | None
) -> None:
    now = now or utcnow()
    if last_used_at is None or now - last_used_at >= TOKEN_USE_PRECISION:
        await _note_token_use(db, token_id=token_id, now=now)


async def _note_token_use(db: AsyncSession, *, token_id: int, now: datetime) -> None:
    """Write the token's last use. A reader's request writes it in a short transaction of its
    own; a writer's (SQLite: it holds the write lock already) with its own change. The
    condition keeps two requests in the same minute to one write."""
    statement = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at <= now - TOKEN_USE_PRECISION,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    engine = db.bind
    if not isinstance(engine, AsyncEngine):
        return
    sqlite = engine.dialect.name == "sqlite"
    try:
        if is_sqlite_writer(engine):
            await db.execute(statement)  # this request holds SQLite's write lock already
            return
        # From a pool of its own: this request holds a connection of the main one already.
        async with side_engine(engine).connect() as connection:
            if sqlite:
                # Another writer at work: the note waits a moment, then waits for a later use.
                waits = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
                await connection.exec_driver_sql(f"PRAGMA busy_timeout={NOTE_WAIT_MS}")
            try:
                await connection.execute(statement)
                await connection.commit()
            finally:
                if sqlite:
                    await connection.exec_driver_sql(f"PRAGMA busy_timeout={int(waits or 0)}")
    except SQLAlchemyError as error:
        # Only a note: a busy database must not refuse the request for it, nor fill the log with
        # a traceback each time (a later use in the same minute notes it).
        log.warning(
            "could not note the use of API token %s: %s",
            token_id,
            getattr(error, "orig", None) or error,
        )


def ensure_manager(member: Member) -> None:
    """Workspace settings (statuses, fields, record books, channels) are for owners and admins."""
    if member.role not in (Role.owner, Role.admin):
        raise Forbidden("Only owners and admins can change this.")
