"""Demo data: a hair salon's inbox (``madoguchi demo``) and N contacts made fast (``--scale N``).

Members and channels come from their services. Conversation histories have timestamps in the past,
which no service writes, so one writer (``histories.write_histories``) stores them in bulk: messages
through ``conversations.recording.record_many``, which keeps what follows from them, and the
conversation's ``last_*`` fields and a ``conversation_unreads`` row per member for what is unread.

What the salon keeps about its customers (statuses, marks, tags, profile fields, memos, records)
and does with their conversations (follow, close, snooze, schedule), and its settings (tags and
fields in folders, record books, templates, actions), go through the services, each run with a
clock turned back to when it happened (``loader``). ``--scale`` (``scale``) writes its statuses
and tags in bulk, with the activity copies the filtered lists walk.

The data is apart from the code: ``script`` is the salon's conversations and customers, ``pools``
the names and phrases ``--scale`` draws from.
"""

from madoguchi.demo.loader import DemoResult, load_demo
from madoguchi.demo.scale import (
    SCALE_ANALYZED,
    SCALE_PARALLEL_FROM,
    SCALE_VACUUMED,
    ScaleResult,
    load_scale,
    scale_processes,
)

__all__ = [
    "SCALE_ANALYZED",
    "SCALE_PARALLEL_FROM",
    "SCALE_VACUUMED",
    "DemoResult",
    "ScaleResult",
    "load_demo",
    "load_scale",
    "scale_processes",
]
