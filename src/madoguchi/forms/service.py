"""アンケート (F37): a public form whose answers fill the profile fields and tags of the contact
who answers.

A form is a list of questions (``text``, ``choice``, ``date``, ``number``, ``consent``), each of
which may say where its answer goes (``maps_to``): a profile field (``field:<key>``), a tag
(``tag:<id>``, put on when the question is answered: a consent ticked, a text written), or the
contact's ``name``, ``email`` or ``phone``. What it names is checked when the form is saved.

Who answers is known from what their address carries: their customer link's token (``?c=``), a
web chat visitor's token (``?v=``), or a per-contact link we made for them to send on LINE or
Instagram (``?k=``, signed with the workspace key: :func:`contact_link`). Anyone else becomes a
new contact without a channel. An answer is kept whole or not at all: every question is checked
first, and the contact's fields, tags and profile change in the same transaction, through the
crm and contacts services (so their checks and events hold).

Anonymous answers are throttled per address (the sign-in throttle of members.service, counted
in the database so every process sees the same counts): at most
``form_answers_per_address`` in ``form_answers_window_minutes``; the next is refused (429) and
nothing is stored. Answers that name their contact are not counted: they make no contact.

An answer is noted for automation in its transaction (``automation.triggers``): a step
sequence started by 「フォーム回答」 begins from it. ``form.answered`` is published once it is
stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation import triggers
from madoguchi.channels import service as channels
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.crm import fields, tags, values
from madoguchi.crm.models import FieldType, Tag
from madoguchi.events.types import (
    ContactCreated,
    ContactUpdated,
    Event,
    FormAnswered,
    TagAdded,
)
from madoguchi.forms import links
from madoguchi.forms.models import Form as Form
from madoguchi.forms.models import FormAnswer
from madoguchi.kit import clean
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, DomainError, Invalid, NotFound, TooManyAttempts
from madoguchi.kit.i18n import N_, gettext_for
from madoguchi.kit.ids import is_id
from madoguchi.kit.spreadsheet import CsvWriter
from madoguchi.kit.text import storable
from madoguchi.members import service as members
from madoguchi.members.models import Member
from madoguchi.workspace import service as workspace

MAX_NAME = 100
MAX_QUESTIONS = 30
MAX_LABEL = 200
MAX_CHOICES = 30
MAX_CHOICE = 100
MAX_TEXT_ANSWER = values.TEXT_LIMIT
QUESTION_TYPES = ("text", "choice", "date", "number", "consent")
PROFILE_TARGETS = ("name", "email", "phone")
# How each question's answer is checked: the profile field type with the same rules.
_CHECKED_AS = {
    "text": FieldType.text,
    "choice": FieldType.select,
    "date": FieldType.date,
    "number": FieldType.number,
}
# The display name of a contact made by an anonymous answer that gave no name (workspace language).
ANONYMOUS_NAME = N_("Form answer: %(form)s")
PUBLIC_PATH = links.PUBLIC_PATH


# --- the questions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    key: str
    label: str
    type: str
    choices: tuple[str, ...] = ()
    required: bool = False
    maps_to: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "type": self.type,
            "choices": list(self.choices),
            "required": self.required,
            "maps_to": self.maps_to,
        }


def questions(form: Form) -> list[Question]:
    return [
        Question(
            key=str(q["key"]),
            label=str(q["label"]),
            type=str(q["type"]),
            choices=tuple(q.get("choices") or ()),
            required=bool(q.get("required")),
            maps_to=q.get("maps_to"),
        )
        for q in form.fields
    ]


def _text_of(raw: Any, what: str, limit: int) -> str:
    if not isinstance(raw, str):
        raise Invalid("%(what)s must be text.", what=what)
    text = storable(raw).strip()
    if len(text) > limit:
        raise Invalid("%(what)s can be at most %(n)d characters.", what=what, n=limit)
    return text


async def _target(db: AsyncSession, question: Question) -> str | None:
    """``maps_to`` once what it names is known to exist and to fit the question."""
    maps_to = question.maps_to
    if maps_to is None or maps_to == "":
        return None
    label = question.label
    if maps_to in PROFILE_TARGETS:
        if question.type != "text":
            raise Invalid(
                "%(label)s: only a text question can fill the name, e-mail or phone.", label=label
            )
        return maps_to
    kind, _, ref = maps_to.partition(":")
    if kind == "field":
        try:
            field = await fields.field_by_key(db, ref)
        except NotFound:
            raise Invalid(
                "%(label)s: there is no profile field %(key)s.", label=label, key=ref
            ) from None
        if question.type == "consent":
            raise Invalid("%(label)s: a consent can only add a tag.", label=label)
        if question.type == "choice" and field.type in (FieldType.select, FieldType.multi_select):
            missing = [c for c in question.choices if c not in (field.options or [])]
            if missing:
                raise Invalid(
                    "%(label)s: %(choice)s is not a choice of the profile field %(field)s.",
                    label=label,
                    choice=missing[0],
                    field=field.label,
                )
        return f"field:{field.key}"
    if kind == "tag":
        tag_id = int(ref) if ref.isascii() and ref.isdigit() and len(ref) < 10 else None
        if tag_id is None or await db.get(Tag, tag_id) is None:
            raise Invalid("%(label)s: there is no tag %(tag)s.", label=label, tag=ref)
        return f"tag:{tag_id}"
    raise Invalid(
        "%(label)s: maps_to is field:<key>, tag:<id>, name, email or phone, not %(value)s.",
        label=label,
        value=maps_to,
    )


async def _checked_questions(db: AsyncSession, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise Invalid("A form needs at least one question.")
    if len(raw) > MAX_QUESTIONS:
        raise Invalid("A form can have at most %(n)d questions.", n=MAX_QUESTIONS)
    checked: list[dict[str, Any]] = []
    keys: set[str] = set()
    for item in raw:
        if not isinstance(item, Mapping):
            raise Invalid("Each question is an object with key, label and type.")
        key = values.check_key(_text_of(item.get("key", ""), "key", 50))
        if key in keys:
            raise Invalid("Two questions have the key %(key)s.", key=key)
        keys.add(key)
        label = _text_of(item.get("label", ""), "label", MAX_LABEL)
        if not label:
            raise Invalid("Give the question %(key)s a label.", key=key)
        kind = item.get("type")
        if kind not in QUESTION_TYPES:
            raise Invalid("%(label)s: type is text, choice, date, number or consent.", label=label)
        raw_choices = item.get("choices") or []
        if not isinstance(raw_choices, list):
            raise Invalid("%(label)s: choices is a list of texts.", label=label)
        choices = [_text_of(c, label, MAX_CHOICE) for c in raw_choices]
        choices = list(dict.fromkeys(c for c in choices if c))
        if kind == "choice" and not choices:
            raise Invalid("%(label)s: a choice question needs its choices.", label=label)
        if len(choices) > MAX_CHOICES:
            raise Invalid("%(label)s can have at most %(n)d choices.", label=label, n=MAX_CHOICES)
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise Invalid("%(label)s: required is true or false.", label=label)
        maps_to = item.get("maps_to")
        if maps_to is not None and not isinstance(maps_to, str):
            raise Invalid("%(label)s: maps_to is a text.", label=label)
        question = Question(
            key=key,
            label=label,
            type=str(kind),
            choices=tuple(choices) if kind == "choice" else (),
            required=required,
            maps_to=maps_to.strip() if maps_to else None,
        )
        question = Question(**{**question.__dict__, "maps_to": await _target(db, question)})
        checked.append(question.as_json())
    return checked


def _name(raw: Any) -> str:
    name = _text_of(raw, "name", MAX_NAME)
    if not name:
        raise Invalid("Give the form a name.")
    return name


async def _refuse_twin(db: AsyncSession, name: str, form_id: int | None = None) -> None:
    twin = select(Form.id).where(Form.name == name)
    if form_id is not None:
        twin = twin.where(Form.id != form_id)
    if await db.scalar(twin) is not None:
        raise Conflict("A form named %(name)s already exists.", name=name)


# --- the forms ----------------------------------------------------------------------------------


async def list_forms(db: AsyncSession) -> list[Form]:
    return list(await db.scalars(select(Form).order_by(Form.id)))


async def get_form(db: AsyncSession, *, form_id: int) -> Form:
    form = await db.get(Form, form_id) if is_id(form_id) else None
    if form is None:
        raise NotFound("No form with id %(id)s.", id=form_id)
    return form


async def open_form(db: AsyncSession, *, form_id: int) -> Form:
    """The form as its public page shows it: a closed one is not there."""
    form = await get_form(db, form_id=form_id)
    if form.closed:
        raise NotFound("No form with id %(id)s.", id=form_id)
    return form


def public_url(base_url: str, form: Form) -> str:
    return links.public_url(base_url, form.id)


async def create_form(ctx: Ctx, *, name: Any, fields: Any) -> Form:
    name = _name(name)
    await _refuse_twin(ctx.db, name)
    form = Form(
        name=name,
        fields=await _checked_questions(ctx.db, fields),
        closed=False,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(form)
    await ctx.db.flush()
    audit.record(
        ctx, action="form.created", subject=f"form {form.id}", name=form.name, after=_audited(form)
    )
    await ctx.commit()
    return form


def _audited(form: Form) -> dict[str, Any]:
    return {"name": form.name, "fields": list(form.fields), "closed": form.closed}


async def update_form(
    ctx: Ctx, *, form_id: int, name: Any = None, fields: Any = None, closed: bool | None = None
) -> Form:
    """Change the name, the questions or whether it is closed. Answers already given stay as
    they were sent."""
    form = await get_form(ctx.db, form_id=form_id)
    before = _audited(form)
    if name is not None:
        form.name = _name(name)
        await _refuse_twin(ctx.db, form.name, form.id)
    if fields is not None:
        form.fields = await _checked_questions(ctx.db, fields)
    if closed is not None:
        form.closed = closed
    form.updated_at = ctx.now()
    audit.record_changes(
        ctx,
        action="form.updated",
        subject=f"form {form.id}",
        name=form.name,
        before=before,
        after=_audited(form),
    )
    await ctx.commit()
    return form


async def delete_form(ctx: Ctx, *, form_id: int, actor: Member | None) -> None:
    """Delete it with its answers (what they filled in on contacts stays)."""
    form = await get_form(ctx.db, form_id=form_id)
    answers = await ctx.db.scalar(
        select(func.count()).select_from(FormAnswer).where(FormAnswer.form_id == form.id)
    )
    audit.record(
        ctx,
        actor=actor,
        action="form.deleted",
        subject=f"form {form.id}",
        name=form.name,
        before=_audited(form),
        detail={"name": form.name, "answers": int(answers or 0)},
    )
    await ctx.db.delete(form)
    await ctx.commit()


# --- who answers --------------------------------------------------------------------------------


async def contact_link(ctx: Ctx, *, form_id: int, contact_id: int) -> str:
    """The form's address for one contact (to send on LINE or Instagram): answering through
    it fills that contact. It works as long as the form does; it names nobody else. A text
    sent to contacts carries it as ``{{form:<id>}}`` (forms.links)."""
    form = await get_form(ctx.db, form_id=form_id)
    contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    key = await workspace.signing_key(ctx.db)
    await ctx.commit()  # a key made just now is kept, or the link would stop working
    return links.signed_url(ctx.settings.base_url, key, form_id=form.id, contact_id=contact.id)


@dataclass(frozen=True)
class Identity:
    """What the form's address carried to say who answers (all empty: nobody known)."""

    customer_link: str = ""  # ?c=: a customer link's token
    visitor: str = ""  # ?v=: a web chat visitor's token
    signed: str = ""  # ?k=: <contact id>.<signature> from contact_link

    @property
    def given(self) -> bool:
        return bool(self.customer_link or self.visitor or self.signed)


