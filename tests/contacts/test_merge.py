"""Merging two contacts (F43): everything about the other moves, nothing is lost, the other's
links and channel identity lead to the kept contact, and bad requests change nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from madoguchi.audit import service as audit
from madoguchi.automation.models import Rule, RuleRun, Trigger
from madoguchi.broadcasts.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastOccurrence,
    EnrollmentState,
    SequenceEnrollment,
    StepSequence,
)
from madoguchi.channels.models import Channel, VisitorSession
from madoguchi.channels.outbox import _claim
from madoguchi.contacts import merging
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, ScheduledMessage
from madoguchi.crm import fields, memos, records, tags
from madoguchi.crm.models import Memo, Record
from madoguchi.forms.models import Form, FormAnswer
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Base
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.members.models import Member
from tests.conftest import RecordingBus
from tests.fixtures import Factory, auth


def _contact_tables() -> dict[str, Any]:
    """Every table with a column referring to contacts.id."""
    found = {}
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            refers = any(fk.target_fullname == "contacts.id" for fk in column.foreign_keys)
            if refers and table.name != "contacts":
                found[table.name] = column
    return found


def test_the_merge_says_what_becomes_of_every_table_with_a_contact() -> None:
    assert set(_contact_tables()) == set(merging.TABLES)


async def _counts(ctx: Ctx, ids: list[int]) -> dict[str, dict[int, int]]:
    """Rows per table per contact (the merges' own records aside)."""
    counts: dict[str, dict[int, int]] = {}
    for name, column in _contact_tables().items():
        if name == "contact_merges":
            continue
        rows = await ctx.db.execute(
            select(column, func.count()).where(column.in_(ids)).group_by(column)
        )
        counts[name] = {i: 0 for i in ids} | {int(k): int(n) for k, n in rows}
    return counts


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner", name="店長")


async def _pair(ctx: Ctx, factory: Factory) -> tuple[int, int, Channel, Channel]:
    """A LINE friend and the same person on Instagram, each with a conversation."""
    line = await factory.channel(kind="line", name="LINE")
    mail = await factory.channel(kind="instagram", name="Instagram")
    a = await factory.inbound(line, contact="U-line", name="佐藤 花子", text="予約したい")
    b = await factory.inbound(mail, contact="ig-hanako", name="はなこ", text="インスタから")
    return a.conversation.contact_id, b.conversation.contact_id, line, mail


async def _everything(ctx: Ctx, factory: Factory, owner: Member, a: int, b: int) -> dict[str, int]:
    """Rows of every kind for both contacts; the ids the test looks for afterwards."""
    shared = await tags.create_tag(ctx, actor=owner, name="VIP")
    only_b = await tags.create_tag(ctx, actor=owner, name="新規")
    await tags.set_tags(ctx, contact_id=a, tag_ids=[shared.id])
    await tags.set_tags(ctx, contact_id=b, tag_ids=[shared.id, only_b.id])
    await fields.create_field(ctx, key="birthday", label="誕生日", type="date")
    await fields.create_field(ctx, key="menu", label="メニュー", type="text")
    await fields.create_field(ctx, key="hair", label="髪質", type="text")
    await fields.set_value(ctx, contact_id=a, key="menu", value="カット")
    await fields.set_value(ctx, contact_id=b, key="menu", value="カラー")
    await fields.set_value(ctx, contact_id=b, key="birthday", value="1990-04-01")
    await fields.set_value(ctx, contact_id=a, key="hair", value="細い")
    await fields.set_value(ctx, contact_id=b, key="hair", value="太い")
    await memos.create_memo(ctx, contact_id=a, title="A", body="a", author=owner)
    memo_b = await memos.create_memo(ctx, contact_id=b, title="B", body="b", author=owner)
    book = await records.create_book(ctx, name="来店", fields=[])
    record_b = await records.create_record(
        ctx, contact_id=b, book=book.id, at=ctx.now(), values_={}, author=owner
    )
    rule = Rule(name="ルール", when="message.received")
    form = Form(name="アンケート", fields=[])
    sequence = StepSequence(name="フォロー", trigger_kind="tag_added", steps=[])
    broadcast = Broadcast(text="お知らせ")
    ctx.db.add_all([rule, form, sequence, broadcast])
    await ctx.db.flush()
    occurrence = BroadcastOccurrence(
        broadcast_id=broadcast.id, due_at=ctx.now(), planned_at=ctx.now()
    )
    other_occurrence = BroadcastOccurrence(
        broadcast_id=broadcast.id, due_at=ctx.now(), planned_at=ctx.now()
    )
    ctx.db.add_all([occurrence, other_occurrence])
    await ctx.db.flush()
    answer = FormAnswer(form_id=form.id, contact_id=b, answers={"q": "はい"})
    later = ctx.now() + timedelta(days=1)
    ctx.db.add_all(
        [
            answer,
            ScheduledMessage(contact_id=b, text="明日です", at=later),
            Trigger(kind="tag.added", contact_id=b),
            RuleRun(rule_id=rule.id, contact_id=b, result="done"),
            SequenceEnrollment(sequence_id=sequence.id, contact_id=a, next_at=later),
            SequenceEnrollment(sequence_id=sequence.id, contact_id=b, next_at=later),
            BroadcastDelivery(occurrence_id=occurrence.id, contact_id=a),
            BroadcastDelivery(occurrence_id=occurrence.id, contact_id=b),
            BroadcastDelivery(occurrence_id=other_occurrence.id, contact_id=b),
            VisitorSession(channel_id=None, contact_id=b, kind="link", token_hash="h" * 64),
        ]
    )
    await ctx.db.commit()
    return {
        "memo_b": memo_b.id,
        "record_b": record_b.id,
        "answer_b": answer.id,
        "only_b": only_b.id,
    }


async def test_merging_moves_everything_and_loses_nothing(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    a, b, _line, _mail = await _pair(ctx, factory)
    made = await _everything(ctx, factory, owner, a, b)
    await contacts.update_contact(
        ctx, contact_id=b, changes=contacts.ContactChanges(phone="090-1111-2222", set_phone=True)
    )
    before = await _counts(ctx, [a, b])
    conversations_before = sorted(
        await ctx.db.scalars(select(Conversation.id).where(Conversation.contact_id.in_([a, b])))
    )
    assert isinstance(ctx.bus, RecordingBus)
    ctx.bus.published.clear()

    kept = await merging.merge_contacts(
        ctx, contact_id=a, other_id=b, keep={"hair": "other"}, actor=owner
    )
    assert kept.id == a
    after = await _counts(ctx, [a, b])

    # What stays with the merged-away contact, by design: the tag both had (one row is
    # enough), the value not chosen, the second delivery of one occurrence, its visitor link.
    stays = {
        "contact_tags": 1,
        "field_values": 2,  # menu: ours kept (default); hair: theirs chosen, ours stays behind
        "broadcast_deliveries": 1,
        "visitor_sessions": 1,
    }
    for table, per_contact in before.items():
        total_before = per_contact[a] + per_contact[b]
        deduplicated = 1 if table == "contact_tags" else 0
        assert after[table][a] + after[table][b] == total_before - deduplicated, table
        assert after[table][b] == stays.get(table, 0) - deduplicated, table
    assert (
        sorted(await ctx.db.scalars(select(Conversation.id).where(Conversation.contact_id == a)))
        == conversations_before
    )

    values = await fields.contact_values(ctx.db, contact_ids=[a])
    assert values[a]["menu"] == "カット"
    assert values[a]["hair"] == "太い"
    assert values[a]["birthday"] == "1990-04-01"
    assert {t.name for t in (await tags.contact_tags(ctx.db, contact_ids=[a]))[a]} == {
        "VIP",
        "新規",
    }
    assert (await ctx.db.get(Contact, a)).phone == "090-1111-2222"  # only theirs had one
    # Their memo comes after ours; both enrollments in one sequence: theirs stopped.
    order = list(
        await ctx.db.scalars(select(Memo.id).where(Memo.contact_id == a).order_by(Memo.position))
    )
    assert order[-1] == made["memo_b"]
    states = sorted(
        await ctx.db.scalars(
            select(SequenceEnrollment.state).where(SequenceEnrollment.contact_id == a)
        )
    )
    assert states == [EnrollmentState.active, EnrollmentState.stopped]
    assert (await ctx.db.get(Record, made["record_b"])).contact_id == a
    assert (await ctx.db.get(FormAnswer, made["answer_b"])).contact_id == a

    merged = await ctx.db.get(Contact, b)
    assert merged is not None and merged.merged_into_id == a and merged.merged_at is not None
    assert "contact.merged" in ctx.bus.types()
    [entry] = [e for e in await audit.list_entries(ctx.db) if e.action == "contact.merged"]
    assert (entry.member_name, entry.detail["merged"]) == ("店長", b)
    assert entry.detail["moved"]["conversations"] == 1


async def test_the_merged_contact_is_found_by_both_names_and_its_twin_by_neither(
    ctx: Ctx, factory: Factory, owner: Member, client: httpx.AsyncClient
) -> None:
    a, b, _line, _mail = await _pair(ctx, factory)
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    token = await factory.token(owner)
    listed = await client.get("/api/v1/contacts", params={"q": "インスタ"}, headers=auth(token))
    assert [c["id"] for c in listed.json()["items"]] == [a]
    everyone = await client.get("/api/v1/contacts", headers=auth(token))
    assert [c["id"] for c in everyone.json()["items"]] == [a]
    # The moved conversation is found by the kept contact's name.
    found = await client.get("/api/v1/conversations", params={"q": "佐藤"}, headers=auth(token))
    assert len(found.json()["items"]) == 2


async def test_a_later_message_on_either_channel_lands_on_the_merged_contact(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    a, b, line, mail = await _pair(ctx, factory)
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)

    by_mail = await factory.inbound(mail, contact="ig-hanako", name="はなこ", text="また")
    by_line = await factory.inbound(line, contact="U-line", name="佐藤 花子", text="LINEでも")
    assert by_mail.conversation.contact_id == a
    assert by_line.conversation.contact_id == a
    # Each on its own channel's conversation, not the other's.
    assert by_mail.conversation.channel_id == mail.id
    assert by_line.conversation.channel_id == line.id
    assert by_mail.conversation.id != by_line.conversation.id
    assert await ctx.db.scalar(select(func.count()).select_from(Contact)) == 2


async def test_a_reply_in_a_moved_conversation_goes_to_that_channels_identity(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    from madoguchi.conversations import service as conversations

    a, b, _line, mail = await _pair(ctx, factory)
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    conversation_id = await ctx.db.scalar(
        select(Conversation.id).where(
            Conversation.contact_id == a, Conversation.channel_id == mail.id
        )
    )
    assert conversation_id is not None
    await conversations.send_message(
        ctx, conversation_id=conversation_id, member=owner, text="承知しました", kind="reply"
    )
    await ctx.db.rollback()
    claim = await _claim(ctx, ctx.now() + timedelta(minutes=1))
    assert claim is not None
    assert claim.outgoing.contact.external_id == "ig-hanako"
    assert claim.outgoing.channel.id == mail.id


async def test_bad_merges_are_refused_and_change_nothing(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    a, b, _line, _mail = await _pair(ctx, factory)
    with pytest.raises(Invalid, match="itself"):
        await merging.merge_contacts(ctx, contact_id=a, other_id=a, actor=owner)
    with pytest.raises(NotFound):
        await merging.merge_contacts(ctx, contact_id=a, other_id=999999, actor=owner)
    with pytest.raises(Invalid, match="nosuch"):
        await merging.merge_contacts(
            ctx, contact_id=a, other_id=b, keep={"nosuch": "this"}, actor=owner
        )
    with pytest.raises(Invalid):
        await merging.merge_contacts(
            ctx, contact_id=a, other_id=b, keep={"email": "both"}, actor=owner
        )
    await ctx.db.rollback()
    assert await ctx.db.scalar(select(Contact.merged_into_id).where(Contact.id == b)) is None
    assert await contacts.conversation_ids(ctx.db, contact_id=b)
    await ctx.db.refresh(owner)

    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    with pytest.raises(Conflict, match="merged into"):
        await merging.merge_contacts(ctx, contact_id=b, other_id=a, actor=owner)
    channel = await factory.channel(name="third")
    c = (await factory.inbound(channel, contact="c-3", name="第三")).conversation.contact_id
    with pytest.raises(Conflict, match="merged into"):
        await merging.merge_contacts(ctx, contact_id=c, other_id=b, actor=owner)


async def test_merging_twice_leaves_every_identity_one_step_from_the_kept_contact(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    a, b, _line, mail = await _pair(ctx, factory)
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    web = await factory.channel(name="Web")
    c = (await factory.inbound(web, contact="v-1", name="花子")).conversation.contact_id
    await merging.merge_contacts(ctx, contact_id=c, other_id=a, actor=owner)
    assert (await ctx.db.get(Contact, b)).merged_into_id == c
    again = await factory.inbound(mail, contact="ig-hanako", name="はなこ", text="三度目")
    assert again.conversation.contact_id == c


async def test_the_api_merges_and_old_links_answer_with_the_kept_contact(
    ctx: Ctx, factory: Factory, owner: Member, client: httpx.AsyncClient
) -> None:
    a, b, _line, _mail = await _pair(ctx, factory)
    token = await factory.token(owner)
    await client.patch(
        f"/api/v1/contacts/{b}", json={"email": "h@example.com"}, headers=auth(token)
    )
    await client.patch(
        f"/api/v1/contacts/{a}", json={"email": "a@example.com"}, headers=auth(token)
    )

    merged = await client.post(
        f"/api/v1/contacts/{a}/merge",
        json={"other": b, "keep": {"email": "other"}},
        headers=auth(token),
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert (body["id"], body["email"], len(body["conversation_ids"])) == (a, "h@example.com", 2)

    old = await client.get(f"/api/v1/contacts/{b}", headers=auth(token))
    assert (old.status_code, old.json()["id"]) == (200, a)
    patched = await client.patch(
        f"/api/v1/contacts/{b}", json={"phone": "0312345678"}, headers=auth(token)
    )
    assert patched.json()["id"] == a
    assert (await client.get(f"/api/v1/contacts/{a}", headers=auth(token))).json()[
        "phone"
    ] == "0312345678"

    refused = await client.post(
        f"/api/v1/contacts/{a}/merge", json={"other": b}, headers=auth(token)
    )
    assert refused.status_code == 409
    assert "merged into" in refused.json()["detail"]
    deleting = await client.delete(f"/api/v1/contacts/{b}", headers=auth(token))
    assert deleting.status_code == 409


@pytest.mark.parametrize(
    "body",
    [{"other": "2"}, {"other": 2, "keep": {"email": "both"}}, {"other": 2, "extra": 1}, {}],
)
async def test_the_api_refuses_a_malformed_merge(
    factory: Factory, owner: Member, client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    token = await factory.token(owner)
    response = await client.post("/api/v1/contacts/1/merge", json=body, headers=auth(token))
    assert response.status_code == 422


async def test_duplicates_are_pairs_with_their_reasons(
    ctx: Ctx, factory: Factory, owner: Member, client: httpx.AsyncClient
) -> None:
    made = []
    for name, email, phone in [
        ("佐藤 花子", "hanako@example.com", "090-1234-5678"),
        ("さとう はなこ", "Hanako@Example.com", None),
        ("佐藤花子", None, "09012345678"),
        ("鈴木 一郎", "ichiro@example.com", "080-0000-0000"),
    ]:
        contact = await contacts.create_contact(ctx, display_name=name, email=email, phone=phone)
        made.append(contact.id)
    sato1, sato2, sato3, suzuki = made
    token = await factory.token(owner)
    response = await client.get("/api/v1/contacts/duplicates", headers=auth(token))
    assert response.status_code == 200
    pairs = {
        (item["contact"]["id"], item["other"]["id"]): sorted(item["reasons"])
        for item in response.json()["items"]
    }
    assert pairs == {
        (sato2, sato1): ["email", "reading"],
        (sato3, sato1): ["phone", "reading"],
        (sato3, sato2): ["reading"],
    }
    mine = await client.get(
        "/api/v1/contacts/duplicates", params={"contact": suzuki}, headers=auth(token)
    )
    assert mine.json()["items"] == []
    theirs = await client.get(
        "/api/v1/contacts/duplicates", params={"contact": sato1}, headers=auth(token)
    )
    assert {i["other"]["id"] for i in theirs.json()["items"]} == {sato2, sato3}
    assert {i["contact"]["id"] for i in theirs.json()["items"]} == {sato1}
    # Once merged, a pair is no longer suggested.
    await merging.merge_contacts(ctx, contact_id=sato1, other_id=sato2, actor=owner)
    again = await client.get("/api/v1/contacts/duplicates", headers=auth(token))
    assert {(i["contact"]["id"], i["other"]["id"]) for i in again.json()["items"]} == {
        (sato3, sato1)
    }


async def test_deleting_the_kept_contact_takes_the_merged_one_with_it(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    from madoguchi.conversations import workflow

    a, b, _line, mail = await _pair(ctx, factory)
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    await workflow.delete_contact(ctx, contact_id=a, actor=owner)
    assert await ctx.db.scalar(select(func.count()).select_from(Contact)) == 0
    # Their identity is free again: a new message makes a new contact of its own.
    again = await factory.inbound(mail, contact="ig-hanako", name="はなこ", text="はじめまして")
    fresh = await ctx.db.get(Contact, again.conversation.contact_id)
    assert fresh is not None and fresh.merged_into_id is None
    assert await ctx.db.scalar(select(func.count()).select_from(Contact)) == 1
