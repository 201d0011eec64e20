"""ルール (F28): when something happens and the conditions hold, the actions are done once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from madoguchi import jobs
from madoguchi.automation import rules, runner, templates, triggers
from madoguchi.automation.models import Rule, RuleRun, Trigger
from madoguchi.broadcasts import steps
from madoguchi.broadcasts.models import EnrollmentState, SequenceEnrollment
from madoguchi.config import Settings
from madoguchi.contacts.models import Contact
from madoguchi.conversations import workflow
from madoguchi.conversations.models import Conversation, ConversationFollower, Message
from madoguchi.crm import fields, records, statuses, tags
from madoguchi.crm.models import ContactTag
from madoguchi.events import InProcessBus
from madoguchi.events.types import MessageCreated
from madoguchi.jobs import TickResult, Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from tests.conftest import RecordingBus
from tests.fixtures import Factory, auth, statements_run


def worker(settings: Settings, database: Database, **kwargs: object) -> Worker:
    return Worker(settings=settings, database=database, bus=InProcessBus(), **kwargs)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, database: Database
) -> AsyncIterator[tuple[Worker, InProcessBus]]:
    """A worker running as ``serve`` runs it, with its bus, its ticks two minutes apart: what it
    does meanwhile it does because it heard an event. Yields once its first tick is done."""
    bus = InProcessBus()
    slow = settings.model_copy(update={"worker_interval": 120.0})
    running = Worker(settings=slow, database=database, bus=bus)
    # Its first tick, waited for: on a loaded machine it outlasted the half second once, and its
    # steps (a push sent) fell among what a test watched the worker do for an event.
    ticked = asyncio.Event()
    tick = running.tick

    async def first_tick(now: datetime | None = None) -> TickResult:
        try:
            return await tick(now)
        finally:
            ticked.set()

    running.tick = first_tick  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    try:
        await asyncio.sleep(0.5)  # its subscription taken; the next tick in two minutes
        await asyncio.wait_for(ticked.wait(), 30)
        yield running, bus
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _returns_rule(ctx: Ctx, factory: Factory) -> tuple[Rule, dict[str, int]]:
    aya = await factory.member(name="aya")
    tag = await tags.create_tag(ctx, actor=None, name="返品")
    template = await templates.create_template(
        ctx, name="返品について", text="{name}様、返品の件承りました。"
    )
    rule = await rules.create_rule(
        ctx,
        name="返品・交換",
        when="message.received",
        conditions=[{"field": "text", "op": "contains_any", "value": ["返品", "交換"]}],
        actions=[
            {"type": "assign", "member_id": aya.id},
            {"type": "add_tag", "tag_id": tag.id},
            {"type": "set_memo", "text": "返品の相談"},
            {"type": "send_template", "template_id": template.id},
        ],
    )
    return rule, {"aya": aya.id, "tag": tag.id, "template": template.id}


async def test_a_matching_message_is_assigned_tagged_memoed_and_answered_once(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    rule, made = await _returns_rule(ctx, factory)
    rule_id = rule.id
    channel = await factory.channel()
    returned = await factory.inbound(channel, contact="c1", text="商品を返品したいです")
    other = await factory.inbound(channel, contact="c2", text="予約したいです")
    returned_id, returned_contact, other_id = (
        returned.conversation.id,
        returned.conversation.contact_id,
        other.conversation.id,
    )
    # Noted with the message, in its transaction.
    assert await ctx.db.scalar(select(func.count()).select_from(Trigger)) >= 2
    await ctx.db.rollback()  # the worker is the writer now

    result = await worker(settings, database).tick()
    assert result.automated >= 1
    async with database.read_sessions() as db:
        conversation = await db.get(Conversation, returned_id)
        assert conversation is not None
        assert conversation.assignee_id == made["aya"]
        assert conversation.memo == "返品の相談"
        contact_tags = set(
            await db.scalars(
                select(ContactTag.tag_id).where(ContactTag.contact_id == returned_contact)
            )
        )
        assert contact_tags == {made["tag"]}
        texts = list(
            await db.scalars(
                select(Message.text)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.id)
            )
        )
        assert texts[0] == "商品を返品したいです"
        assert "山田 花子様、返品の件承りました。" in texts
        assert any("返品・交換" in text and "aya" in text for text in texts)  # the system line
        untouched = await db.get(Conversation, other_id)
        assert untouched is not None and untouched.assignee_id is None
        runs = await rules.list_runs(db, rule_id=rule_id)
        assert [(r.result, r.conversation_id) for r in runs] == [("done", conversation.id)]
        assert "assigned aya" in runs[0].detail and "返品について" in runs[0].detail
        # What the rule did (a tag added) is a fact nothing waits for: not noted.
        assert list(await db.scalars(select(Trigger.kind))) == []

    # A second worker, or a restart, finds nothing left to do.
    again = await worker(settings, database).tick()
    assert again.automated == 0
    async with database.read_sessions() as db:
        assert len(await rules.list_runs(db, rule_id=rule_id)) == 1


async def test_a_rules_own_text_is_filled_in_for_the_customer_as_a_broadcasts_is(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    await fields.create_field(ctx, key="points", label="ポイント", type="number")
    await rules.create_rule(
        ctx,
        name="お礼",
        when="message.received",
        conditions=[{"field": "text", "op": "contains_any", "value": ["ありがとう"]}],
        actions=[
            {"type": "send_text", "text": "{{name}}様、{{points}}ポイントです。{channel_name}"}
        ],
    )
    channel = await factory.channel()
    thanked = await factory.inbound(channel, contact="c1", name="佐藤 美咲", text="ありがとう")
    conversation_id, contact_id = thanked.conversation.id, thanked.conversation.contact_id
    await fields.set_value(ctx, contact_id=contact_id, key="points", value=120)
    await ctx.db.rollback()
    await worker(settings, database).tick()
    async with database.read_sessions() as db:
        sent = list(
            await db.scalars(
                select(Message.text).where(
                    Message.conversation_id == conversation_id, Message.kind == "reply"
                )
            )
        )
    assert sent == ["佐藤 美咲様、120ポイントです。佐藤 美咲"]


async def test_two_workers_at_once_run_each_trigger_once(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    rule, _made = await _returns_rule(ctx, factory)
    channel = await factory.channel()
    for n in range(6):
        await factory.inbound(channel, contact=f"c{n}", text=f"交換できますか {n}")
    first, second = worker(settings, database), worker(settings, database)
    await asyncio.gather(runner.run_due(first.ctx), runner.run_due(second.ctx))
    async with database.read_sessions() as db:
        runs = await rules.list_runs(db, rule_id=rule.id)
        assert len(runs) == 6 and {r.result for r in runs} == {"done"}
        assert len({r.contact_id for r in runs}) == 6


async def test_round_robin_takes_turns_and_a_follower_is_added(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    aya, ken = await factory.member(name="aya"), await factory.member(name="ken")
    await rules.create_rule(
        ctx,
        name="順番に担当",
        when="conversation.opened",
        conditions=[],
        actions=[
            {"type": "assign", "round_robin": [aya.id, ken.id]},
            {"type": "add_follower", "member_id": ken.id},
        ],
    )
    channel = await factory.channel()
    for n in range(3):
        await factory.inbound(channel, contact=f"rr{n}", text="こんにちは")
    # The API channel cannot send: the text fails, and the tag added before it is undone.
    await worker(settings, database).tick()
    async with database.read_sessions() as db:
        assignees = list(
            await db.scalars(select(Conversation.assignee_id).order_by(Conversation.id))
        )
        assert assignees == [aya.id, ken.id, aya.id]
        followers = list(
            await db.scalars(
                select(ConversationFollower.member_id).order_by(
                    ConversationFollower.conversation_id
                )
            )
        )
        assert followers == [ken.id, ken.id]  # not on the second: ken is its assignee


async def test_a_failing_action_undoes_the_whole_rule_and_the_run_says_why(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    aya = await factory.member(name="aya")
    member_tag = await tags.create_tag(ctx, actor=None, name="会員")
    seen = await tags.create_tag(ctx, actor=None, name="確認済み")
    failing = await rules.create_rule(
        ctx,
        name="会員は aya に",
        when="tag.added",
        conditions=[{"field": "added_tag", "op": "in", "value": [member_tag.id]}],
        actions=[{"type": "add_tag", "tag_id": seen.id}, {"type": "assign", "member_id": aya.id}],
    )
    # A contact who never wrote has no conversation to assign: the tag added first is undone.
    from madoguchi.contacts import service as contacts

    contact = await contacts.new_contact(ctx, display_name="電話のお客様")
    await tags.add_tag(ctx, contact_id=contact.id, tag_id=member_tag.id)
    await worker(settings, database).tick()
    async with database.read_sessions() as db:
        runs = await rules.list_runs(db, rule_id=failing.id)
        assert [(r.result, r.detail) for r in runs] == [
            ("failed", "This contact has no conversation to act on.")
        ]
        assert runs[0].said == [["This contact has no conversation to act on.", {}]]
        held = set(await db.scalars(select(ContactTag.tag_id)))
        assert held == {member_tag.id}
        stored = await db.get(Rule, failing.id)
        assert stored is not None and stored.enabled  # a failure is not a deleted target


async def test_a_rule_never_starts_on_its_own_change_and_two_rules_cannot_ping_pong(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    vip = await tags.create_tag(ctx, actor=None, name="VIP")
    gold = await tags.create_tag(ctx, actor=None, name="ゴールド")
    first = await rules.create_rule(
        ctx,
        name="VIPならゴールド",
        when="tag.added",
        conditions=[{"field": "added_tag", "op": "in", "value": [vip.id]}],
        actions=[{"type": "add_tag", "tag_id": gold.id}, {"type": "add_tag", "tag_id": vip.id}],
    )
    second = await rules.create_rule(
        ctx,
        name="タグが付いたらVIP",
        when="tag.added",
        conditions=[],
        actions=[{"type": "add_tag", "tag_id": vip.id}],
    )
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="loop", text="こんにちは")
    await tags.add_tag(ctx, contact_id=ingested.conversation.contact_id, tag_id=vip.id)
    for _ in range(10):
        await worker(settings, database).tick()
    async with database.read_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Trigger)) == 0
        first_runs = await rules.list_runs(db, rule_id=first.id)
        second_runs = await rules.list_runs(db, rule_id=second.id)
    # The member's VIP: the first runs (gold added), the second runs on VIP and on gold (VIP
    # already there: nothing new), and neither runs again on what it caused.
    assert len(first_runs) == 1
    assert len(second_runs) == 2
    assert all(run.result == "done" for run in first_runs + second_runs)


async def test_what_a_rule_causes_carries_its_chain_and_stops_a_few_rules_deep(
    ctx: Ctx, factory: Factory
) -> None:
    tag = await tags.create_tag(ctx, actor=None, name="紹介")
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="chain", text="こんにちは")
    contact_id = ingested.conversation.contact_id
    # A rule waits for a tag added (else the facts are not noted).
    rule = await rules.create_rule(
        ctx, name="紹介", when="tag.added", conditions=[], actions=[{"type": "close"}]
    )
    await ctx.db.execute(Trigger.__table__.delete())
    fact = triggers.Fact("tag.added", contact_id, subject_id=tag.id)
    with triggers.caused_by((7, 9)):
        await triggers.note(ctx, fact)
    with triggers.caused_by(tuple(range(triggers.MAX_CHAIN))):
        await triggers.note(ctx, fact)
    await triggers.note(ctx, fact)
    await ctx.db.commit()
    chains = list(await ctx.db.scalars(select(Trigger.chain).order_by(Trigger.id)))
    assert chains == [[7, 9], []]
    # A rule in the chain does not run on it.
    noted = await ctx.db.scalar(select(Trigger).order_by(Trigger.id).limit(1))
    assert noted is not None
    noted.chain = [rule.id]
    async with ctx.atomic():
        assert await rules.run_rules(ctx, noted, [rule]) == 0
    noted.chain = []
    async with ctx.atomic():
        assert await rules.run_rules(ctx, noted, [rule]) == 1


async def test_a_rule_whose_tag_was_deleted_is_switched_off_with_the_reason(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    rule, made = await _returns_rule(ctx, factory)
    owner = await factory.member(role="owner")
    await tags.delete_tag(ctx, tag_id=made["tag"], actor=owner)
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="c1", text="返品です")
    await worker(settings, database).tick()
    async with database.read_sessions() as db:
        stored = await db.get(Rule, rule.id)
        assert stored is not None and not stored.enabled
        assert "No tag with id" in stored.off_reason
        runs = await rules.list_runs(db, rule_id=rule.id)
        assert [r.result for r in runs] == ["failed"]
        conversation = await db.get(Conversation, ingested.conversation.id)
        assert conversation is not None and conversation.assignee_id is None  # nothing done
    # Switched back on, it is checked again: refused while the tag is missing.
    with pytest.raises(NotFound):
        await rules.update_rule(ctx, rule_id=rule.id, changes=rules.RuleChanges(enabled=True))


async def test_conditions_on_channel_tag_field_status_time_and_assignee(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    vip = await tags.create_tag(ctx, actor=None, name="VIP")
    status = await statuses.create_status(ctx, name="常連")
    done = await tags.create_tag(ctx, actor=None, name="対象")
    line = await factory.channel(name="API 2")
    await rules.create_rule(
        ctx,
        name="昼のVIP",
        when="message.received",
        conditions=[
            {"field": "channel", "op": "in", "value": [line.id]},
            {"field": "tag", "op": "has", "value": vip.id},
            {"field": "status", "op": "in", "value": [status.id]},
            {"field": "assignee", "op": "not_set"},
            {"field": "time", "op": "between", "value": ["09:00", "18:00"]},
            {"field": "weekday", "op": "in", "value": [0, 1, 2, 3, 4]},
        ],
        actions=[{"type": "add_tag", "tag_id": done.id}],
    )
    first = await factory.inbound(line, contact="vip", text="こんにちは")
    contact_id = first.conversation.contact_id
    await factory.tag_and_status(contact_id, tag_id=vip.id, status_id=status.id)
    # Wednesday 2026-12-02 12:00 in Tokyo (03:00 UTC): every condition holds.
    noon = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    await factory.inbound(line, contact="vip", text="二通目")
    await worker(settings, database, clock=lambda: noon).tick()
    async with database.read_sessions() as db:
        assert (
            await db.scalar(
                select(func.count()).where(
                    ContactTag.contact_id == contact_id, ContactTag.tag_id == done.id
                )
            )
            == 1
        )
    # At night (22:00 Tokyo) the same message does nothing.
    await ctx.db.execute(ContactTag.__table__.delete().where(ContactTag.tag_id == done.id))
    await ctx.db.commit()
    await factory.inbound(line, contact="vip", text="三通目")
    night = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    await worker(settings, database, clock=lambda: night).tick()
    async with database.read_sessions() as db:
        assert await db.scalar(select(func.count()).where(ContactTag.tag_id == done.id)) == 0


async def test_bad_rules_are_refused_with_a_sentence_and_nothing_is_stored(
    ctx: Ctx, factory: Factory
) -> None:
    tag = await tags.create_tag(ctx, actor=None, name="返品")
    aya = await factory.member(name="aya")
    bad: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"when": "sometime"}, Invalid, "when is one of"),
        ({"actions": []}, Invalid, "at least one action"),
        ({"actions": [{"type": "explode"}]}, Invalid, "Each action has a type"),
        ({"actions": [{"type": "add_tag", "tag_id": 999}]}, NotFound, "No tag with id 999"),
        ({"actions": [{"type": "assign", "member_id": 999}]}, NotFound, "No member"),
        ({"actions": [{"type": "assign", "round_robin": [aya.id]}]}, Invalid, "two members"),
        ({"actions": [{"type": "send_template", "template_id": 5}]}, NotFound, "template"),
        ({"conditions": [{"field": "text", "op": "contains_any", "value": []}]}, Invalid, "words"),
        ({"conditions": [{"field": "field.nope", "op": "eq", "value": "x"}]}, NotFound, "nope"),
        (
            {"conditions": [{"field": "time", "op": "between", "value": ["25:00", "1"]}]},
            Invalid,
            "HH:MM",
        ),
        ({"conditions": [{"field": "colour", "op": "eq", "value": 1}]}, Invalid, "field is one of"),
        (
            {"when": "tag.added", "conditions": [{"field": "text", "op": "equals", "value": "x"}]},
            Invalid,
            "starts on a message",
        ),
        (
            {"conditions": [{"field": "added_tag", "op": "in", "value": [tag.id]}]},
            Invalid,
            "tag.added",
        ),
        (
            {"actions": [{"type": "send_text", "text": "{{name}}様 {{points}}pt"}]},
            Invalid,
            "points",
        ),
    ]
    for change, error, words in bad:
        body: dict[str, object] = {
            "name": "返品",
            "when": "message.received",
            "conditions": [],
            "actions": [{"type": "add_tag", "tag_id": tag.id}],
            **change,
        }
        with pytest.raises(error, match=words):
            await rules.create_rule(ctx, **body)  # type: ignore[arg-type]
    assert await ctx.db.scalar(select(func.count()).select_from(Rule)) == 0
    await rules.create_rule(
        ctx, name="返品", when="message.received", conditions=[], actions=[{"type": "close"}]
    )
    with pytest.raises(Conflict):
        await rules.create_rule(
            ctx, name="返品", when="message.received", conditions=[], actions=[{"type": "close"}]
        )


async def test_record_and_form_triggers_and_rule_events(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    book = await records.create_book(ctx, name="来店記録", fields=[])
    tag = await tags.create_tag(ctx, actor=None, name="来店済み")
    rule = await rules.create_rule(
        ctx,
        name="来店したらタグ",
        when="record.added",
        conditions=[{"field": "book", "op": "in", "value": [book.id]}],
        actions=[{"type": "add_tag", "tag_id": tag.id}, {"type": "close"}],
    )
    assert isinstance(ctx.bus, RecordingBus) and "rules.changed" in ctx.bus.types()
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="visit", text="予約します")
    contact_id = ingested.conversation.contact_id
    await records.create_record(
        ctx, contact_id=contact_id, book=book.id, at=datetime.now(UTC), values_={}, author=None
    )
    await worker(settings, database).tick()
    async with database.read_sessions() as db:
        assert await db.scalar(select(func.count()).where(ContactTag.contact_id == contact_id)) == 1
        conversation = await db.get(Conversation, ingested.conversation.id)
        assert conversation is not None and conversation.state == "closed"
        texts = list(await db.scalars(select(Message.text).where(Message.kind == "system")))
        assert any("来店したらタグ" in text for text in texts)
        assert [r.result for r in await rules.list_runs(db, rule_id=rule.id)] == ["done"]
    # A deleted contact takes its pending triggers with it; the runs stay, without the contact.
    member = await factory.member(role="owner")
    await workflow.delete_contact(ctx, contact_id=contact_id, actor=member)
    async with database.read_sessions() as db:
        assert await db.get(Contact, contact_id) is None
        assert await db.scalar(select(func.count()).select_from(RuleRun)) == 1


async def test_rules_through_the_api_per_contract(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx, settings: Settings, database: Database
) -> None:
    owner = await factory.member(role="owner")
    owner_token = await factory.token(owner)
    agent_token = await factory.token(await factory.member(role="agent"))
    aya = await factory.member(name="aya")
    tag = await tags.create_tag(ctx, actor=None, name="返品")
    url = "/api/v1/rules"
    body = {
        "name": "返品・交換",
        "when": "message.received",
        "conditions": [{"field": "text", "op": "contains_any", "value": ["返品", "交換"]}],
        "actions": [{"type": "assign", "member_id": aya.id}, {"type": "add_tag", "tag_id": tag.id}],
    }
    assert (await client.post(url, json=body, headers=auth(agent_token))).status_code == 403
    made = await client.post(url, json=body, headers=auth(owner_token))
    assert made.status_code == 201, made.text
    rule = made.json()
    assert rule["enabled"] is True and rule["off_reason"] == ""
    assert rule["actions"] == [
        {"type": "assign", "member_id": aya.id},
        {"type": "add_tag", "tag_id": tag.id},
    ]
    listed = (await client.get(url, headers=auth(agent_token))).json()["items"]
    assert [r["name"] for r in listed] == ["返品・交換"]
    for bad, status in (
        ({**body, "name": "x", "when": "never"}, 422),
        ({**body, "name": "x", "actions": [{"type": "add_tag", "tag_id": 999}]}, 404),
        ({**body, "name": "x", "actions": [{"type": "assign", "member_id": 2**40}]}, 422),
        ({**body, "name": "x", "conditions": [{"field": "text", "op": "contains_any"}]}, 422),
        ({**body}, 409),
        ({**body, "name": "x", "extra": 1}, 422),
    ):
        refused = await client.post(url, json=bad, headers=auth(owner_token))
        assert refused.status_code == status, (bad, refused.text)
        assert refused.json()["detail"]
    rule_url = f"{url}/{rule['id']}"
    off = await client.patch(rule_url, json={"enabled": False}, headers=auth(owner_token))
    assert off.status_code == 200 and off.json()["enabled"] is False
    bad_patch = await client.patch(
        rule_url,
        json={
            "actions": [{"type": "close"}],
            "when": "tag.added",
            "conditions": [{"field": "text", "op": "equals", "value": "x"}],
        },
        headers=auth(owner_token),
    )
    assert bad_patch.status_code == 422 and "starts on a message" in bad_patch.json()["detail"]
    on = await client.patch(rule_url, json={"enabled": True}, headers=auth(owner_token))
    assert on.status_code == 200 and on.json()["enabled"] is True

    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="api", text="交換をお願いします")
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    runs = await client.get(f"{rule_url}/runs", headers=auth(agent_token))
    assert runs.status_code == 200
    [run] = runs.json()["items"]
    assert run["result"] == "done" and run["conversation_id"] == ingested.conversation.id
    assert set(run) == {"at", "contact_id", "conversation_id", "result", "detail"}
    assert (await client.get(f"{url}/999/runs", headers=auth(owner_token))).status_code == 404
    assert (await client.delete(rule_url, headers=auth(agent_token))).status_code == 403
    assert (await client.delete(rule_url, headers=auth(owner_token))).status_code == 204
    assert (await client.get(rule_url, headers=auth(owner_token))).status_code == 404


async def test_the_settings_page_writes_a_rule_as_when_if_then_in_japanese(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx, settings: Settings, database: Database
) -> None:
    from tests.ui.conftest import HTML, HTMX, sign_in

    aya = await factory.member(name="aya")
    ken = await factory.member(name="ken")
    tag = await tags.create_tag(ctx, actor=None, name="返品")
    await sign_in(client, await factory.member(role="agent", name="美咲"))
    refused = await client.post("/settings/rules", data={"name": "x"}, headers=HTMX)
    assert refused.status_code == 403
    await sign_in(client, await factory.member(role="owner", name="店長"))
    page = (await client.get("/settings/rules", headers=HTML)).text
    assert "ルールはまだありません" in page and "メッセージを受け取ったとき" in page
    empty = await client.post(
        "/settings/rules",
        data={"name": "返品・交換", "when": "message.received", "if_words": "返品、交換"},
        headers=HTMX,
    )
    assert empty.status_code == 422
    assert "アクションを1つ以上" in empty.text
    assert 'value="返品、交換"' in empty.text  # what was typed is kept
    added = await client.post(
        "/settings/rules",
        data={
            "name": "返品・交換",
            "when": "message.received",
            "if_words": "返品、交換",
            "if_words_match": "contains_any",
            "do_assign": "round_robin",
            "do_round_robin": [str(aya.id), str(ken.id)],
            "do_tag": str(tag.id),
            "do_memo": "返品の相談",
        },
        headers=HTMX,
    )
    assert added.status_code == 200, added.text
    assert "ルール「返品・交換」を追加しました。" in added.text
    [rule] = (await client.get("/api/v1/rules")).json()["items"]
    assert rule["conditions"] == [
        {"field": "text", "op": "contains_any", "value": ["返品", "交換"]}
    ]
    assert rule["actions"] == [
        {"type": "assign", "round_robin": [aya.id, ken.id]},
        {"type": "add_tag", "tag_id": tag.id},
        {"type": "set_memo", "text": "返品の相談"},
    ]
    channel = await factory.channel()
    await factory.inbound(channel, contact="ui", text="返品できますか")
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    shown = (await client.get("/settings/rules", headers=HTML)).text
    assert "最近の実行" in shown and "aya を担当者にしました" in shown
    assert "タグ「返品」を付けました" in shown
    changed = await client.post(
        f"/settings/rules/{rule['id']}/update",
        data={"name": "返品・交換", "when": "message.received", "do_close": "1"},
        headers=HTMX,
    )
    assert changed.status_code == 200
    [rule] = (await client.get("/api/v1/rules")).json()["items"]
    assert rule["enabled"] is False and rule["actions"] == [{"type": "close"}]
    deleted = await client.post(
        f"/settings/rules/{rule['id']}/delete", data={"name": "返品・交換"}, headers=HTMX
    )
    assert "ルール「返品・交換」を削除しました。" in deleted.text
    assert (await client.get("/api/v1/rules")).json()["items"] == []


async def test_a_running_worker_acts_on_a_message_at_once_not_at_its_next_tick(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    tag = await tags.create_tag(ctx, actor=None, name="返品")
    rule = await rules.create_rule(
        ctx,
        name="返品",
        when="message.received",
        conditions=[{"field": "text", "op": "contains_any", "value": ["返品"]}],
        actions=[{"type": "add_tag", "tag_id": tag.id}],
    )
    rule_id = rule.id
    channel = await factory.channel()
    async with running_worker(settings, database) as (_, bus):
        async with database.write_sessions() as session:
            writer = Ctx(db=session, bus=bus, settings=settings)
            await Factory(writer).inbound(channel, contact="now", text="返品したいです")
        for _ in range(100):
            async with database.read_sessions() as db:
                if await rules.list_runs(db, rule_id=rule_id):
                    break
            await asyncio.sleep(0.05)
        async with database.read_sessions() as db:
            assert [r.result for r in await rules.list_runs(db, rule_id=rule_id)] == ["done"]


async def test_stopping_the_worker_lets_the_automation_in_hand_finish(
    factory: Factory,
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancelling it inside its transaction could leave the connection checked out, and on
    SQLite the write lock held until the next test's first write timed out."""
    channel = await factory.channel()
    calls: list[int] = []
    in_hand = asyncio.Event()

    async def slow_run_due(contexts: object) -> int:
        calls.append(1)
        if len(calls) == 1:  # the first tick's
            return 0
        async with running.ctx() as writer:
            in_hand.set()
            await asyncio.sleep(0.3)
            await tags.create_tag(writer, actor=None, name="途中")
            await writer.db.commit()
        return 0

    monkeypatch.setattr(runner, "run_due", slow_run_due)
    async with running_worker(settings, database) as (running, bus):
        async with database.write_sessions() as session:
            writer = Ctx(db=session, bus=bus, settings=settings)
            await Factory(writer).inbound(channel, contact="now", text="こんにちは")
        await asyncio.wait_for(in_hand.wait(), 5)
    async with database.read_sessions() as db:
        assert [t.name for t in await tags.list_tags(db)] == ["途中"]
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_stream_of_messages_runs_the_automation_in_steps_and_loses_no_nudge(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run is a transaction or two: one per message of a busy stream cost ingest a tenth of
    its rate (issue 14). Under a stream the runs come at most every AUTOMATE_AT_MOST_EVERY, and
    the stream's last message is still acted on."""
    starts: list[float] = []

    async def counted_run_due(contexts: object) -> int:
        return 0

    async def first_step(ctx: object, *, now: object) -> int:
        # Each run's start, where the worker's pacing applies: the steps before run_due take
        # their own time (a transaction on PostgreSQL, a few milliseconds one run and many the
        # next), so run_due's own starts may come closer together than the pacing.
        starts.append(time.monotonic())
        return 0

    monkeypatch.setattr(runner, "run_due", counted_run_due)
    monkeypatch.setattr(jobs.push, "send_due", first_step)
    async with running_worker(settings, database) as (_, bus):
        starts.clear()
        first_sent = time.monotonic()
        for n in range(40):
            # Taken before the message goes: a run that covers it may start before the publish
            # returns (the bus can deliver first), or during the pause after it.
            last_published = time.monotonic()
            await bus.publish(
                MessageCreated(
                    conversation_id=1, contact_id=1, message_id=n, kind="customer", assignee_id=None
                )
            )
            await asyncio.sleep(0.005)
        last_sent = time.monotonic()
        for _ in range(100):
            if starts and starts[-1] >= last_published:
                break
            await asyncio.sleep(0.05)
    # The first message at once, then at most one run a step while the stream lasts, and one
    # after its last message.
    assert starts[0] < last_published, "acted on while the stream lasted"
    assert starts[-1] >= last_published, "the last message's nudge was kept"
    assert 2 <= len(starts) <= (last_sent - first_sent) / jobs.AUTOMATE_AT_MOST_EVERY + 2 < 40
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) >= jobs.AUTOMATE_AT_MOST_EVERY * 0.9  # timers may fire a little early


