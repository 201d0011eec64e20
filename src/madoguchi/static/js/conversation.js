// The open conversation: its thread (new lines appended, older ones above), its header, the
// customer pane's 「この問い合わせ」, the reply window, the read toggle; each placed by one
// function whether it came alone or with a live event's other fragments (live.js).

import {
  $, $all, body, fetchFragment, openConversationId, openPane, parseFragment, showPane, withQuery,
} from "./dom.js";
import { setComposerKind } from "./composer.js";
import { listQuery } from "./list.js";
import { prepare } from "./panel.js";

// ---------- the thread ----------

function scroller() { return $("#thread-scroll"); }

function nearBottom() {
  const box = scroller();
  return !box || box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

export function scrollToBottom() {
  const box = scroller();
  if (box) box.scrollTop = box.scrollHeight;
}

// Chunks arrive with their own date separators and may repeat a message: keep the first of each.
export function tidyThread() {
  const list = $("#thread-messages");
  if (!list) return;
  const days = new Set();
  const messages = new Set();
  $all(":scope > li", list).forEach(function (item) {
    if (item.classList.contains("day")) {
      if (days.has(item.dataset.day)) item.remove(); else days.add(item.dataset.day);
    } else if (item.dataset.messageId) {
      if (messages.has(item.dataset.messageId)) item.remove(); else messages.add(item.dataset.messageId);
    }
  });
  if (messages.size) $all(".thread-empty", list).forEach(function (item) { item.remove(); });
}

export function lastMessageId() {
  let last = 0;
  $all("#thread-messages [data-message-id]").forEach(function (item) {
    last = Math.max(last, Number(item.dataset.messageId));
  });
  return last;
}

// New lines at the bottom; the thread follows them when the member was at the bottom.
export function applyMessages(content) {
  const list = $("#thread-messages");
  if (!list) return;
  const stick = nearBottom();
  $all(".message", content).forEach(function (item) { item.classList.add("is-new"); });
  list.append(content);
  tidyThread();
  htmx.process(list);
  if (stick) scrollToBottom();
}

// Older messages go in above: keep what the member is reading where it is.
let olderAnchor = null;
export function keepReadingPlace() {
  const box = scroller();
  olderAnchor = box ? box.scrollHeight - box.scrollTop : null;
}

export function olderMessagesSwapped() {
  if (olderAnchor === null) return;
  tidyThread();
  const box = scroller();
  if (box) box.scrollTop = box.scrollHeight - olderAnchor;
  olderAnchor = null;
}

// A message shown here changed (a mark, a delivery state): it alone, fresh.
export async function refreshMessage(conversationId, messageId) {
  if (openConversationId() !== conversationId) return;
  const html = await fetchFragment(
    "/ui/conversations/" + conversationId + "/messages?after=" + (messageId - 1)
  );
  if (html === null) return;
  const fresh = parseFragment(html).querySelector("#m-" + messageId);
  const stillThere = $("#m-" + messageId);
  if (!fresh || !stillThere) return;
  // Keep the look of a block of messages (the answer knows no neighbours).
  fresh.classList.toggle("message--continued", stillThere.classList.contains("message--continued"));
  const picker = $("[data-mark-picker]", stillThere);
  if (picker && picker.open) return; // the member is choosing a mark on it right now
  stillThere.replaceWith(fresh);
  htmx.process(fresh);
}

// ---------- the header, 「この問い合わせ」, the reply window, the read toggle ----------

function replacePart(content, selector) {
  const fresh = content.firstElementChild;
  const current = $(selector);
  if (!fresh || !current) return null;
  current.replaceWith(fresh);
  htmx.process(fresh);
  return fresh;
}

// A header with a menu open is not replaced under the member's pointer: it is refreshed when
// the menu closes. False: not now.
export function headerReady() {
  const header = $("#thread-header");
  if (header && $("details[open]", header)) { header.dataset.stale = "true"; return false; }
  return true;
}

export function applyHeader(content) {
  if (headerReady()) replacePart(content, "#thread-header");
}

function teamEditing(part) {
  const memo = $("#team-memo", part);
  const active = document.activeElement;
  return !!((memo && memo.value !== memo.defaultValue) ||
    (active && part.contains(active) && active.matches("textarea, input, select")));
}

// 「この問い合わせ」 being edited waits until the member leaves it. False: not now (or not shown).
export function teamReady(conversationId) {
  const part = $("#team-part");
  if (!part || Number(part.dataset.conversationId) !== conversationId) return false;
  if (teamEditing(part)) { part.dataset.stale = "true"; return false; }
  return true;
}

export function applyTeam(content) {
  const current = $("#team-part");
  if (!current || teamEditing(current)) return;
  const fresh = content.firstElementChild;
  if (!fresh) return;
  $all(".saved-note", current).forEach(function (note) {
    const head = $(".part-head", fresh);
    if (head && !$(".saved-note", head)) head.insertBefore(note.cloneNode(true), $(".team-state", head));
  });
  current.replaceWith(fresh);
  htmx.process(fresh);
  prepare(fresh);
}

export function applyReplyWindowPart(content) {
  replacePart(content, "#reply-window");
  applyReplyWindow();
}

export function applyReadToggle(content) {
  replacePart(content, "#read-toggle");
}

// One part alone, for what no live event brings (a menu closed, an editor left, a deadline).
async function refreshPart(conversationId, path, apply) {
  if (openConversationId() !== conversationId) return;
  const html = await fetchFragment("/ui/conversations/" + conversationId + path);
  if (html === null || openConversationId() !== conversationId) return;
  apply(parseFragment(html));
}

// ---------- Instagram's reply window ----------

let replyWindowTimer = null;
export function applyReplyWindow() {
  const windowInfo = $("#reply-window");
  const form = $("#composer");
  if (!windowInfo || !form) return;
  const closed = windowInfo.dataset.replyClosed === "true";
  const reply = $("[data-kind-reply]", form);
  const note = $('input[name="kind"][value="note"]', form);
  const sentence = $("#reply-closed-note");
  if (sentence) sentence.hidden = !closed;
  if (reply) {
    reply.disabled = closed;
    if (closed && reply.checked && note) { note.checked = true; setComposerKind(form, true); }
  }
  // The window closes while the page is open: say so at that moment.
  clearTimeout(replyWindowTimer);
  const ends = windowInfo.dataset.endsAt ? Date.parse(windowInfo.dataset.endsAt) : NaN;
  const id = openConversationId();
  if (!isNaN(ends) && id !== null && ends - Date.now() < 2147483647) {
    replyWindowTimer = setTimeout(function () {
      refreshPart(id, "/reply-window", applyReplyWindowPart);
    }, Math.max(0, ends - Date.now()) + 1000);
  }
}

// ---------- a conversation (or its customer) deleted while open ----------

// Say so instead of a broken pane.
export function showGone(message) {
  const pane = openPane();
  if (!pane) return;
  const empty = document.createElement("section");
  empty.id = "conversation-pane";
  empty.className = "pane pane-thread pane-thread--empty";
  const box = document.createElement("div");
  box.className = "empty-state";
  const text = document.createElement("p");
  text.className = "empty-state-title";
  text.setAttribute("role", "alert");
  text.textContent = message;
  const back = document.createElement("a");
  back.href = withQuery("/", listQuery());
  back.className = "button button--secondary";
  back.dataset.action = "show-list";
  back.textContent = body.dataset.messageBack || "←";
  box.append(text, back);
  empty.append(box);
  pane.replaceWith(empty);
  const customer = $("#customer-pane");
  if (customer) {
    customer.className = "pane pane-customer pane-customer--empty";
    customer.setAttribute("aria-hidden", "true");
    customer.replaceChildren();
  }
  if (body.dataset.pane === "customer") showPane("thread");
}

// ••• 「担当者を変更」「フォロワーを追加」: to the choices in the customer pane.
export function focusTeam(id) {
  const target = document.getElementById(id);
  if (!target) return;
  const pane = $("#customer-pane");
  const hidden = pane && (!pane.offsetParent || getComputedStyle(pane).visibility === "hidden");
  if (hidden) showPane("customer");
  setTimeout(function () {
    // Scroll the pane only (scrollIntoView would also move the page under the top bar).
    const box = target.closest(".customer-body");
    if (box) {
      const offset = target.getBoundingClientRect().top - box.getBoundingClientRect().top;
      box.scrollTop += offset - box.clientHeight / 3;
    }
    target.focus({ preventScroll: true });
  }, 60);
}

export function install() {
  // A header refreshed while its menu was open catches up now.
  document.addEventListener("toggle", function (event) {
    const menu = event.target;
    if (!menu.matches || !menu.matches("details[data-menu]") || menu.open) return;
    const header = menu.closest("#thread-header");
    const id = openConversationId();
    if (header && header.dataset.stale && id !== null) {
      delete header.dataset.stale;
      setTimeout(function () { refreshPart(id, "/header", applyHeader); }, 0);
    }
  }, true);

  // 「この問い合わせ」 left stale while being edited catches up once the member has left it.
  document.addEventListener("focusout", function () {
    setTimeout(function () {
      const part = $("#team-part[data-stale]");
      if (part && !teamEditing(part)) {
        delete part.dataset.stale;
        const id = Number(part.dataset.conversationId);
        if (teamReady(id)) refreshPart(id, "/team", applyTeam);
      }
    }, 50);
  });

  // The memo's 保存 button shows once something was typed.
  document.addEventListener("input", function (event) {
    const memo = event.target;
    if (!memo.matches || !memo.matches("[data-dirty-watch]")) return;
    const save = $("[data-dirty-only]", memo.form);
    if (save) save.classList.toggle("is-dirty", memo.value !== memo.defaultValue);
  });

  scrollToBottom();
}
