"""Every live event is one declared type; its frame is what docs/api.md promises, byte for byte
as before the types were declared, and the docs list exactly the declared types."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest

from madoguchi.events.types import (
    TYPES,
    ActionRan,
    ActionsChanged,
    BroadcastChanged,
    ChannelCreated,
    ChannelUpdated,
    ContactCreated,
    ContactDeleted,
    ContactMerged,
    ContactsImported,
    ContactUnmerged,
    ContactUpdated,
    ConversationDeleted,
    ConversationReadState,
    ConversationTagsChanged,
    ConversationTeamReadState,
    ConversationUpdated,
    Event,
    FieldsChanged,
    FormAnswered,
    MarksChanged,
    MemberCreated,
    MemberSignedOut,
    MemberUpdated,
    MessageCreated,
    MessageUpdated,
    NotificationCreated,
    NotificationsRead,
    RecordBooksChanged,
    RulesChanged,
    ScheduledMessageChanged,
    SequencesChanged,
    StatusesChanged,
    TagAdded,
    TagsChanged,
    TemplatesChanged,
    TokenCreated,
    TokenRevoked,
)

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"

# Each event as a service publishes it, and the frame a member's WebSocket got for it before the
# types were declared (``{"type", "member_id", **data}`` of the ad hoc events), byte for byte.
FRAMES: list[tuple[Event, str]] = [
    (
        MessageCreated(
            conversation_id=1, contact_id=2, message_id=3, kind="inbound", assignee_id=None
        ),
        '{"type": "message.created", "member_id": null, "conversation_id": 1, "contact_id": 2, '
        '"message_id": 3, "kind": "inbound", "assignee_id": null}',
    ),
    (
        MessageUpdated(message_id=3, conversation_id=1),
        '{"type": "message.updated", "member_id": null, "message_id": 3, "conversation_id": 1}',
    ),
    (
        ConversationUpdated(conversation_id=1, contact_id=2),
        '{"type": "conversation.updated", "member_id": null, "conversation_id": 1, '
        '"contact_id": 2}',
    ),
    (
        ConversationDeleted(conversation_id=1, contact_id=2),
        '{"type": "conversation.deleted", "member_id": null, "conversation_id": 1, '
        '"contact_id": 2}',
    ),
    (
        ConversationReadState(conversation_id=1, contact_id=2, member_id=5),
        '{"type": "conversation.read_state", "member_id": 5, "conversation_id": 1, '
        '"contact_id": 2}',
    ),
    (
        ConversationTeamReadState(conversation_id=1, contact_id=2, unread=False),
        '{"type": "conversation.team_read_state", "member_id": null, "conversation_id": 1, '
        '"contact_id": 2, "unread": false}',
    ),
    (
        ScheduledMessageChanged(scheduled_message_id=8, contact_id=2),
        '{"type": "scheduled_message.changed", "member_id": null, "scheduled_message_id": 8, '
        '"contact_id": 2}',
    ),
    (
        ConversationTagsChanged(tag_id=4),
        '{"type": "conversation_tags.changed", "member_id": null, "tag_id": 4}',
    ),
    (
        ContactCreated(contact_id=2),
        '{"type": "contact.created", "member_id": null, "contact_id": 2}',
    ),
    (
        ContactUpdated(contact_id=2, part="profile"),
        '{"type": "contact.updated", "member_id": null, "contact_id": 2, "part": "profile"}',
    ),
    (
        ContactDeleted(contact_id=2),
        '{"type": "contact.deleted", "member_id": null, "contact_id": 2}',
    ),
    (
        ContactMerged(contact_id=2, merged_id=3),
        '{"type": "contact.merged", "member_id": null, "contact_id": 2, "merged_id": 3}',
    ),
    (
        ContactUnmerged(contact_id=2, restored_id=3),
        '{"type": "contact.unmerged", "member_id": null, "contact_id": 2, "restored_id": 3}',
    ),
    (
        ContactsImported(created=3, updated=0),
        '{"type": "contacts.imported", "member_id": null, "created": 3, "updated": 0}',
    ),
    (
        TagAdded(contact_id=2, tag_id=4),
        '{"type": "tag.added", "member_id": null, "contact_id": 2, "tag_id": 4}',
    ),
    (
        ActionRan(action_id=6, contact_id=2),
        '{"type": "action.ran", "member_id": null, "action_id": 6, "contact_id": 2}',
    ),
    (
        StatusesChanged(status_id=7),
        '{"type": "statuses.changed", "member_id": null, "status_id": 7}',
    ),
    (StatusesChanged(), '{"type": "statuses.changed", "member_id": null}'),
    (MarksChanged(mark_id=7), '{"type": "marks.changed", "member_id": null, "mark_id": 7}'),
    (TagsChanged(folder_id=9), '{"type": "tags.changed", "member_id": null, "folder_id": 9}'),
    (TagsChanged(tag_id=4), '{"type": "tags.changed", "member_id": null, "tag_id": 4}'),
    (FieldsChanged(field_id=9), '{"type": "fields.changed", "member_id": null, "field_id": 9}'),
    (FieldsChanged(), '{"type": "fields.changed", "member_id": null}'),
    (
        RecordBooksChanged(book_id=9),
        '{"type": "record_books.changed", "member_id": null, "book_id": 9}',
    ),
    (
        TemplatesChanged(template_id=9),
        '{"type": "templates.changed", "member_id": null, "template_id": 9}',
    ),
    (
        FormAnswered(form_id=3, contact_id=2, answer_id=7),
        '{"type": "form.answered", "member_id": null, "form_id": 3, "contact_id": 2, '
        '"answer_id": 7}',
    ),
    (
        BroadcastChanged(broadcast_id=4),
        '{"type": "broadcast.changed", "member_id": null, "broadcast_id": 4}',
    ),
    (
        RulesChanged(rule_id=5),
        '{"type": "rules.changed", "member_id": null, "rule_id": 5}',
    ),
    (
        SequencesChanged(sequence_id=7),
        '{"type": "sequences.changed", "member_id": null, "sequence_id": 7}',
    ),
    (
        ActionsChanged(action_id=6),
        '{"type": "actions.changed", "member_id": null, "action_id": 6}',
    ),
    (
        ChannelCreated(channel_id=3),
        '{"type": "channel.created", "member_id": null, "channel_id": 3}',
    ),
    (
        ChannelUpdated(channel_id=3),
        '{"type": "channel.updated", "member_id": null, "channel_id": 3}',
    ),
    (
        ChannelUpdated(channel_id=3, removed=True),
        '{"type": "channel.updated", "member_id": null, "channel_id": 3, "removed": true}',
    ),
    (MemberCreated(new_member_id=5), '{"type": "member.created", "member_id": 5}'),
    (MemberUpdated(member_id=5), '{"type": "member.updated", "member_id": 5}'),
    (
        MemberSignedOut(reason="password_reset", member_id=5),
        '{"type": "member.signed_out", "member_id": 5, "reason": "password_reset"}',
    ),
    (
        TokenCreated(token_id=2, member_id=5),
        '{"type": "token.created", "member_id": 5, "token_id": 2}',
    ),
    (
        TokenRevoked(token_id=2, member_id=5),
        '{"type": "token.revoked", "member_id": 5, "token_id": 2}',
    ),
    (
        NotificationCreated(
            notification_id=1,
            kind="mentioned",
            conversation_id=1,
            message_id=3,
            actor_name="彩",
            member_id=5,
        ),
        '{"type": "notification.created", "member_id": 5, "notification_id": 1, '
        '"kind": "mentioned", "conversation_id": 1, "message_id": 3, "actor_name": "彩"}',
    ),
    (NotificationsRead(member_id=5), '{"type": "notifications.read", "member_id": 5}'),
]


@pytest.mark.parametrize(("event", "frame"), FRAMES, ids=lambda value: getattr(value, "type", ""))
def test_a_declared_event_makes_the_frame_clients_always_got(event: Event, frame: str) -> None:
    assert event.to_json() == frame
    # Between processes it goes whole, and comes back as the same event.
    assert Event.from_wire(event.to_wire()) == event
    assert Event.from_wire(event.to_wire()).to_json() == frame


def test_every_declared_type_has_its_frame_checked() -> None:
    assert {event.type for event, _ in FRAMES} == set(TYPES)


def test_the_wire_between_processes_is_as_before() -> None:
    """A process of the previous release reads these, and writes what this one reads."""
    assert MemberCreated(new_member_id=5).to_wire() == (
        '{"type": "member.created", "member_id": null, "data": {"member_id": 5}}'
    )
    assert MemberUpdated(member_id=5).to_wire() == (
        '{"type": "member.updated", "member_id": 5, "data": {"member_id": 5}}'
    )
    old = (
        '{"type": "contact.updated", "member_id": null, "data": {"contact_id": 2, "part": "tags"}}'
    )
    assert Event.from_wire(old) == ContactUpdated(contact_id=2, part="tags")


def test_an_event_says_whom_it_is_for_by_its_type() -> None:
    with pytest.raises(ValueError, match="for one member"):
        ConversationReadState(conversation_id=1, contact_id=2, member_id=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="for everyone"):
        MemberCreated(new_member_id=5, member_id=5)
    assert MemberUpdated(member_id=5).visible_to(5)
    assert not MemberUpdated(member_id=5).visible_to(6)
    assert MemberCreated(new_member_id=5).visible_to(6)


def test_an_event_is_one_of_the_declared_types() -> None:
    with pytest.raises(TypeError, match="declared types"):
        Event()


def _documented() -> dict[str, tuple[list[str], list[str], str]]:
    """The WebSocket section's table: each type's fields, the optional ones, who hears it."""
    text = API_DOC.read_text(encoding="utf-8")
    section = text[text.index("## Live events") :]
    section = section[: section.index("\n## ", 3)]
    table: dict[str, tuple[list[str], list[str], str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        fields = re.findall(r"`([a-z_]+)`", cells[1])
        optional = re.findall(r"`([a-z_]+)`\?", cells[1])
        for name in re.findall(r"`([a-z_.]+)`", cells[0]):
            assert name not in table, f"{name} is documented twice"
            table[name] = (fields, optional, cells[2])
    return table


def test_the_api_docs_list_every_declared_event_with_its_fields_and_no_other() -> None:
    documented = _documented()
    assert set(documented) == set(TYPES)
    for name, declared in TYPES.items():
        fields, optional, heard_by = documented[name]
        assert fields == declared.data_keys(), name
        assert optional == declared.optional_keys(), name
        assert heard_by == ("you" if declared.private else "everyone"), name


SRC = Path(__file__).resolve().parent.parent / "src" / "madoguchi"


def _faces() -> list[Path]:
    """The routes (API, staff UI, webhooks): they call services, which publish."""
    return sorted(
        [*SRC.glob("ui/**/*.py"), *SRC.glob("*/api.py"), SRC / "connectors" / "webhooks.py"]
    )


def test_no_face_builds_or_publishes_an_event_of_its_own() -> None:
    offences = []
    for path in _faces():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "madoguchi.events"
            ):
                offences.append(f"{path.relative_to(SRC)}:{node.lineno} imports events")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("commit", "publish")
                and node.args
            ):
                offences.append(f"{path.relative_to(SRC)}:{node.lineno} publishes")
    assert len(_faces()) > 20
    assert offences == []


def test_an_events_text_is_written_once_and_follows_its_id() -> None:
    event = MessageCreated(
        conversation_id=1, contact_id=2, message_id=3, kind="inbound", assignee_id=None
    )
    assert event.to_json() is event.to_json()  # one text for every socket it goes to
    numbered = dataclasses.replace(event, id=41)
    assert json.loads(numbered.to_json(with_id=True))["id"] == 41
    assert json.loads(dataclasses.replace(numbered, id=42).to_json(with_id=True))["id"] == 42
    assert "id" not in json.loads(numbered.to_json())
    assert numbered == dataclasses.replace(event, id=41)  # the kept text is not part of it