UNKNOWN_LINK = N_("This link does not work any more: open the form from a new link.")


async def identify(db: AsyncSession, form: Form, identity: Identity) -> Contact | None:
    """The contact the address names, None when it names nobody; a link that names someone
    no longer there (revoked, deleted, forged) is refused rather than taken as anonymous."""
    if not identity.given:
        return None
    contact: Contact | None = None
    if identity.customer_link:
        contact = await channels.linked_contact(db, identity.customer_link[:200])
    elif identity.visitor:
        key = await workspace.signing_key(db)
        found = channels.visitor_of(key, identity.visitor[:600])
        if found is not None:
            contact = await contacts.find_contact_by_channel(
                db, channel_id=found[0], external_id=found[1]
            )
    else:
        contact_id, _, signature = identity.signed[:200].partition(".")
        key = await workspace.signing_key(db)
        readable = contact_id.isascii() and contact_id.isdigit() and len(contact_id) < 10
        if readable and workspace.verify(key, links.link_text(form.id, int(contact_id)), signature):
            contact = await db.get(Contact, int(contact_id))
    if contact is None:
        raise NotFound(UNKNOWN_LINK)
    return contact


# --- answering ----------------------------------------------------------------------------------


class AnswerRefused(Invalid):
    """Answers that cannot be kept: the first reason as the sentence, every reason by key."""

    def __init__(self, problems: dict[str, DomainError]) -> None:
        first = next(iter(problems.values()))
        super().__init__(first.message, **first.params)
        self.problems = problems


