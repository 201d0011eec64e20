"""Workspace settings: ステップ配信, step sequences. Each sequence is written as the owner says
it: when (a tag is added, a form answered, a first message, a record added), then each step
after so many minutes, hours or days with a text or a template, and when to stop; and who is
at which step now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from madoguchi.automation import templates, triggers
from madoguchi.broadcasts import segments, steps
from madoguchi.crm import records, tags
from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.ui.settings_pages import N_, FormText, SettingsPage, act, add_page, as_id, translated

router = APIRouter()

Rows = Annotated[list[str], Form()]
# Blank step rows offered under a sequence's steps.
BLANK_ROWS = 2
# Who is at which step, shown per sequence.
SHOWN_ENROLLMENTS = 50
UNITS = (
    ("minutes", 60, N_("minutes later")),
    ("hours", 3600, N_("hours later")),
    ("days", 86400, N_("days later")),
)
TRIGGER_LABELS = {
    triggers.TAG_ADDED: N_("After a tag is added"),
    triggers.FORM_ANSWERED: N_("After a form is answered"),
    triggers.RECORD_ADDED: N_("After a record is added"),
    triggers.FIRST_MESSAGE: N_("After a customer's first message"),
}
STATE_LABELS = {
    "active": N_("In progress"),
    "done": N_("Finished"),
    "stopped": N_("Stopped"),
}


def shown_delay(seconds: int) -> tuple[int, str]:
    """A delay in the largest unit it is a whole number of (minutes at least)."""
    for unit, size, _label in reversed(UNITS):
        if seconds and seconds % size == 0:
            return seconds // size, unit
    return round(seconds / 60), "minutes"


def trigger_value(sequence: Any) -> str:
    """The trigger as the form's select names it: ``tag.added:3``, ``first_message``."""
    if sequence.trigger_subject_id is None:
        return str(sequence.trigger_kind)
    return f"{sequence.trigger_kind}:{sequence.trigger_subject_id}"


def trigger_of_choice(value: str) -> dict[str, Any]:
    kind, _, subject = value.partition(":")
    key = steps.TRIGGER_SUBJECTS.get(kind)
    if kind not in steps.TRIGGER_SUBJECTS:
        raise Invalid("Choose when the sequence starts.")
    if key is None:
        return {"type": kind}
    return {"type": kind, key: as_id(subject)}


def steps_of(
    delay: list[str], unit: list[str], kind: list[str], text: list[str], template: list[str]
) -> list[dict[str, Any]]:
    """The form's rows as the service takes them; a row with neither text nor template is
    left out."""
    sizes = {name: size for name, size, _ in UNITS}
    found: list[dict[str, Any]] = []
    for n, (typed, per, what, words, chosen) in enumerate(
        zip(delay, unit, kind, text, template, strict=False), start=1
    ):
        if what == "template" and not chosen.strip():
            if not words.strip():
                continue
            raise Invalid("Step %(n)d: choose the template to send.", n=n)
        if what != "template" and not words.strip():
            continue
        typed = typed.strip() or "0"
        if not typed.isdigit() or per not in sizes:
            raise Invalid(
                "Step %(n)d: write the delay as a whole number of minutes, hours or days.", n=n
            )
        step: dict[str, Any] = {"delay_seconds": int(typed) * sizes[per]}
        if what == "template":
            step["template"] = as_id(chosen)
        else:
            step["text"] = words
        found.append(step)
    return found


