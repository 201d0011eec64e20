"""Undoing a merge (F43: "undoable for a while"): every row the merge moved goes back, the kept
contact's overwritten values come back, later messages on the other's channel follow it, and
an undo too late, out of order or twice is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from madoguchi.audit import service as audit
from madoguchi.broadcasts.models import EnrollmentState, SequenceEnrollment
from madoguchi.contacts import merging
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact, ContactMerge
from madoguchi.conversations.models import Conversation
from madoguchi.crm import memos, statuses
from madoguchi.crm.models import Memo
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, NotFound
from madoguchi.members.models import Member
from tests.conftest import RecordingBus
from tests.contacts.test_merge import _contact_tables, _everything, _pair
from tests.fixtures import Factory, auth
from tests.ui.conftest import sign_in


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner", name="店長")


def _row(row: Any) -> tuple[Any, ...]:
    return tuple(str(value) for value in row)


async def _snapshot(ctx: Ctx, ids: list[int]) -> dict[str, Any]:
    """Every row of every table about these contacts, whole, and the contacts' own columns
    (updated_at aside: an undo is a change too; and their search signatures, which only grow,
    so the kept contact's still holds the other's messages: search.entries.sign_contacts)."""
    found: dict[str, Any] = {}
    for name, column in _contact_tables().items():
        if name == "contact_merges":
            continue
        rows = await ctx.db.execute(select(column.table).where(column.in_(ids)))
        found[name] = sorted(_row(row) for row in rows)
    table = Contact.__table__
    rows = await ctx.db.execute(select(table).where(table.c.id.in_(ids)).order_by(table.c.id))
    found["contacts"] = [
        {
            key: str(value)
            for key, value in row._mapping.items()
            if key not in ("updated_at", "signature")
        }
        for row in rows
    ]
    return found


async def _merge_id(ctx: Ctx, kept: int) -> int:
    ident = await ctx.db.scalar(
        select(ContactMerge.id).where(ContactMerge.kept_id == kept).order_by(ContactMerge.id.desc())
    )
    assert ident is not None
    return ident


async def test_undoing_a_merge_puts_every_row_and_value_back_exactly(
    ctx: Ctx, factory: Factory, owner: Member, client: httpx.AsyncClient
) -> None:
    a, b, _line, _mail = await _pair(ctx, factory)
    await _everything(ctx, factory, owner, a, b)
    for contact_id, phone, email in ((a, None, "a@example.com"), (b, "090-1111-2222", "b@ex.jp")):
        await contacts.update_contact(
            ctx,
            contact_id=contact_id,
            changes=contacts.ContactChanges(
                phone=phone, set_phone=True, email=email, set_email=True, blocked=b == contact_id
            ),
        )
    before = await _snapshot(ctx, [a, b])

    await merging.merge_contacts(
        ctx,
        contact_id=a,
        other_id=b,
        keep={"hair": "other", "display_name": "other", "email": "other"},
        actor=owner,
    )
    merged = await _snapshot(ctx, [a, b])
    assert merged != before
    assert isinstance(ctx.bus, RecordingBus)
    ctx.bus.published.clear()

    kept, restored = await merging.undo_merge(
        ctx, merge_id=await _merge_id(ctx, a), contact_id=a, actor=owner
    )
    assert (kept.id, restored.id) == (a, b)
    assert await _snapshot(ctx, [a, b]) == before
    # The merge's stopped enrollment goes on.
    states = await ctx.db.scalars(
        select(SequenceEnrollment.state).where(SequenceEnrollment.contact_id == b)
    )
    assert list(states) == [EnrollmentState.active]

    assert "contact.unmerged" in ctx.bus.types()
    [entry] = [e for e in await audit.list_entries(ctx.db) if e.action == "contact.unmerged"]
    assert (entry.member_name, entry.detail["restored"], entry.detail["moved_back"]["memos"]) == (
        "店長",
        b,
        1,
    )
    # The kept contact's values the merge took from the other go back to its own.
    assert entry.before == {
        "display_name": "はなこ",
        "email": "b@ex.jp",
        "phone": "090-1111-2222",
        "blocked": True,
    }
    assert entry.after == {
        "display_name": "佐藤 花子",
        "email": "a@example.com",
        "phone": None,
        "blocked": False,
    }

    # Both are listed and found again, each by its own names.
    token = await factory.token(owner)
    listed = await client.get("/api/v1/contacts", headers=auth(token))
    assert sorted(c["id"] for c in listed.json()["items"]) == [a, b]
    # The returned conversation's search entry holds its own contact's names again.
    found = await client.get("/api/v1/conversations", params={"q": "佐藤"}, headers=auth(token))
    assert [item["contact"]["id"] for item in found.json()["items"]] == [a]


async def test_a_conversation_begun_after_the_merge_on_the_others_channel_goes_back(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    line = await factory.channel(kind="line", name="LINE")
    mail = await factory.channel(kind="instagram", name="Instagram")
    a = (await factory.inbound(line, contact="U-1", name="佐藤")).conversation.contact_id
    # Known on Instagram (a follower) but never wrote before the merge.
    found = await contacts.find_or_create_contact(
        ctx, channel_id=mail.id, external_id="ig-1", channel_name="さとう"
    )
    await ctx.db.commit()
    b = found.contact.id
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)

    later = await factory.inbound(mail, contact="ig-1", name="さとう", text="インスタです")
    ours = await factory.inbound(line, contact="U-1", name="佐藤", text="LINEです")
    assert later.conversation.contact_id == a
    memo = await memos.create_memo(ctx, contact_id=a, title="後", body="統合後", author=owner)

    later_id, ours_id, memo_id = later.conversation.id, ours.conversation.id, memo.id
    await merging.undo_merge(ctx, merge_id=await _merge_id(ctx, a), actor=owner)
    fresh = select(Conversation).execution_options(populate_existing=True)
    conversations = {c.id: c for c in await ctx.db.scalars(fresh)}
    owners = {ident: c.contact_id for ident, c in conversations.items()}
    assert owners == {ours_id: a, later_id: b}
    # What was written on the kept contact after the merge stays with it.
    assert (await ctx.db.get(Memo, memo_id, populate_existing=True)).contact_id == a
    # Their activity copies follow their own conversations.
    kept, restored = await ctx.db.get(Contact, a), await ctx.db.get(Contact, b)
    assert restored.activity_at == conversations[later_id].last_activity_at
    assert kept.activity_at == conversations[ours_id].last_activity_at
    # The next message on that channel lands on them again.
    again = await factory.inbound(mail, contact="ig-1", name="さとう", text="もう一度")
    assert again.conversation.contact_id == b


async def test_a_value_changed_after_the_merge_stays(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    a, b, _line, _mail = await _pair(ctx, factory)
    await contacts.update_contact(
        ctx, contact_id=b, changes=contacts.ContactChanges(phone="090-2222-3333", set_phone=True)
    )
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    await contacts.update_contact(
        ctx, contact_id=a, changes=contacts.ContactChanges(phone="03-1234-5678", set_phone=True)
    )
    await merging.undo_merge(ctx, merge_id=await _merge_id(ctx, a), actor=owner)
    assert (await ctx.db.get(Contact, a)).phone == "03-1234-5678"
    assert (await ctx.db.get(Contact, b)).phone == "090-2222-3333"


async def test_a_status_deleted_since_the_merge_is_not_brought_back(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    a, b, _line, _mail = await _pair(ctx, factory)
    first, second = (await statuses.list_statuses(ctx.db))[:2]
    for contact_id, status in ((a, first), (b, second)):
        await contacts.update_contact(
            ctx,
            contact_id=contact_id,
            changes=contacts.ContactChanges(status=status.id, set_status=True),
        )
    await merging.merge_contacts(
        ctx, contact_id=a, other_id=b, keep={"status": "other"}, actor=owner
    )
    await statuses.delete_status(ctx, status_id=first.id)
    await merging.undo_merge(ctx, merge_id=await _merge_id(ctx, a), actor=owner)
    assert (await ctx.db.get(Contact, a)).status_id == second.id
    assert (await ctx.db.get(Contact, b)).status_id == second.id


async def test_an_undo_too_late_out_of_order_or_twice_is_refused(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    a, b, _line, mail = await _pair(ctx, factory)
    web = await factory.channel(name="Web")
    c = (await factory.inbound(web, contact="v-1", name="花子")).conversation.contact_id
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    first = await _merge_id(ctx, a)
    await merging.merge_contacts(ctx, contact_id=c, other_id=a, actor=owner)
    second = await _merge_id(ctx, c)

    with pytest.raises(Conflict, match="merged again later"):
        await merging.undo_merge(ctx, merge_id=first, actor=owner)
    await ctx.db.rollback()
    with pytest.raises(NotFound):
        await merging.undo_merge(ctx, merge_id=second, contact_id=b, actor=owner)
    await ctx.db.rollback()
    await ctx.db.refresh(owner)
    real = ctx.clock
    ctx.clock = lambda: real() + merging.UNDO_WINDOW + timedelta(minutes=1)
    with pytest.raises(Conflict, match="30 days"):
        await merging.undo_merge(ctx, merge_id=second, actor=owner)
    await ctx.db.rollback()
    await ctx.db.refresh(owner)
    ctx.clock = real

    # The later one first: b points at a again, and a's merge can be undone then.
    await merging.undo_merge(ctx, merge_id=second, actor=owner)
    assert (await ctx.db.get(Contact, b)).merged_into_id == a
    await ctx.db.refresh(mail)  # read again after the refusals' rollbacks
    again = await factory.inbound(mail, contact="ig-hanako", name="はなこ", text="まだ")
    assert again.conversation.contact_id == a
    with pytest.raises(Conflict, match="undone already"):
        await merging.undo_merge(ctx, merge_id=second, actor=owner)
    await ctx.db.rollback()
    await ctx.db.refresh(owner)
    await merging.undo_merge(ctx, merge_id=first, actor=owner)
    assert (await ctx.db.get(Contact, b)).merged_into_id is None
    assert {e.action for e in await audit.list_entries(ctx.db)} >= {"contact.unmerged"}


async def test_the_api_lists_undoable_merges_and_undoes_one(
    ctx: Ctx, factory: Factory, owner: Member, client: httpx.AsyncClient
) -> None:
    a, b, _line, _mail = await _pair(ctx, factory)
    agent = await factory.member(role="agent")
    token = await factory.token(agent)
    merged = await client.post(
        f"/api/v1/contacts/{a}/merge", json={"other": b}, headers=auth(token)
    )
    assert merged.status_code == 200, merged.text

    listed = await client.get(f"/api/v1/contacts/{a}/merges", headers=auth(token))
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert (item["other"]["id"], item["other"]["display_name"], item["undoable"]) == (
        b,
        "はなこ",
        True,
    )
    assert item["undo_until"] > item["at"]
    merge_id = item["id"]

    unknown = await client.post(f"/api/v1/contacts/{a}/merges/99999/undo", headers=auth(token))
    assert unknown.status_code == 404
    undone = await client.post(f"/api/v1/contacts/{a}/merges/{merge_id}/undo", headers=auth(token))
    assert undone.status_code == 200, undone.text
    body = undone.json()
    assert (body["kept"]["id"], body["restored"]["id"]) == (a, b)
    assert len(body["kept"]["conversation_ids"]) == len(body["restored"]["conversation_ids"]) == 1
    twice = await client.post(f"/api/v1/contacts/{a}/merges/{merge_id}/undo", headers=auth(token))
    assert twice.status_code == 409
    assert twice.json()["detail"] == "This merge was undone already."
    assert (await client.get(f"/api/v1/contacts/{a}/merges", headers=auth(token))).json() == {
        "items": []
    }


async def test_deleting_the_kept_contact_deletes_its_merges(
    ctx: Ctx, factory: Factory, owner: Member
) -> None:
    from madoguchi.conversations import workflow

    a, b, _line, _mail = await _pair(ctx, factory)
    await merging.merge_contacts(ctx, contact_id=a, other_id=b, actor=owner)
    merge_id = await _merge_id(ctx, a)
    await workflow.delete_contact(ctx, contact_id=a, actor=owner)
    with pytest.raises(NotFound, match="deleting a customer"):
        await merging.undo_merge(ctx, merge_id=merge_id, actor=owner)


async def test_the_contact_page_offers_the_undo_and_it_works_without_script(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient
) -> None:
    a = (await contacts.create_contact(ctx, display_name="佐藤 花子", phone="090-1111-2222")).id
    b = (await contacts.create_contact(ctx, display_name="さとう はなこ", phone="09011112222")).id
    await sign_in(client, await factory.member(role="agent"))
    merged = await client.post(f"/contacts/{a}/merge", data={"other": str(b)})
    assert merged.status_code == 303
    page = await client.get(f"/contacts/{a}")
    assert "統合を取り消す" in page.text and "さとう はなこ" in page.text
    merge_id = await _merge_id(ctx, a)
    await ctx.db.rollback()  # the test's session lets go of the database
    link = f"/contacts/{a}/merges/{merge_id}/undo"
    assert link in page.text

    confirm = await client.get(link)
    assert confirm.status_code == 200
    assert "「さとう はなこ」との統合を取り消しますか？" in confirm.text
    assert f'action="{link}"' in confirm.text
    undone = await client.post(link)
    assert undone.status_code == 303
    assert undone.headers["location"] == f"/contacts/{a}?done=unmerged&restored={b}"
    shown = await client.get(undone.headers["location"])
    assert "統合を取り消しました。「さとう はなこ」は別のお客様に戻りました。" in shown.text
    assert f'href="/contacts/{b}"' in shown.text
    assert "統合を取り消す" not in shown.text
    assert (await client.get(f"/contacts/{b}")).status_code == 200

    twice = await client.post(link)
    assert twice.status_code == 409
    assert "この統合はすでに取り消されています。" in twice.text
