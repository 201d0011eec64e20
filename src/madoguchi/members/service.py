"""Members: accounts, sign-in, API tokens and personal settings."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.events import Event
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooManyAttempts,
    Unauthorized,
)
from madoguchi.kit.security import hash_password, new_secret, secret_hash, verify_password
from madoguchi.members.models import (
    ApiToken,
    LoginThrottle,
    Member,
    MemberSession,
    Role,
    SendShortcut,
)

LANGUAGES = ("ja", "en")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8


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
    audit.record(
        ctx,
        actor=actor,
        action="member.created",
        subject=f"member {member.id}",
        detail={"email": email, "name": name, "role": role},
    )
    await ctx.commit(Event("member.created", {"member_id": member.id}))
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
    if send_shortcut is not None:
        member.send_shortcut = send_shortcut
    if language is not None:
        member.language = language
    if notify_assigned is not None:
        member.notify_assigned = notify_assigned
    if notify_mentions is not None:
        member.notify_mentions = notify_mentions
    await ctx.commit(Event("member.updated", {"member_id": member.id}, member_id=member.id))
    return member


# --- signing in ---------------------------------------------------------------------------


async def _throttle_rows(ctx: Ctx, keys: list[str]) -> list[LoginThrottle]:
    rows = await ctx.db.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    return list(rows)


async def authenticate(ctx: Ctx, *, email: str, password: str, address: str) -> Member:
    """The member with these credentials; repeated failures lock the account and the address."""
    now = ctx.now()
    # The column holds 400 characters; the forms already stop an e-mail at 320.
    keys = [f"email:{email.strip().lower()[:320]}", f"addr:{address[:300]}"]
    for row in await _throttle_rows(ctx, keys):
        if row.locked_until is not None and row.locked_until > now:
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
    now = ctx.now()
    window = timedelta(minutes=ctx.settings.login_lock_minutes)
    existing = {row.key: row for row in await _throttle_rows(ctx, keys)}
    for key in keys:
        row = existing.get(key)
        if row is None or now - row.window_started_at > window:
            if row is not None:
                await ctx.db.delete(row)
                await ctx.db.flush()
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            ctx.db.add(row)
        row.failures += 1
        # A salon's staff share one address: it takes more failures to lock it than an account.
        limit = ctx.settings.login_max_failures * (1 if key.startswith("email:") else 4)
        if row.failures >= limit:
            row.locked_until = now + window
    try:
        await ctx.commit()
    except IntegrityError:
        # A first failure for the same key, recorded at the same moment by another request:
        # theirs counts, this one is not added (the lock comes one attempt later at most).
        await ctx.db.rollback()


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


async def member_for_session(db: AsyncSession, *, secret: str, now: datetime) -> Member | None:
    row = await db.execute(
        select(Member)
        .join(MemberSession, MemberSession.member_id == Member.id)
        .where(
            MemberSession.token_hash == secret_hash(secret),
            MemberSession.expires_at > now,
            Member.active.is_(True),
        )
    )
    return row.scalar_one_or_none()


async def create_token(ctx: Ctx, *, member: Member, name: str = "") -> str:
    """A new API token; it is shown once and only its hash is stored."""
    secret = new_secret("mdg_")
    ctx.db.add(
        ApiToken(
            member_id=member.id,
            name=name[:100],
            token_hash=secret_hash(secret),
            created_at=ctx.now(),
        )
    )
    await ctx.commit()
    return secret


async def member_for_token(db: AsyncSession, *, secret: str) -> Member | None:
    row = await db.execute(
        select(Member)
        .join(ApiToken, ApiToken.member_id == Member.id)
        .where(ApiToken.token_hash == secret_hash(secret), Member.active.is_(True))
    )
    return row.scalar_one_or_none()


def ensure_manager(member: Member) -> None:
    """Workspace settings (statuses, fields, record books, channels) are for owners and admins."""
    if member.role not in (Role.owner, Role.admin):
        raise Forbidden("Only owners and admins can change this.")