REQUIRED = N_("%(label)s is required.")
CONSENT_REQUIRED = N_("%(label)s: please tick to agree.")


def _checked_answer(question: Question, raw: str | None) -> Any:
    """The answer as kept (None: not answered), or Invalid naming the question."""
    label = question.label
    if question.type == "consent":
        agreed = raw is not None and raw.strip().lower() in ("on", "true", "1", "yes")
        if question.required and not agreed:
            raise Invalid(CONSENT_REQUIRED, label=label)
        return agreed or None
    if raw is not None and not isinstance(raw, str):
        raise Invalid("%(label)s takes text.", label=label)
    value = values.coerce(
        _CHECKED_AS[question.type], storable(raw or ""), label=label, options=list(question.choices)
    )
    if value is None and question.required:
        raise Invalid(REQUIRED, label=label)
    return values.to_json(value)


def _check_name(value: Any) -> None:
    if len(str(value)) > contacts.MAX_NAME_LENGTH:
        raise Invalid(
            "The display name must be at most %(n)d characters.", n=contacts.MAX_NAME_LENGTH
        )


# Each question that fills the profile is checked by the rule the contact's own edit uses, so a
# refusal lands beside that question.
_PROFILE_CHECKS: dict[str, Callable[[Any], object]] = {
    "name": _check_name,
    "email": clean.email_address,
    "phone": clean.phone_number,
}


