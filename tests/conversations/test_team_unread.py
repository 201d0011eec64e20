"""未確認 is the team's (issue 13): one state per conversation for everyone, a lighter "new to me"
highlight per member, and the workspace setting that keeps 未確認 per member instead."""

from __future__ import annotations

import httpx

from madoguchi.automation import filters
from madoguchi.connectors import inbound
from madoguchi.conversations import repository, service
from madoguchi.conversations.models import ConversationTeamUnread
from madoguchi.conversations.repository import InboxQuery, View
from madoguchi.kit.context import Ctx
from madoguchi.members.models import Member
from tests.conftest import RecordingBus
from tests.fixtures import Factory, auth
from tests.ui.conftest import HTML, HTMX, sign_in


async def _unread_ids(ctx: Ctx, member: Member) -> list[int]:
    page = await repository.list_conversations(
        ctx.db, member_id=member.id, query=InboxQuery(view=View.unread)
    )
    return [conversation.id for conversation in page.conversations]


async def _item(ctx: Ctx, member: Member, conversation_id: int) -> repository.InboxItem:
    conversation = await service.get_conversation(ctx.db, conversation_id=conversation_id)
    [item] = await repository.inbox_items(ctx.db, member_id=member.id, conversations=[conversation])
    return item


async def test_the_button_confirms_for_the_whole_team_and_leaves_the_others_a_bold_highlight(
    ctx: Ctx, factory: Factory
) -> None:
    alice, bob = await factory.member(), await factory.member()
    channel = await factory.channel()
    await factory.inbound(channel, text="はじめまして")
    ingested = await factory.inbound(channel, text="予約できますか")
    conversation_id = ingested.conversation.id
    team = await ctx.db.get(ConversationTeamUnread, conversation_id)
    assert team is not None and team.count == 2
    for member in (alice, bob):
        assert await _unread_ids(ctx, member) == [conversation_id]
        assert await repository.unread_total(ctx.db, member_id=member.id) == 1
    assert isinstance(ctx.bus, RecordingBus)
    ctx.bus.published.clear()

    await service.mark_read(ctx, conversation_id=conversation_id, member=alice)
    assert ctx.bus.published[0].type == "conversation.team_read_state"
    assert ctx.bus.published[0].data == {
        "conversation_id": conversation_id,
        "contact_id": ingested.conversation.contact_id,
        "unread": False,
    }
    for member in (alice, bob):
        assert await _unread_ids(ctx, member) == []
        assert await repository.unread_total(ctx.db, member_id=member.id) == 0
    # Bob has not opened it since the customer wrote: new to him, without a count.
    bobs = await _item(ctx, bob, conversation_id)
    assert (bobs.unread, bobs.unread_count, bobs.fresh) == (False, 0, True)
    alices = await _item(ctx, alice, conversation_id)
    assert (alices.unread, alices.fresh) == (False, False)

    await service.mark_seen(ctx, conversation_id=conversation_id, member=bob)
    assert not (await _item(ctx, bob, conversation_id)).fresh

    await service.mark_unread(ctx, conversation_id=conversation_id, member=bob)
    assert await _unread_ids(ctx, alice) == [conversation_id]
    assert (await _item(ctx, alice, conversation_id)).unread_count == 1


async def test_a_reply_by_any_member_confirms_for_everyone_and_a_note_does_not(
    ctx: Ctx, factory: Factory
) -> None:
    alice, bob = await factory.member(), await factory.member()
    ingested = await factory.inbound(await factory.channel())
    conversation_id = ingested.conversation.id
    await service.send_message(
        ctx, conversation_id=conversation_id, member=alice, text="確認します", kind="note"
    )
    assert await _unread_ids(ctx, bob) == [conversation_id]
    await service.send_message(
        ctx, conversation_id=conversation_id, member=alice, text="承知しました", kind="reply"
    )
    assert await _unread_ids(ctx, bob) == []
    assert await repository.unread_total(ctx.db, member_id=bob.id) == 0


async def test_a_message_filter_match_arrives_confirmed_for_the_team(
    ctx: Ctx, factory: Factory
) -> None:
    member = await factory.member()
    channel = await factory.channel()
    await filters.create_filter(ctx, match="exact", text="メニューを見る")
    tapped = await inbound.receive(
        ctx,
        inbound.Inbound(
            channel_id=channel.id, kind="api", sender="c-1", message_id="m-1", text="メニューを見る"
        ),
    )
    assert await ctx.db.get(ConversationTeamUnread, tapped.conversation.id) is None
    assert await repository.unread_total(ctx.db, member_id=member.id) == 0


async def test_a_new_member_sees_the_team_backlog(ctx: Ctx, factory: Factory) -> None:
    await factory.member()
    channel = await factory.channel()
    old = await factory.inbound(channel, contact="c-old", text="先週の件です")
    answered = await factory.inbound(channel, contact="c-done", text="ありがとう")
    await ctx.db.execute(
        ConversationTeamUnread.__table__.delete().where(
            ConversationTeamUnread.conversation_id == answered.conversation.id
        )
    )
    await ctx.db.commit()
    newcomer = await factory.member(name="新人")
    assert await _unread_ids(ctx, newcomer) == [old.conversation.id]
    assert (await _item(ctx, newcomer, old.conversation.id)).fresh
    # Per member, the backlog is theirs to confirm too.
    await factory.unread_per_member()
    assert await _unread_ids(ctx, newcomer) == [old.conversation.id]


