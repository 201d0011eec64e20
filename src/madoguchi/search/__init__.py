"""Search (F3, F46): the n-gram indexes and the planner that reads them.

- ``indexes``: one row per message and per contact (FTS5 on SQLite, GIN on PostgreSQL);
- ``entries``: one entry per conversation, keyed by its last activity (the inbox, newest first);
- ``planner``: a text condition, or the inbox's walk of the entries, as a plan value;
- ``conversations``: what a conversation's entry holds (its contact's names and its messages),
  kept in step by the services that change any of them (imported as a module, not re-exported).

The filter language
that asks for text (crm.filters) reaches the planner through ``text_condition``. Normalising
text and cutting it into grams is kit.text's.
"""

from madoguchi.search.entries import (
    CONVERSATIONS,
    CONVERSATIONS_FTS,
    ID_BITS,
    ConversationEntry,
    activity_seq,
    conversation_entries,
    conversation_entry,
    conversations_with_entries,
    extend_conversations,
    key_signature,
    new_entry_signature,
    sign_contacts,
    signed,
    stored_grams,
    stored_signature,
    text_signature,
    write_conversations,
)
from madoguchi.search.indexes import (
    CONTACTS,
    GIN_INDEXES,
    MESSAGES,
    SearchIndex,
    add,
    add_grams,
    bulk_loading,
    bulk_transaction,
    remove,
    replace,
)
from madoguchi.search.planner import (
    READING_WALK,
    GatheredContacts,
    Scope,
    SearchWalk,
    TextPlan,
    contact_may_hold,
    contact_steps,
    gathered_contacts,
    read_steps,
    search_walk,
    text_check,
    text_condition,
)

__all__ = [
    "CONTACTS",
    "CONVERSATIONS",
    "CONVERSATIONS_FTS",
    "GIN_INDEXES",
    "ID_BITS",
    "MESSAGES",
    "READING_WALK",
    "ConversationEntry",
    "GatheredContacts",
    "Scope",
    "SearchIndex",
    "SearchWalk",
    "TextPlan",
    "activity_seq",
    "add",
    "add_grams",
    "bulk_loading",
    "bulk_transaction",
    "contact_may_hold",
    "contact_steps",
    "conversation_entries",
    "conversation_entry",
    "conversations_with_entries",
    "extend_conversations",
    "gathered_contacts",
    "key_signature",
    "new_entry_signature",
    "read_steps",
    "remove",
    "replace",
    "search_walk",
    "sign_contacts",
    "signed",
    "stored_grams",
    "stored_signature",
    "text_check",
    "text_condition",
    "text_signature",
    "write_conversations",
]