def check_answers(form: Form, given: Mapping[str, str]) -> dict[str, Any]:
    """Every question's answer checked; all the problems at once (:class:`AnswerRefused`)."""
    answers: dict[str, Any] = {}
    problems: dict[str, DomainError] = {}
    for question in questions(form):
        try:
            answers[question.key] = _checked_answer(question, given.get(question.key))
            if question.maps_to in _PROFILE_CHECKS and answers[question.key] is not None:
                _PROFILE_CHECKS[question.maps_to](answers[question.key])
        except DomainError as error:
            problems[question.key] = error
    if problems:
        raise AnswerRefused(problems)
    return answers


async def _fill(
    ctx: Ctx, form: Form, contact: Contact, answers: dict[str, Any], *, known: bool
) -> list[Event]:
    """Put the answers where their questions say, inside the caller's transaction; a value a
    profile field refuses is refused under the question that gave it."""
    events: list[Event] = []
    problems: dict[str, DomainError] = {}
    changes: dict[str, Any] = {}
    tag_ids: list[int] = []
    wrote_fields = False
    for question in questions(form):
        value = answers.get(question.key)
        if question.maps_to is None or value is None:
            continue
        kind, _, ref = question.maps_to.partition(":")
        try:
            if kind == "field":
                field = await fields.field_by_key(ctx.db, ref)
                await fields.write_value(ctx, contact_id=contact.id, field=field, raw=value)
                wrote_fields = True
            elif kind == "tag":
                await tags.get_tag(ctx.db, tag_id=int(ref))
                tag_ids.append(int(ref))
            else:
                changes[question.maps_to] = value
        except NotFound:
            # Deleted since the form was saved: the customer cannot help it, so the answer is
            # kept (with the form's answers) and only that part goes nowhere.
            continue
        except DomainError as error:
            problems[question.key] = error
    if "name" in changes and known:
        # A known contact keeps the name members know them by: a form does not rename them.
        del changes["name"]
    try:
        if changes:
            events += await contacts.apply_changes(
                ctx,
                contact,
                contacts.ContactChanges(
                    display_name=changes.get("name"),
                    rename="name" in changes,
                    email=changes.get("email"),
                    set_email="email" in changes,
                    phone=changes.get("phone"),
                    set_phone="phone" in changes,
                ),
            )
    except DomainError as error:  # checked above; a rule of theirs added since lands here
        problems[next(q.key for q in questions(form) if q.maps_to in changes)] = error
    if problems:
        raise AnswerRefused(problems)
    added = await tags.attach(ctx, contact_id=contact.id, tag_ids=tag_ids)
    if added:
        events.append(ContactUpdated(contact_id=contact.id, part="tags"))
        events += [TagAdded(contact_id=contact.id, tag_id=tag_id) for tag_id in added]
    if wrote_fields:
        events.append(ContactUpdated(contact_id=contact.id, part="fields"))
    return events