async def _sequences(ctx: Ctx) -> dict[str, Any]:
    found = await steps.list_sequences(ctx.db)
    active = await steps.active_counts(ctx.db)
    tag_list = await tags.list_tags(ctx.db)
    form_list = await forms.list_forms(ctx.db)
    book_list = await records.list_books(ctx.db)
    template_list = await templates.list_templates(ctx.db)
    segment_list = await segments.list_segments(ctx.db)
    return {
        "sequences": found,
        "active": active,
        "enrollments": {
            s.id: await steps.list_enrollments(ctx.db, sequence_id=s.id, limit=SHOWN_ENROLLMENTS)
            for s in found
        },
        "tag_list": tag_list,
        "form_list": form_list,
        "book_list": book_list,
        "template_list": template_list,
        "segment_list": segment_list,
        "names": {
            "tag": {t.id: t.name for t in tag_list},
            "form": {f.id: f.name for f in form_list},
            "book": {b.id: b.name for b in book_list},
            "template": {t.id: t.name for t in template_list},
            "segment": {s.id: s.name for s in segment_list},
        },
        "subjects": steps.TRIGGER_SUBJECTS,
        "trigger_labels": TRIGGER_LABELS,
        "state_labels": STATE_LABELS,
        "units": UNITS,
        "blank_rows": BLANK_ROWS,
        "shown_delay": shown_delay,
        "trigger_value": trigger_value,
    }


SEQUENCES = SettingsPage("sequences", _sequences)

add_page(router, SEQUENCES)


def _draft(
    name: str,
    trigger: str,
    delay: list[str],
    unit: list[str],
    kind: list[str],
    text: list[str],
    template: list[str],
    stop_on_reply: str,
    stop_segment: str,
) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": trigger,
        "rows": [
            {"delay": d, "unit": u, "kind": k, "text": t, "template": p}
            for d, u, k, t, p in zip(delay, unit, kind, text, template, strict=False)
        ],
        "stop_on_reply": stop_on_reply,
        "stop_segment": stop_segment,
    }


@router.post("/settings/sequences")
async def add_sequence(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    trigger: FormText = "",
    delay: Rows = [],  # noqa: B006 - FastAPI copies defaults
    unit: Rows = [],  # noqa: B006
    kind: Rows = [],  # noqa: B006
    text: Rows = [],  # noqa: B006
    template: Rows = [],  # noqa: B006
    stop_on_reply: FormText = "",
    stop_segment: FormText = "",
) -> Response:
    async def create() -> object:
        return await steps.create_sequence(
            ctx,
            name=name,
            trigger=trigger_of_choice(trigger),
            steps=steps_of(delay, unit, kind, text, template),
            stop_on_reply=bool(stop_on_reply),
            stop_unless_segment=as_id(stop_segment),
            actor=member,
        )

    return await act(
        request,
        ctx,
        member,
        SEQUENCES,
        create,
        at="new-sequence",
        notice=translated(member, N_("The sequence is saved.")),
        draft=_draft(name, trigger, delay, unit, kind, text, template, stop_on_reply, stop_segment),
    )


@router.post("/settings/sequences/{sequence_id}/update")
async def update_sequence(
    sequence_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    trigger: FormText = "",
    delay: Rows = [],  # noqa: B006
    unit: Rows = [],  # noqa: B006
    kind: Rows = [],  # noqa: B006
    text: Rows = [],  # noqa: B006
    template: Rows = [],  # noqa: B006
    stop_on_reply: FormText = "",
    stop_segment: FormText = "",
    enabled: FormText = "",
) -> Response:
    async def change() -> object:
        return await steps.update_sequence(
            ctx,
            sequence_id=sequence_id,
            changes=steps.SequenceChanges(
                name=name,
                trigger=trigger_of_choice(trigger),
                steps=steps_of(delay, unit, kind, text, template),
                stop_on_reply=bool(stop_on_reply),
                stop_unless_segment=as_id(stop_segment),
                enabled=bool(enabled),
            ),
            actor=member,
        )

    return await act(
        request,
        ctx,
        member,
        SEQUENCES,
        change,
        at=f"sequence-{sequence_id}",
        draft=_draft(name, trigger, delay, unit, kind, text, template, stop_on_reply, stop_segment),
    )


@router.post("/settings/sequences/{sequence_id}/delete")
async def delete_sequence(
    sequence_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    async def delete() -> object:
        await steps.delete_sequence(ctx, sequence_id=sequence_id, actor=member)
        return None

    return await act(
        request,
        ctx,
        member,
        SEQUENCES,
        delete,
        at=f"sequence-{sequence_id}",
        notice_at="page",
        notice=translated(member, N_("The sequence is deleted.")),
    )
