"""ステップ配信 (F32): a trigger enrolls a contact; each step goes out once, at its time; a reply
or leaving the segment stops it; a deleted target switches the sequence off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from madoguchi.automation import templates
from madoguchi.broadcasts import segments, steps
from madoguchi.broadcasts.models import SequenceEnrollment, StepSequence
from madoguchi.config import Settings
from madoguchi.conversations.models import Conversation, Message
from madoguchi.crm import records, tags
from madoguchi.events import InProcessBus
from madoguchi.forms import service as forms
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from tests.conftest import RecordingBus
from tests.fixtures import Factory, auth

DAY = 24 * 3600


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


def worker(settings: Settings, database: Database, clock: Clock) -> Worker:
    return Worker(settings=settings, database=database, bus=InProcessBus(), clock=clock)


async def _replies(database: Database, contact_id: int) -> list[str]:
    async with database.read_sessions() as db:
        return list(
            await db.scalars(
                select(Message.text)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.kind == "reply", Conversation.contact_id == contact_id)
                .order_by(Message.id)
            )
        )


async def _enrollments(database: Database, sequence_id: int) -> list[tuple[int, int, str]]:
    async with database.read_sessions() as db:
        rows = await steps.list_enrollments(db, sequence_id=sequence_id)
        return [(r.enrollment.contact_id, r.enrollment.step, r.enrollment.state) for r in rows]


async def test_a_tag_enrolls_and_each_step_goes_out_once_at_its_time(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    tag = await tags.create_tag(ctx, actor=None, name="初回来店")
    template = await templates.create_template(ctx, name="お礼", text="{name}様、お礼です。")
    sequence = await steps.create_sequence(
        ctx,
        name="初回来店フォロー",
        trigger={"type": "tag.added", "tag": tag.id},
        steps=[
            {"delay_seconds": 0, "text": "{{name}}様、ご来店ありがとうございました。"},
            {"delay_seconds": 2 * DAY, "template": template.id},
            {"delay_seconds": 30 * DAY, "text": "その後いかがですか？"},
        ],
    )
    sequence_id = sequence.id
    assert isinstance(ctx.bus, RecordingBus) and "sequences.changed" in ctx.bus.types()
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="c1", text="予約します")
    contact_id = ingested.conversation.contact_id
    other = await factory.inbound(channel, contact="c2", name="佐藤 次郎", text="こんにちは")
    await tags.add_tag(ctx, contact_id=contact_id, tag_id=tag.id)
    await ctx.db.rollback()

    clock = Clock()
    first = await worker(settings, database, clock).tick()
    assert first.stepped == 1
    assert await _replies(database, contact_id) == ["山田 花子様、ご来店ありがとうございました。"]
    assert await _replies(database, other.conversation.contact_id) == []
    assert await _enrollments(database, sequence_id) == [(contact_id, 1, "active")]

    clock.at += timedelta(days=1)
    assert (await worker(settings, database, clock).tick()).stepped == 0
    clock.at += timedelta(days=1, seconds=1)
    assert (await worker(settings, database, clock).tick()).stepped == 1
    assert (await _replies(database, contact_id))[-1] == "山田 花子様、お礼です。"
    clock.at += timedelta(days=30)
    assert (await worker(settings, database, clock).tick()).stepped == 1
    # A restart, or another worker, finds nothing left.
    assert (await worker(settings, database, clock).tick()).stepped == 0
    assert await _replies(database, contact_id) == [
        "山田 花子様、ご来店ありがとうございました。",
        "山田 花子様、お礼です。",
        "その後いかがですか？",
    ]
    assert await _enrollments(database, sequence_id) == [(contact_id, 3, "done")]

    # Finished, the contact may go through it again when the tag is put on anew.
    async with worker(settings, database, clock).ctx() as again:
        await tags.remove_tag(again, contact_id=contact_id, tag_id=tag.id)
        await tags.add_tag(again, contact_id=contact_id, tag_id=tag.id)
        # Twice in a row: one active enrollment at most.
        await tags.remove_tag(again, contact_id=contact_id, tag_id=tag.id)
        await tags.add_tag(again, contact_id=contact_id, tag_id=tag.id)
    await worker(settings, database, clock).tick()
    found = await _enrollments(database, sequence_id)
    assert sorted(found) == [(contact_id, 1, "active"), (contact_id, 3, "done")]


async def test_records_forms_and_first_messages_enroll(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    book = await records.create_book(ctx, name="来店記録", fields=[])
    other_book = await records.create_book(ctx, name="施術記録", fields=[])
    form = await forms.create_form(
        ctx, name="アンケート", fields=[{"key": "name", "label": "お名前", "type": "text"}]
    )
    made = {}
    for name, trigger in (
        ("来店", {"type": "record.added", "book": book.id}),
        ("回答", {"type": "form.answered", "form": form.id}),
        ("初回", {"type": "first_message"}),
    ):
        sequence = await steps.create_sequence(
            ctx,
            name=name,
            trigger=trigger,
            steps=[{"delay_seconds": 60, "text": f"{name}ありがとうございます"}],
        )
        made[name] = sequence.id
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="v", text="はじめまして")
    contact_id = ingested.conversation.contact_id
    await records.create_record(
        ctx, contact_id=contact_id, book=book.id, at=datetime.now(UTC), values_={}, author=None
    )
    await records.create_record(
        ctx,
        contact_id=contact_id,
        book=other_book.id,
        at=datetime.now(UTC),
        values_={},
        author=None,
    )
    answer = await forms.answer_form(ctx, form_id=form.id, given={"name": "新しい人"})
    await ctx.db.rollback()

    clock = Clock()
    await worker(settings, database, clock).tick()
    assert await _enrollments(database, made["来店"]) == [(contact_id, 0, "active")]
    assert await _enrollments(database, made["初回"]) == [(contact_id, 0, "active")]
    assert await _enrollments(database, made["回答"]) == [(answer.contact_id, 0, "active")]
    clock.at += timedelta(seconds=61)
    assert (await worker(settings, database, clock).tick()).stepped == 3
    replies = await _replies(database, contact_id)
    assert sorted(replies) == ["初回ありがとうございます", "来店ありがとうございます"]
    # The form's new contact has no chat channel: the step is done with the reason.
    async with database.read_sessions() as db:
        rows = await steps.list_enrollments(db, sequence_id=made["回答"])
        assert rows[0].enrollment.state == "done"
        assert rows[0].enrollment.detail == "The contact has no chat channel."


async def test_a_reply_stops_the_sequence_but_its_own_first_message_does_not(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    sequence = await steps.create_sequence(
        ctx,
        name="初回",
        trigger={"type": "first_message"},
        steps=[{"delay_seconds": 3600, "text": "一つ目"}, {"delay_seconds": 3600, "text": "二つ"}],
        stop_on_reply=True,
    )
    sequence_id = sequence.id
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="r", text="はじめまして")
    contact_id = ingested.conversation.contact_id
    await ctx.db.rollback()
    clock = Clock()
    await worker(settings, database, clock).tick()
    assert await _enrollments(database, sequence_id) == [(contact_id, 0, "active")]
    clock.at += timedelta(hours=1, seconds=1)
    await worker(settings, database, clock).tick()
    assert await _replies(database, contact_id) == ["一つ目"]

    async with worker(settings, database, clock).ctx() as later:
        await Factory(later).inbound(channel, contact="r", text="ありがとう、もう大丈夫です")
    await worker(settings, database, clock).tick()
    async with database.read_sessions() as db:
        rows = await steps.list_enrollments(db, sequence_id=sequence_id)
        assert [(r.enrollment.step, r.enrollment.state) for r in rows] == [(1, "stopped")]
        assert rows[0].enrollment.detail == "The contact replied."
    clock.at += timedelta(hours=2)
    assert (await worker(settings, database, clock).tick()).stepped == 0
    assert await _replies(database, contact_id) == ["一つ目"]


async def test_leaving_the_segment_stops_at_the_next_step(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    vip = await tags.create_tag(ctx, actor=None, name="VIP")
    segment = await segments.create_segment(
        ctx, name="VIP", conditions=[{"field": "tag", "op": "in", "value": [vip.id]}]
    )
    sequence = await steps.create_sequence(
        ctx,
        name="VIPフォロー",
        trigger={"type": "tag.added", "tag": vip.id},
        steps=[{"delay_seconds": 0, "text": "ようこそ"}, {"delay_seconds": DAY, "text": "次"}],
        stop_unless_segment=segment.id,
    )
    sequence_id = sequence.id
    channel = await factory.channel()
    stays = (await factory.inbound(channel, contact="s1")).conversation.contact_id
    leaves = (await factory.inbound(channel, contact="s2")).conversation.contact_id
    for contact_id in (stays, leaves):
        await tags.add_tag(ctx, contact_id=contact_id, tag_id=vip.id)
    await ctx.db.rollback()
    clock = Clock()
    assert (await worker(settings, database, clock).tick()).stepped == 2
    async with worker(settings, database, clock).ctx() as later:
        await tags.remove_tag(later, contact_id=leaves, tag_id=vip.id)
    clock.at += timedelta(days=1, seconds=1)
    await worker(settings, database, clock).tick()
    assert sorted(await _enrollments(database, sequence_id)) == sorted(
        [(stays, 2, "done"), (leaves, 1, "stopped")]
    )
    assert await _replies(database, leaves) == ["ようこそ"]
    assert await _replies(database, stays) == ["ようこそ", "次"]


async def test_two_workers_send_each_step_once(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    tag = await tags.create_tag(ctx, actor=None, name="キャンペーン")
    sequence = await steps.create_sequence(
        ctx,
        name="キャンペーン",
        trigger={"type": "tag.added", "tag": tag.id},
        steps=[{"delay_seconds": 10, "text": "お知らせ"}],
    )
    sequence_id = sequence.id
    channel = await factory.channel()
    contact_ids = []
    for n in range(8):
        contact_id = (await factory.inbound(channel, contact=f"w{n}")).conversation.contact_id
        await tags.add_tag(ctx, contact_id=contact_id, tag_id=tag.id)
        contact_ids.append(contact_id)
    await ctx.db.rollback()
    clock = Clock()
    await worker(settings, database, clock).tick()
    clock.at += timedelta(seconds=11)
    first, second = worker(settings, database, clock), worker(settings, database, clock)
    sent = await asyncio.gather(
        steps.send_due(first.ctx, now=clock.at), steps.send_due(second.ctx, now=clock.at)
    )
    assert sum(sent) == 8
    assert await steps.send_due(first.ctx, now=clock.at) == 0
    for contact_id in contact_ids:
        assert await _replies(database, contact_id) == ["お知らせ"]
    assert {state for _, _, state in await _enrollments(database, sequence_id)} == {"done"}


async def test_a_step_claimed_from_a_stale_read_is_not_sent_again(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    """What a second process read before the first one sent the step: its claim (the step
    still what it read) finds nothing, so it sends nothing."""
    sequence = await steps.create_sequence(
        ctx,
        name="一度だけ",
        trigger={"type": "first_message"},
        steps=[{"delay_seconds": 0, "text": "一度だけ"}, {"delay_seconds": DAY, "text": "次"}],
    )
    channel = await factory.channel()
    contact_id = (await factory.inbound(channel, contact="once")).conversation.contact_id
    await ctx.db.rollback()
    clock = Clock()
    await worker(settings, database, clock).tick()
    async with database.read_sessions() as db:
        [row] = await steps.list_enrollments(db, sequence_id=sequence.id)
        stale = SequenceEnrollment(
            id=row.enrollment.id,
            sequence_id=sequence.id,
            contact_id=contact_id,
            step=0,
            state="active",
            next_at=clock.at,
        )
    async with worker(settings, database, clock).ctx() as later, later.atomic():
        fresh = await steps.get_sequence(later.db, sequence_id=sequence.id)
        await steps._advance(later, fresh, stale, clock.at)
    assert await _replies(database, contact_id) == ["一度だけ"]
    assert await _enrollments(database, sequence.id) == [(contact_id, 1, "active")]


async def test_a_deleted_tag_or_template_switches_the_sequence_off(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    tag = await tags.create_tag(ctx, actor=None, name="消すタグ")
    template = await templates.create_template(ctx, name="消す", text="こんにちは")
    by_tag = await steps.create_sequence(
        ctx,
        name="タグ",
        trigger={"type": "tag.added", "tag": tag.id},
        steps=[{"delay_seconds": 0, "text": "a"}],
    )
    by_template = await steps.create_sequence(
        ctx,
        name="テンプレート",
        trigger={"type": "first_message"},
        steps=[{"delay_seconds": 0, "template": template.id}],
    )
    ids = (by_tag.id, by_template.id)
    await tags.delete_tag(ctx, actor=None, tag_id=tag.id)
    await templates.delete_template(ctx, template_id=template.id)
    await ctx.db.rollback()
    heard = RecordingBus()
    await Worker(settings=settings, database=database, bus=heard, clock=Clock()).tick()
    assert heard.types().count("sequences.changed") == 2
    async with database.read_sessions() as db:
        tagged, templated = [await steps.get_sequence(db, sequence_id=i) for i in ids]
        assert not tagged.enabled and tagged.off_reason == f"No tag with id {tag.id}."
        assert not templated.enabled
        assert templated.off_reason == f"No template with id {template.id}."
    # Switching it on again is checked: the tag is still gone.
    async with worker(settings, database, Clock()).ctx() as later:
        with pytest.raises(NotFound):
            await steps.update_sequence(
                later, sequence_id=ids[0], changes=steps.SequenceChanges(enabled=True)
            )


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"trigger": {"type": "message.sent"}}, Invalid, "starts on one of"),
        ({"trigger": {"type": "tag.added"}}, Invalid, "names the tag"),
        ({"trigger": {"type": "tag.added", "tag": 999}}, NotFound, "No tag with id 999"),
        ({"trigger": {"type": "form.answered", "form": 999}}, NotFound, "No form"),
        ({"trigger": {"type": "record.added", "book": 999}}, NotFound, "No record book"),
        ({"stop_unless_segment": 999}, NotFound, "No segment with id 999"),
        ({"steps": []}, Invalid, "at least one step"),
        ({"steps": [{"delay_seconds": -1, "text": "a"}]}, Invalid, "365 days"),
        ({"steps": [{"delay_seconds": 366 * DAY, "text": "a"}]}, Invalid, "365 days"),
        ({"steps": [{"delay_seconds": "1", "text": "a"}]}, Invalid, "365 days"),
        ({"steps": [{"delay_seconds": 0, "text": "  "}]}, Invalid, "empty"),
        ({"steps": [{"delay_seconds": 0}]}, Invalid, "one of them"),
        ({"steps": [{"delay_seconds": 0, "text": "a", "template": 1}]}, Invalid, "one of them"),
        ({"steps": [{"delay_seconds": 0, "template": 999}]}, NotFound, "No template"),
        ({"steps": [{"delay_seconds": 0, "text": "{{nickname}}"}]}, Invalid, "nickname"),
        ({"name": " "}, Invalid, "name"),
    ],
)
async def test_bad_sequences_are_refused_whole(
    ctx: Ctx, change: dict[str, Any], error: type[Exception], words: str
) -> None:
    body: dict[str, Any] = {
        "name": "フォロー",
        "trigger": {"type": "first_message"},
        "steps": [{"delay_seconds": 60, "text": "{{name}}様"}],
        **change,
    }
    with pytest.raises(error, match=words):
        await steps.create_sequence(ctx, **body)
    assert await ctx.db.scalar(select(func.count()).select_from(StepSequence)) == 0
    await steps.create_sequence(
        ctx,
        name="同じ",
        trigger={"type": "first_message"},
        steps=[{"delay_seconds": 0, "text": "a"}],
    )
    with pytest.raises(Conflict):
        await steps.create_sequence(
            ctx,
            name="同じ",
            trigger={"type": "first_message"},
            steps=[{"delay_seconds": 0, "text": "a"}],
        )
    assert await ctx.db.scalar(select(func.count()).select_from(SequenceEnrollment)) == 0


# --- the API ------------------------------------------------------------------------------------


async def test_the_sequences_api_per_contract(
    client: httpx.AsyncClient,
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
) -> None:
    owner = auth(await factory.token(await factory.member(role="owner")))
    agent = auth(await factory.token(await factory.member(role="agent")))
    book = await records.create_book(ctx, name="来店記録", fields=[])
    vip = await tags.create_tag(ctx, actor=None, name="VIP")
    segment = await segments.create_segment(
        ctx, name="VIP", conditions=[{"field": "tag", "op": "in", "value": [vip.id]}]
    )
    template = await templates.create_template(ctx, name="お礼", text="{name}様")
    ids = {"book": book.id, "segment": segment.id, "template": template.id}
    await ctx.db.commit()
    url = "/api/v1/sequences"
    body: dict[str, Any] = {
        "name": "初回来店フォロー",
        "trigger": {"type": "record.added", "book": ids["book"]},
        "steps": [
            {"delay_seconds": 2 * DAY, "template": ids["template"]},
            {"delay_seconds": 30 * DAY, "text": "{{name}}様、その後いかがですか？"},
        ],
        "stop_on_reply": True,
        "stop_unless_segment": ids["segment"],
    }
    refusals: list[tuple[dict[str, Any], int, str]] = [
        ({"trigger": {"type": "message.sent"}}, 422, "starts on one of"),
        ({"trigger": {"type": "record.added", "book": 999}}, 404, "No record book with id 999"),
        ({"trigger": {"type": "tag.added", "tag": 999}}, 404, "No tag"),
        ({"trigger": {"type": "form.answered", "form": 999}}, 404, "No form"),
        ({"stop_unless_segment": 999}, 404, "No segment"),
        ({"steps": []}, 422, "at least one step"),
        ({"steps": [{"delay_seconds": -5, "text": "a"}]}, 422, "365 days"),
        ({"steps": [{"delay_seconds": 10**9, "text": "a"}]}, 422, "365 days"),
        ({"steps": [{"delay_seconds": 5, "text": ""}]}, 422, "empty"),
        (
            {"steps": [{"delay_seconds": 5, "text": "a", "template": ids["template"]}]},
            422,
            "one of",
        ),
        ({"steps": [{"delay_seconds": 5, "template": 999}]}, 404, "No template"),
        ({"steps": [{"delay_seconds": 5, "text": "{{nickname}}"}]}, 422, "nickname"),
    ]
    for change, status, words in refusals:
        refused = await client.post(url, json={**body, **change}, headers=owner)
        assert refused.status_code == status, (change, refused.text)
        assert words in refused.json()["detail"], refused.json()
    assert (await client.post(url, json=body, headers=agent)).status_code == 403
    assert (await client.get(url, headers=agent)).json() == {"items": []}

    made = await client.post(url, json=body, headers=owner)
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["trigger"] == {"type": "record.added", "book": ids["book"]}
    assert created["steps"] == body["steps"]
    assert created["stop_on_reply"] is True and created["stop_unless_segment"] == ids["segment"]
    assert created["enabled"] is True and created["off_reason"] == "" and created["active"] == 0
    one = f"{url}/{created['id']}"
    assert (await client.post(url, json=body, headers=owner)).status_code == 409
    assert (await client.get(one, headers=agent)).json()["name"] == "初回来店フォロー"
    assert (await client.get(f"{url}/999", headers=agent)).status_code == 404
    assert (await client.patch(one, json={"enabled": False}, headers=agent)).status_code == 403
    patched = await client.patch(one, json={"stop_unless_segment": None}, headers=owner)
    assert patched.status_code == 200 and patched.json()["stop_unless_segment"] is None
    assert patched.json()["stop_on_reply"] is True
    bad = await client.patch(one, json={"steps": [{"delay_seconds": 1}]}, headers=owner)
    assert bad.status_code == 422
    assert (await client.get(one, headers=owner)).json()["steps"] == body["steps"]

    # A visit enrolls the customer; the enrollments say who is at which step.
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="api", text="予約")
    contact_id = ingested.conversation.contact_id
    await records.create_record(
        ctx, contact_id=contact_id, book=ids["book"], at=datetime.now(UTC), values_={}, author=None
    )
    await ctx.db.commit()
    clock = Clock()
    await worker(settings, database, clock).tick()
    enrolled = (await client.get(f"{one}/enrollments", headers=agent)).json()["items"]
    assert [(e["contact_id"], e["step"], e["state"]) for e in enrolled] == [
        (contact_id, 0, "active")
    ]
    assert enrolled[0]["contact_name"] == "山田 花子" and enrolled[0]["next_at"]
    assert (await client.get(one, headers=agent)).json()["active"] == 1
    assert (await client.get(f"{url}/999/enrollments", headers=agent)).status_code == 404

    assert (await client.delete(one, headers=agent)).status_code == 403
    assert (await client.delete(one, headers=owner)).status_code == 204
    assert (await client.get(one, headers=owner)).status_code == 404
    async with database.read_sessions() as db:
        assert await db.scalar(select(func.count()).select_from(SequenceEnrollment)) == 0


async def test_a_first_step_without_delay_goes_when_the_worker_is_woken_not_at_its_next_tick(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    tag = await tags.create_tag(ctx, actor=None, name="来店済み")
    await steps.create_sequence(
        ctx,
        name="お礼",
        trigger={"type": "tag.added", "tag": tag.id},
        steps=[{"delay_seconds": 0, "text": "{{name}}様、ありがとうございました。"}],
    )
    tag_id = tag.id
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="now", text="こんにちは")
    contact_id, conversation_id = ingested.conversation.contact_id, ingested.conversation.id
    bus = InProcessBus()
    slow = settings.model_copy(update={"worker_interval": 120.0})
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(settings=slow, database=database, bus=bus).run(stop))
    try:
        await asyncio.sleep(0.5)  # its first tick is done; the next would be in two minutes
        async with database.write_sessions() as session:
            await tags.add_tag(
                Ctx(db=session, bus=bus, settings=settings), contact_id=contact_id, tag_id=tag_id
            )
        sent: list[str] = []
        for _ in range(100):
            async with database.read_sessions() as db:
                sent = list(
                    await db.scalars(
                        select(Message.text).where(
                            Message.conversation_id == conversation_id, Message.kind == "reply"
                        )
                    )
                )
            if sent:
                break
            await asyncio.sleep(0.05)
        assert sent == ["山田 花子様、ありがとうございました。"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