TOO_MANY_ANSWERS = N_(
    "Too many answers were sent from this network in a short time. "
    "Please try again in a few minutes."
)


def _throttle_key(address: str) -> str:
    return f"form-addr:{address[:300]}"


async def answer_form(
    ctx: Ctx,
    *,
    form_id: int,
    given: Mapping[str, str],
    identity: Identity = Identity(),
    address: str | None = None,
) -> FormAnswer:
    """Keep one answer: checked whole, then the contact (known, or new) filled, all or nothing.
    ``address``, the client's (behind trusted proxies: kit.proxies), throttles anonymous
    answers: over the limit, :class:`TooManyAttempts` and nothing is stored."""
    form = await open_form(ctx.db, form_id=form_id)
    contact = await identify(ctx.db, form, identity)
    throttle = _throttle_key(address) if contact is None and address is not None else None
    if throttle is not None and await members.throttled(ctx, [throttle]):
        raise TooManyAttempts(TOO_MANY_ANSWERS)
    answers = check_answers(form, given)
    if throttle is not None:
        # Counted before it is stored (on its own commit): a flood's rows cannot outrun it.
        await members.count_attempt(
            ctx,
            {throttle: ctx.settings.form_answers_per_address},
            window=timedelta(minutes=ctx.settings.form_answers_window_minutes),
        )
    async with ctx.atomic():
        events: list[Event] = []
        known = contact is not None
        if contact is None:
            named = next(
                (answers[q.key] for q in questions(form) if q.maps_to == "name" and answers[q.key]),
                None,
            )
            fallback = gettext_for(ctx.settings.default_language).gettext(ANONYMOUS_NAME)
            contact = await contacts.new_contact(
                ctx, display_name=named or fallback % {"form": form.name}
            )
            events.append(ContactCreated(contact_id=contact.id))
        events += await _fill(ctx, form, contact, answers, known=known)
        answer = FormAnswer(
            form_id=form.id, contact_id=contact.id, answers=answers, created_at=ctx.now()
        )
        ctx.db.add(answer)
        await ctx.db.flush()
        await triggers.note(
            ctx, triggers.Fact(triggers.FORM_ANSWERED, contact.id, subject_id=form.id)
        )
        events.append(FormAnswered(form_id=form.id, contact_id=contact.id, answer_id=answer.id))
        await ctx.commit(*events)
    return answer


