// Live updates: /ws tells us what changed (ids only, see docs/api.md); we fetch fresh HTML.
//
// What the events ask of one conversation is gathered for a moment and fetched in ONE request
// (/ui/live/conversations/<id>, ui/live.py): a reply publishes message.created and
// conversation.updated, and the list's row, the thread's new lines, the header, 「この問い合わせ」
// and the reply window all come back together, with the unread total in a header.

import {
  $, $all, body, FRAGMENT_HEADERS, fetchFragment, goToLogin, openConversationId, openPane, parseFragment,
} from "./dom.js";
import { liveSocket } from "./socket.js";
import {
  applyHeader, applyMessages, applyReadToggle, applyReplyWindowPart, applyTeam, headerReady,
  lastMessageId, refreshMessage, showGone, teamReady,
} from "./conversation.js";
import { reloadOpenPickers } from "./composer.js";
import { applyRow, listElement, listParams, narrowed, refreshList, removeRows } from "./list.js";
import { loadNotificationCount, notifyCustomerWrote, onNotification, readMemberSettings, setNotificationCount } from "./notifications.js";
import { PANEL_PARTS, panelContactId, refreshAllPanels, refreshPanelPart } from "./panel.js";

// The open conversation's parts, in the order they are placed.
const OPEN_PARTS = ["messages", "header", "team", "reply-window", "read-toggle"];
const PLACE = {
  messages: applyMessages,
  header: applyHeader,
  team: applyTeam,
  "reply-window": applyReplyWindowPart,
  "read-toggle": applyReadToggle,
};
// Long enough for the events of one change to arrive (they are published together).
const GATHER_MS = 60;

const pending = new Map();
// One live answer at a time: two answers never append the same new lines side by side.
let chain = Promise.resolve();

// Ask for fresh ``parts`` of a conversation (a Set of "row", "messages", "header", …);
// ``mayInsert``: its row may come into the list. Asks made within GATHER_MS go as one request.
export function refreshConversation(conversationId, parts, mayInsert) {
  let ask = pending.get(conversationId);
  if (!ask) {
    ask = { parts: new Set(), mayInsert: false };
    pending.set(conversationId, ask);
    setTimeout(function () {
      pending.delete(conversationId);
      chain = chain.then(function () { return fetchParts(conversationId, ask); })
        .catch(function () {}); // one failed fetch must not stop the ones after it
    }, GATHER_MS);
  }
  parts.forEach(function (part) { ask.parts.add(part); });
  ask.mayInsert = ask.mayInsert || !!mayInsert;
}

async function fetchParts(conversationId, ask) {
  const params = listElement() ? listParams() : new URLSearchParams();
  if (listElement() && ask.parts.has("row")) params.append("part", "row");
  const open = openConversationId() === conversationId;
  if (open) {
    // A header with a menu open, or 「この問い合わせ」 being edited, catches up later by itself.
    OPEN_PARTS.forEach(function (part) {
      if (!ask.parts.has(part)) return;
      if (part === "header" && !headerReady()) return;
      if (part === "team" && !teamReady(conversationId)) return;
      if (part === "read-toggle" && !$("#read-toggle")) return;
      params.append("part", part);
    });
    params.set("after", String(lastMessageId()));
  }
  if (!params.has("part")) return;
  const html = await fetchFragment("/ui/live/conversations/" + conversationId + "?" + params.toString());
  if (html === null) return;
  const answer = parseFragment(html);
  const row = answer.querySelector('template[data-live-part="row"]');
  if (row) applyRow(conversationId, row.content, ask.mayInsert);
  if (openConversationId() !== conversationId) return;
  OPEN_PARTS.forEach(function (part) {
    const template = answer.querySelector('template[data-live-part="' + part + '"]');
    if (template) PLACE[part](template.content);
  });
}

// After a change (here or by a colleague): what else shows the conversation, fresh.
// ``from``: where the member acted, whose answer is already on the page.
export function conversationChanged(conversationId, from) {
  const parts = new Set(["row", "messages", "reply-window"]);
  if (from !== "header" && from !== "dialog") parts.add("header");
  if (from !== "team") parts.add("team");
  refreshConversation(conversationId, parts, true);
}

// ``local``: the member's own change, whose part was already swapped in by htmx.
export function contactUpdated(contactId, part, local) {
  part = part || "profile";
  const rows = Array.from(document.querySelectorAll('.row[data-contact-id="' + contactId + '"]'));
  rows.forEach(function (row) {
    refreshConversation(Number(row.dataset.conversationId), new Set(["row"]), false);
  });
  // A customer who now matches the filter comes into the list.
  if (!rows.length && narrowed() && part !== "memos") refreshList();
  const pane = openPane();
  if (pane && Number(pane.dataset.contactId) === contactId && part === "profile") {
    refreshConversation(Number(pane.dataset.conversationId), new Set(["header"]), false);
  }
  if (!local) refreshPanelPart(contactId, part);
}

function contactGone(contactId) {
  removeRows('.row[data-contact-id="' + contactId + '"]');
  const pane = openPane();
  if (pane && Number(pane.dataset.contactId) === contactId) {
    showGone(body.dataset.messageContactGone);
  }
  if (panelContactId() === contactId && $(".contact-page")) {
    const page = $(".contact-page");
    const notice = document.createElement("p");
    notice.className = "notice notice--danger";
    notice.setAttribute("role", "alert");
    notice.textContent = body.dataset.messageContactGone;
    const back = document.createElement("a");
    back.href = "/";
    back.className = "button button--secondary";
    back.textContent = body.dataset.messageBack || "←";
    page.replaceChildren(notice, back);
  }
}

