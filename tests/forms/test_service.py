"""アンケート: forms checked when saved, answers checked whole and put where they map."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from madoguchi.automation import rules
from madoguchi.automation.models import Trigger
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.crm import fields, tags
from madoguchi.events.types import FormAnswered
from madoguchi.forms import service as forms
from madoguchi.forms.models import FormAnswer
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from tests.conftest import RecordingBus
from tests.fixtures import Factory


async def _salon_form(ctx: Ctx) -> tuple[forms.Form, int]:
    await fields.create_field(ctx, key="birthday", label="誕生日", type="date")
    await fields.create_field(ctx, key="visits", label="来店回数", type="number")
    await fields.create_field(
        ctx, key="menu", label="ご希望メニュー", type="select", options=["カット", "カラー"]
    )
    agreed = await tags.create_tag(ctx, actor=None, name="メルマガ同意")
    form = await forms.create_form(
        ctx,
        name="ご来店アンケート",
        fields=[
            {"key": "name", "label": "お名前", "type": "text", "required": True, "maps_to": "name"},
            {"key": "mail", "label": "メール", "type": "text", "maps_to": "email"},
            {"key": "birthday", "label": "誕生日", "type": "date", "maps_to": "field:birthday"},
            {"key": "visits", "label": "来店回数", "type": "number", "maps_to": "field:visits"},
            {
                "key": "menu",
                "label": "ご希望メニュー",
                "type": "choice",
                "choices": ["カット", "カラー"],
                "maps_to": "field:menu",
            },
            {
                "key": "agree",
                "label": "お知らせを受け取る",
                "type": "consent",
                "maps_to": f"tag:{agreed.id}",
            },
        ],
    )
    return form, agreed.id


async def _count(ctx: Ctx, model: Any) -> int:
    return int(await ctx.db.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_answer_fills_the_known_contacts_fields_tags_and_email(
    ctx: Ctx, factory: Factory
) -> None:
    form, agreed = await _salon_form(ctx)
    known = await contacts.create_contact(ctx, display_name="佐藤 美咲")
    link = await forms.contact_link(ctx, form_id=form.id, contact_id=known.id)
    signed = link.partition("?k=")[2]
    ctx.bus.published.clear()  # type: ignore[attr-defined]
    answer = await forms.answer_form(
        ctx,
        form_id=form.id,
        given={
            "name": "別の名前",
            "mail": "misaki@example.com",
            "birthday": "1990-04-01",
            "visits": "３",
            "menu": "カラー",
            "agree": "on",
        },
        identity=forms.Identity(signed=signed),
    )
    assert answer.contact_id == known.id
    assert answer.answers == {
        "name": "別の名前",
        "mail": "misaki@example.com",
        "birthday": "1990-04-01",
        "visits": 3,
        "menu": "カラー",
        "agree": True,
    }
    values = (await fields.contact_values(ctx.db, contact_ids=[known.id]))[known.id]
    assert values == {"birthday": "1990-04-01", "visits": 3, "menu": "カラー"}
    assert [t.id for t in (await tags.contact_tags(ctx.db, contact_ids=[known.id]))[known.id]] == [
        agreed
    ]
    await ctx.db.refresh(known)
    assert known.email == "misaki@example.com"
    assert known.display_name == "佐藤 美咲"  # a form does not rename someone members know
    published = ctx.bus.types()  # type: ignore[attr-defined]
    assert "tag.added" in published and "contact.updated" in published
    assert "contact.created" not in published


async def test_an_anonymous_answer_becomes_a_new_contact_named_by_the_answer(ctx: Ctx) -> None:
    form, _agreed = await _salon_form(ctx)
    answer = await forms.answer_form(ctx, form_id=form.id, given={"name": "高橋 健"})
    contact = await contacts.get_contact(ctx.db, contact_id=answer.contact_id)
    assert contact.display_name == "高橋 健"
    assert contact.channel_id is None
    assert "contact.created" in ctx.bus.types()  # type: ignore[attr-defined]


async def test_wrong_answers_are_refused_each_beside_its_question_and_nothing_is_kept(
    ctx: Ctx,
) -> None:
    form, _agreed = await _salon_form(ctx)
    contacts_before = await _count(ctx, Contact)
    with pytest.raises(forms.AnswerRefused) as refused:
        await forms.answer_form(
            ctx,
            form_id=form.id,
            given={"name": " ", "birthday": "4月1日", "visits": "三回", "menu": "パーマ"},
        )
    assert set(refused.value.problems) == {"name", "birthday", "visits", "menu"}
    assert str(refused.value.problems["name"]) == "お名前 is required."
    assert "takes a number" in str(refused.value.problems["visits"])
    assert refused.value.status_code == 422
    assert await _count(ctx, Contact) == contacts_before
    assert await _count(ctx, FormAnswer) == 0


async def test_a_kept_answer_is_announced_as_form_answered_once_it_is_stored(
    ctx: Ctx, database: Database
) -> None:
    form, _agreed = await _salon_form(ctx)
    bus: RecordingBus = ctx.bus  # type: ignore[assignment]
    with pytest.raises(forms.AnswerRefused):
        await forms.answer_form(ctx, form_id=form.id, given={"name": ""})
    assert "form.answered" not in bus.types()  # nothing stored, nothing announced
    answer = await forms.answer_form(ctx, form_id=form.id, given={"name": "高橋 健"})
    [event] = [e for e in bus.published if isinstance(e, FormAnswered)]
    assert event == FormAnswered(form_id=form.id, contact_id=answer.contact_id, answer_id=answer.id)
    assert event.frame()["type"] == "form.answered" and event.member_id is None
    # Published after the commit: another session already reads the answer.
    async with database.read_sessions() as session:
        assert await session.get(FormAnswer, event.answer_id) is not None


async def test_a_value_the_profile_refuses_undoes_the_whole_answer(ctx: Ctx) -> None:
    form, _agreed = await _salon_form(ctx)
    with pytest.raises(forms.AnswerRefused) as refused:
        await forms.answer_form(
            ctx,
            form_id=form.id,
            given={"name": "新しい人", "mail": "not an address", "visits": "2"},
        )
    assert set(refused.value.problems) == {"mail"}
    assert await _count(ctx, Contact) == 0
    assert await _count(ctx, FormAnswer) == 0


async def test_maps_to_must_name_a_field_or_tag_that_exists(ctx: Ctx) -> None:
    def one(maps_to: str, kind: str = "text") -> list[dict[str, Any]]:
        return [{"key": "q", "label": "質問", "type": kind, "maps_to": maps_to}]

    for maps_to, kind, words in (
        ("field:nothing", "text", "no profile field nothing"),
        ("tag:999", "text", "no tag 999"),
        ("tag:abc", "text", "no tag abc"),
        ("address", "text", "maps_to is field:<key>"),
        ("email", "number", "only a text question"),
    ):
        with pytest.raises(Invalid, match=words):
            await forms.create_form(ctx, name="アンケート", fields=one(maps_to, kind))
    with pytest.raises(Invalid, match="needs its choices"):
        await forms.create_form(
            ctx, name="アンケート", fields=[{"key": "q", "label": "質問", "type": "choice"}]
        )
    with pytest.raises(Invalid, match="at least one question"):
        await forms.create_form(ctx, name="アンケート", fields=[])
    assert await forms.list_forms(ctx.db) == []
    await forms.create_form(ctx, name="アンケート", fields=one(""))
    with pytest.raises(Conflict):
        await forms.create_form(ctx, name="アンケート", fields=one(""))


async def test_a_closed_form_and_a_forged_link_are_not_found(ctx: Ctx) -> None:
    form, _agreed = await _salon_form(ctx)
    known = await contacts.create_contact(ctx, display_name="佐藤 美咲")
    signed = (await forms.contact_link(ctx, form_id=form.id, contact_id=known.id)).partition("?k=")[
        2
    ]
    forged = f"{known.id + 1}.{signed.partition('.')[2]}"
    with pytest.raises(NotFound):
        await forms.answer_form(
            ctx, form_id=form.id, given={"name": "x"}, identity=forms.Identity(signed=forged)
        )
    with pytest.raises(NotFound):
        await forms.answer_form(
            ctx, form_id=form.id, given={"name": "x"}, identity=forms.Identity(customer_link="x")
        )
    await forms.update_form(ctx, form_id=form.id, closed=True)
    with pytest.raises(NotFound):
        await forms.answer_form(ctx, form_id=form.id, given={"name": "x"})
    assert await _count(ctx, FormAnswer) == 0


async def test_an_answer_is_noted_for_automation_in_its_own_transaction(ctx: Ctx) -> None:
    form, _agreed = await _salon_form(ctx)
    # A rule waits for answers (a fact nothing waits for is not noted).
    await rules.create_rule(
        ctx, name="回答", when="form.answered", conditions=[], actions=[{"type": "close"}]
    )
    answer = await forms.answer_form(ctx, form_id=form.id, given={"name": "鈴木"})
    noted = (
        await ctx.db.execute(
            select(Trigger.kind, Trigger.contact_id, Trigger.subject_id).where(
                Trigger.kind == "form.answered"
            )
        )
    ).all()
    assert noted == [("form.answered", answer.contact_id, form.id)]
    # A refused answer notes nothing.
    with pytest.raises(NotFound):
        await forms.answer_form(
            ctx, form_id=form.id, given={"name": "x"}, identity=forms.Identity(customer_link="x")
        )
    assert await ctx.db.scalar(select(func.count()).where(Trigger.kind == "form.answered")) == 1


async def test_a_required_consent_must_be_ticked_and_choices_must_fit_the_field(
    ctx: Ctx,
) -> None:
    await fields.create_field(
        ctx, key="menu", label="メニュー", type="select", options=["カット", "カラー"]
    )
    with pytest.raises(Invalid, match="パーマ is not a choice of the profile field"):
        await forms.create_form(
            ctx,
            name="メニュー調査",
            fields=[
                {
                    "key": "menu",
                    "label": "ご希望",
                    "type": "choice",
                    "choices": ["カット", "パーマ"],
                    "maps_to": "field:menu",
                }
            ],
        )
    with pytest.raises(Invalid, match="a consent can only add a tag"):
        await forms.create_form(
            ctx,
            name="同意",
            fields=[{"key": "ok", "label": "同意", "type": "consent", "maps_to": "field:menu"}],
        )
    form = await forms.create_form(
        ctx,
        name="同意",
        fields=[{"key": "ok", "label": "規約に同意する", "type": "consent", "required": True}],
    )
    with pytest.raises(forms.AnswerRefused) as refused:
        await forms.answer_form(ctx, form_id=form.id, given={"ok": ""})
    assert str(refused.value) == "規約に同意する: please tick to agree."
    answer = await forms.answer_form(ctx, form_id=form.id, given={"ok": "on"})
    assert answer.answers == {"ok": True}
    contact = await contacts.get_contact(ctx.db, contact_id=answer.contact_id)
    # Named in the workspace's language when the answers give no name.
    assert contact.display_name == "アンケート回答者（同意）"


async def test_a_contacts_form_link_still_works_after_a_restart(ctx: Ctx, database: Any) -> None:
    from madoguchi.workspace import service as workspace

    form, _agreed = await _salon_form(ctx)
    known = await contacts.create_contact(ctx, display_name="佐藤 美咲")
    workspace.forget_kept()  # a fresh workspace: no key made yet
    # The first use of the key is in a transaction that is rolled back (a GET's).
    async with database.read_sessions() as session:
        await workspace.signing_key(session)
        await session.rollback()
    signed = (await forms.contact_link(ctx, form_id=form.id, contact_id=known.id)).partition("?k=")[
        2
    ]
    workspace.forget_kept()  # the process restarts
    answer = await forms.answer_form(
        ctx, form_id=form.id, given={"name": "x"}, identity=forms.Identity(signed=signed)
    )
    assert answer.contact_id == known.id


async def test_a_field_or_tag_deleted_since_the_form_was_saved_does_not_refuse_the_customer(
    ctx: Ctx,
) -> None:
    form, agreed = await _salon_form(ctx)
    visits = await fields.field_by_key(ctx.db, "visits")
    await fields.delete_field(ctx, field_id=visits.id)
    await tags.delete_tag(ctx, actor=None, tag_id=agreed)
    answer = await forms.answer_form(
        ctx, form_id=form.id, given={"name": "田中", "visits": "2", "agree": "on", "menu": "カット"}
    )
    assert answer.answers["visits"] == 2 and answer.answers["agree"] is True
    values = await fields.contact_values(ctx.db, contact_ids=[answer.contact_id])
    assert values[answer.contact_id] == {"menu": "カット"}