# --- reading the answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerPage:
    answers: list[tuple[FormAnswer, Contact]]
    next_cursor: int | None


async def list_answers(
    db: AsyncSession, *, form_id: int, limit: int = 100, before_id: int | None = None
) -> AnswerPage:
    """A form's answers, newest first, each with who sent it."""
    await get_form(db, form_id=form_id)
    query = (
        select(FormAnswer, Contact)
        .join(Contact, Contact.id == FormAnswer.contact_id)
        .where(FormAnswer.form_id == form_id)
        .order_by(FormAnswer.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(FormAnswer.id < before_id)
    rows = [(answer, contact) for answer, contact in await db.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return AnswerPage(answers=rows, next_cursor=rows[-1][0].id if more and rows else None)


async def contact_answers(db: AsyncSession, *, contact_id: int) -> list[tuple[FormAnswer, Form]]:
    """What one contact answered, newest first, with each form."""
    rows = await db.execute(
        select(FormAnswer, Form)
        .join(Form, Form.id == FormAnswer.form_id)
        .where(FormAnswer.contact_id == contact_id)
        .order_by(FormAnswer.id.desc())
    )
    return [(answer, form) for answer, form in rows]


def shown_answer(value: Any, *, yes: str) -> str:
    """An answer as a cell or a line: a ticked consent is ``yes``, nothing is blank."""
    if value is None:
        return ""
    if value is True:
        return yes
    return str(value)


async def write_csv(
    db: AsyncSession,
    out: IO[str],
    *,
    form_id: int,
    language: str,
    timezone: str,
) -> None:
    """Every answer as a CSV row (newest first): when, who, then each question. Cells a
    spreadsheet would run as formulas are written as text (kit.spreadsheet)."""
    form = await get_form(db, form_id=form_id)
    words = gettext_for(language)
    zone = ZoneInfo(timezone)
    writer = CsvWriter(out)
    asked = questions(form)
    writer.writerow(
        [words.gettext("Answered at"), words.gettext("Customer ID"), words.gettext("Customer name")]
        + [q.label for q in asked]
    )
    yes = words.gettext("Yes")
    before: int | None = None
    while True:
        page = await list_answers(db, form_id=form.id, limit=500, before_id=before)
        for answer, contact in page.answers:
            at: datetime = answer.created_at.astimezone(zone)
            writer.writerow(
                [f"{at:%Y-%m-%d %H:%M}", contact.id, contact.display_name]
                + [shown_answer(answer.answers.get(q.key), yes=yes) for q in asked]
            )
        if page.next_cursor is None:
            return
        before = page.next_cursor


async def answer_counts(db: AsyncSession) -> dict[int, int]:
    """How many answers each form has."""
    rows = await db.execute(select(FormAnswer.form_id, func.count()).group_by(FormAnswer.form_id))
    return {int(form_id): int(count) for form_id, count in rows}


async def contact_links(ctx: Ctx, *, contact_id: int) -> list[tuple[Form, str]]:
    """Each open form with its address for this contact (the contact page offers them)."""
    return [
        (form, await contact_link(ctx, form_id=form.id, contact_id=contact_id))
        for form in await list_forms(ctx.db)
        if not form.closed
    ]