async def test_per_member_unread_keeps_each_members_own(ctx: Ctx, factory: Factory) -> None:
    await factory.unread_per_member()
    alice, bob = await factory.member(), await factory.member()
    ingested = await factory.inbound(await factory.channel())
    conversation_id = ingested.conversation.id
    await service.mark_read(ctx, conversation_id=conversation_id, member=alice)
    assert await _unread_ids(ctx, alice) == []
    assert await _unread_ids(ctx, bob) == [conversation_id]
    bobs = await _item(ctx, bob, conversation_id)
    assert (bobs.unread, bobs.fresh) == (True, False)
    # The team's state is kept meanwhile: switching back finds the conversation 未確認.
    assert await ctx.db.get(ConversationTeamUnread, conversation_id) is not None


async def test_the_team_unread_view_pages_with_a_cursor(ctx: Ctx, factory: Factory) -> None:
    member = await factory.member()
    channel = await factory.channel()
    ids = [
        (await factory.inbound(channel, contact=f"c-{n}", external_id=f"m-{n}")).conversation.id
        for n in range(5)
    ]
    await service.mark_read(ctx, conversation_id=ids[2], member=member)
    seen: list[int] = []
    cursor = None
    while True:
        page = await repository.list_conversations(
            ctx.db, member_id=member.id, query=InboxQuery(view=View.unread, limit=2, cursor=cursor)
        )
        seen += [conversation.id for conversation in page.conversations]
        if page.next_cursor is None:
            break
        cursor = repository.Cursor.decode(page.next_cursor)
    assert seen == [ids[4], ids[3], ids[1], ids[0]]


async def test_the_workspace_setting_through_the_api(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner, agent = await factory.member(role="owner"), await factory.member()
    owner_token, agent_token = await factory.token(owner), await factory.token(agent)
    ingested = await factory.inbound(await factory.channel())
    conversation_id = ingested.conversation.id

    got = await client.get("/api/v1/workspace", headers=auth(agent_token))
    assert got.status_code == 200 and got.json()["unread"] == "team"

    async def unread_ids(token: str) -> list[int]:
        answer = await client.get(
            "/api/v1/conversations", params={"view": "unread"}, headers=auth(token)
        )
        return [item["id"] for item in answer.json()["items"]]

    read = await client.post(
        f"/api/v1/conversations/{conversation_id}/read", headers=auth(agent_token)
    )
    assert read.status_code == 204
    assert await unread_ids(owner_token) == []
    item = (
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=auth(owner_token))
    ).json()
    assert (item["unread"], item["unread_count"], item["new_for_me"]) == (False, 0, True)

    refused = await client.patch(
        "/api/v1/workspace", json={"unread": "member"}, headers=auth(agent_token)
    )
    assert refused.status_code == 403
    wrong = await client.patch(
        "/api/v1/workspace", json={"unread": "everyone"}, headers=auth(owner_token)
    )
    assert wrong.status_code == 422
    changed = await client.patch(
        "/api/v1/workspace", json={"unread": "member"}, headers=auth(owner_token)
    )
    assert changed.status_code == 200 and changed.json()["unread"] == "member"
    # Per member: the owner never confirmed it, the agent did.
    assert await unread_ids(owner_token) == [conversation_id]
    assert await unread_ids(agent_token) == []
    unread = await client.post(
        f"/api/v1/conversations/{conversation_id}/unread", headers=auth(agent_token)
    )
    assert unread.status_code == 204
    assert await unread_ids(agent_token) == [conversation_id]


async def test_the_settings_page_and_the_list_row(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner, stylist = await factory.member(role="owner"), await factory.member(name="美咲")
    ingested = await factory.inbound(await factory.channel())
    conversation_id = ingested.conversation.id
    await sign_in(client, owner)
    page = await client.get("/settings/unread", headers=HTML)
    assert page.status_code == 200
    assert "未確認の扱い" in page.text and "チームで共有（おすすめ）" in page.text
    assert 'value="team" checked' in page.text

    confirmed = await client.post(f"/ui/conversations/{conversation_id}/read", headers=HTMX)
    assert confirmed.status_code == 200
    await client.post("/logout")
    await sign_in(client, stylist)
    listing = await client.get("/ui/list", headers=HTMX)
    assert listing.headers["x-madoguchi-unread"] == "0"
    assert "row--fresh" in listing.text and 'class="badge"' not in listing.text
    opened = await client.get(f"/ui/conversations/{conversation_id}", headers=HTMX)
    assert f'hx-post="/ui/conversations/{conversation_id}/seen"' in opened.text
    seen = await client.post(f"/ui/conversations/{conversation_id}/seen", headers=HTMX)
    assert seen.status_code == 204
    assert "row--fresh" not in (await client.get("/ui/list", headers=HTMX)).text

    await client.post("/logout")
    await sign_in(client, owner)
    saved = await client.post("/settings/unread", data={"unread": "member"}, headers=HTMX)
    assert saved.status_code == 200 and 'value="member" checked' in saved.text
    bad = await client.post("/settings/unread", data={"unread": "all"}, headers=HTMX)
    assert bad.status_code == 422
    got = await client.get("/api/v1/workspace")
    assert got.json()["unread"] == "member"