async def test_a_fact_nothing_waits_for_is_not_noted_and_costs_the_worker_one_read(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    """Without a rule or a step sequence waiting for its kind, a fact writes no row (issue 14:
    each customer message wrote three, which the worker read again and deleted), and the
    worker, woken by the message, reads that nothing waits. A rule waiting notes its kind
    alone; switched off, nothing again. Someone in a sequence that stops on a reply makes
    every customer message one to note."""

    async def kinds() -> list[str]:
        async with database.read_sessions() as db:
            return list(await db.scalars(select(Trigger.kind).order_by(Trigger.id)))

    channel = await factory.channel()
    await factory.inbound(channel, contact="c1", text="こんにちは")
    await ctx.db.commit()
    assert await kinds() == []
    with statements_run() as run:
        assert await runner.run_due(worker(settings, database).ctx) == 0
    assert len([s for s in run if s.startswith("SELECT")]) == 1, run

    rule = await rules.create_rule(
        ctx, name="初めての方", when="first_message", conditions=[], actions=[{"type": "close"}]
    )
    await factory.inbound(channel, contact="c2", text="はじめまして")
    await ctx.db.commit()
    assert await kinds() == ["first_message"]
    await ctx.db.execute(Trigger.__table__.delete())
    await rules.update_rule(ctx, rule_id=rule.id, changes=rules.RuleChanges(enabled=False))
    await factory.inbound(channel, contact="c3", text="はじめまして")
    await ctx.db.commit()
    assert await kinds() == []

    sequence = await steps.create_sequence(
        ctx,
        name="ご来店後",
        trigger={
            "type": "tag.added",
            "tag": (await tags.create_tag(ctx, actor=None, name="来店")).id,
        },
        steps=[{"delay_seconds": 3600, "text": "ありがとうございました"}],
        stop_on_reply=True,
    )
    await factory.inbound(channel, contact="c4", text="まだ誰も")
    await ctx.db.commit()
    assert await kinds() == []
    c4 = await ctx.db.scalar(select(Contact.id).where(Contact.external_id == "c4"))
    ctx.db.add(
        SequenceEnrollment(
            sequence_id=sequence.id,
            contact_id=c4,
            state=EnrollmentState.active,
            next_at=ctx.now(),
        )
    )
    await ctx.db.commit()
    await factory.inbound(channel, contact="c4", text="返信です")
    await ctx.db.commit()
    assert await kinds() == ["message.received"]