// Merged into another (F43): its page goes to the kept contact; the kept one's page shows
// what moved to it, and a list drops the merged-away row.
function contactMerged(mergedId, keptId) {
  removeRows('.row[data-contact-id="' + mergedId + '"]');
  if (panelContactId() === mergedId && $(".contact-page")) {
    window.location.assign("/contacts/" + keptId);
    return;
  }
  if (panelContactId() === keptId && $(".contact-page")) {
    window.location.reload();
    return;
  }
  refreshPanelPart(keptId, "profile");
}

// A merge was undone: the kept contact's page shows less, the restored one is back in lists.
function contactUnmerged(keptId, restoredId) {
  if ((panelContactId() === keptId || panelContactId() === restoredId) && $(".contact-page")) {
    window.location.reload();
    return;
  }
  refreshPanelPart(keptId, "profile");
  if (listElement()) refreshList();
}

export function conversationGone(conversationId) {
  removeRows("#row-" + conversationId);
  if (openConversationId() === conversationId) showGone(body.dataset.messageConversationGone);
}

// The colours of statuses and marks: a stylesheet of this server, reloaded when they change.
function reloadPalette() {
  const link = $("#palette");
  if (link) link.href = "/ui/palette.css?t=" + Date.now();
}

// A form was answered: the answers shown of that form (its answers page) or of that customer
// (their page's アンケート card) are fetched again, each from its own data-live-url (all of them
// after a reconnect: event null). An open 「お客様専用リンク」 stays open.
async function refreshAnswers(event) {
  for (const section of $all("[data-live-answers]")) {
    const [kind, id] = section.dataset.liveAnswers.split(":");
    if (event && Number(id) !== (kind === "form" ? event.form_id : event.contact_id)) continue;
    const html = await fetchFragment(section.dataset.liveUrl);
    if (html === null || !section.isConnected) continue;
    const fresh = parseFragment(html).firstElementChild;
    if (!fresh) continue;
    const open = $("details[open]", section);
    if (open && open.className) {
      const twin = $("details." + CSS.escape(open.className.split(" ")[0]), fresh);
      if (twin) twin.open = true;
    }
    section.replaceWith(fresh);
    htmx.process(fresh);
  }
}

function handleEvent(event) {
  const conversationId = event.conversation_id;
  switch (event.type) {
    case "message.created":
      refreshConversation(conversationId, new Set(["row", "messages"]), true);
      notifyCustomerWrote(event);
      break;
    case "message.updated":
      if ($("#m-" + event.message_id)) refreshMessage(conversationId, event.message_id);
      else refreshConversation(conversationId, new Set(["messages"]), false);
      break;
    case "conversation.updated":
      conversationChanged(conversationId, "");
      break;
    case "notification.created":
      onNotification(event);
      break;
    case "notifications.read":
      setNotificationCount(0);
      break;
    case "member.updated":
      readMemberSettings();
      break;
    case "scheduled_message.changed":
      refreshPanelPart(event.contact_id, "scheduled");
      break;
    case "conversation_tags.changed":
      reloadPalette();
      if (openConversationId() !== null) refreshConversation(openConversationId(), new Set(["team"]), false);
      break;
    case "templates.changed":
    case "actions.changed":
      reloadOpenPickers();
      break;
    case "conversation.read_state":
    case "conversation.team_read_state":
      refreshConversation(conversationId, new Set(["row", "read-toggle"]), false);
      break;
    case "conversation.deleted":
      conversationGone(conversationId);
      break;
    case "contact.updated":
      contactUpdated(event.contact_id, event.part, false);
      break;
    case "contact.deleted":
      contactGone(event.contact_id);
      break;
    case "contact.merged":
      contactMerged(event.merged_id, event.contact_id);
      break;
    case "contact.unmerged":
      contactUnmerged(event.contact_id, event.restored_id);
      break;
    case "statuses.changed":
    case "marks.changed":
      reloadPalette();
      refreshAllPanels("profile");
      if (listElement()) refreshList();
      break;
    case "tags.changed":
      refreshAllPanels("tags");
      if (listElement()) refreshList();
      break;
    case "fields.changed":
      refreshAllPanels("fields");
      break;
    case "record_books.changed":
      refreshAllPanels("records");
      break;
    case "form.answered":
      refreshAnswers(event);
      break;
    default:
      break;
  }
}

// After a reconnect we may have missed events: fetch what is shown again.
function resync() {
  if (listElement()) refreshList();
  const id = openConversationId();
  if (id !== null) refreshConversation(id, new Set(["messages", "read-toggle", "header", "team", "reply-window"]), false);
  PANEL_PARTS.forEach(refreshAllPanels);
  refreshAnswers(null);
  reloadPalette();
  loadNotificationCount();
}

export function install() {
  if (!listElement() && !openPane() && !$("[data-contact-panel]") && !$("[data-live-answers]")) return;
  liveSocket({
    onEvent: handleEvent,
    onReady: function (reconnected) { if (reconnected) resync(); },
  });
}
