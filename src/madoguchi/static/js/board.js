// The board (F44, ui/board.py): cards in columns by support status.
//
// A card moves by dragging it to another column (a mouse: HTML drag and drop; a finger: a long
// press lifts it, then it follows the finger, the board scrolling at its edges) or with its
// 「移動」 menu (a keyboard, a screen reader: plain forms, which also work without this script). The move is shown at once and undone, with a notice, when the server refuses it (a
// status deleted meanwhile). Colleagues' boards follow through /ws: a contact's status change
// (contact.updated) or a new message asks for the card again, which names its column.

import { $, $all, body, FRAGMENT_HEADERS, failureText, fetchFragment, goToLogin, parseFragment, toast } from "./dom.js";
import { liveSocket } from "./socket.js";

// Long enough for the events of one change to arrive together.
const GATHER_MS = 60;

function boardQuery() { return body.dataset.boardQuery || ""; }
function withQuery(path) { return boardQuery() ? path + "?" + boardQuery() : path; }
function columnList(key) { return $('.board-cards[data-column="' + CSS.escape(key) + '"]'); }
function cardOf(conversationId) { return document.getElementById("card-" + conversationId); }

function notice(message) {
  const box = $("#board-notice");
  if (!box) { toast(message); return; }
  box.textContent = message;
  box.hidden = false;
}

function clearNotice() {
  const box = $("#board-notice");
  if (box) { box.hidden = true; box.textContent = ""; }
}

// Where a card goes in its column: newest activity first, as the list.
function placeBefore(list, card) {
  const activity = Number(card.dataset.activity);
  const id = Number(card.dataset.conversationId);
  return $all(":scope > .board-card", list).find(function (other) {
    if (other === card) return false;
    const theirs = Number(other.dataset.activity);
    return theirs < activity || (theirs === activity && Number(other.dataset.conversationId) < id);
  }) || null;
}

// A card being used (its menu open, the focus in it) stays so when its fresh copy comes in.
function keepState(old, fresh) {
  if (!old) return function () {};
  const menu = $("details.board-move", old);
  const wasOpen = menu && menu.open;
  const focused = old.contains(document.activeElement) ? document.activeElement : null;
  const focusedValue = focused && focused.value;
  return function () {
    const freshMenu = $("details.board-move", fresh);
    if (wasOpen && freshMenu) freshMenu.open = true;
    if (!focused || !fresh.isConnected) return;
    const twin = focused.matches("summary") ? $("summary", fresh)
      : focusedValue ? $('button[value="' + CSS.escape(focusedValue) + '"]', fresh) : null;
    (twin || $("summary", fresh)).focus();
  };
}

// A fresh card from the server, put in the column it names (or taken away when none shows it).
function placeCard(fresh) {
  const old = cardOf(fresh.dataset.conversationId);
  const restore = keepState(old, fresh);
  const list = columnList(fresh.dataset.column);
  if (!list) { if (old) old.remove(); return; }
  const before = placeBefore(list, fresh);
  const more = $(":scope > .board-more", list);
  if (!before && more && !(old && old.parentElement === list)) {
    // Older than every card shown, with more to come: 「もっと見る」 brings it in its turn.
    if (old) old.remove();
    return;
  }
  if (old && old.parentElement === list && !before && more) {
    old.replaceWith(fresh);
  } else {
    if (old) old.remove();
    list.insertBefore(fresh, before || more);
  }
  if (window.htmx) window.htmx.process(fresh);
  restore();
}

function applyCardAnswer(conversationId, html) {
  const template = parseFragment(html).querySelector("template[data-board-card]");
  if (!template) {
    const old = cardOf(conversationId);
    if (old) old.remove();
    return;
  }
  const fresh = template.content.querySelector(".board-card");
  if (fresh) placeCard(document.importNode(fresh, true));
}

// ---------- moving a card ----------

let moving = 0;

async function moveCard(card, key) {
  if (!card || card.dataset.column === key) return;
  const target = columnList(key);
  if (!target) return;
  const conversationId = card.dataset.conversationId;
  const from = { parent: card.parentElement, next: card.nextSibling, column: card.dataset.column };
  clearNotice();
  card.dataset.column = key;
  target.insertBefore(card, placeBefore(target, card) || $(":scope > .board-more", target));
  card.setAttribute("aria-busy", "true");
  moving += 1;
  let response = null;
  try {
    response = await fetch(withQuery("/ui/board/cards/" + conversationId + "/move"), {
      method: "POST",
      headers: FRAGMENT_HEADERS,
      credentials: "same-origin",
      body: new URLSearchParams({ status: key }),
    });
  } catch (error) {
    response = null;
  } finally {
    moving -= 1;
    card.removeAttribute("aria-busy");
  }
  if (response && response.status === 401) { goToLogin(); return; }
  if (!response || !response.ok) {
    // Back where it was, and why.
    card.dataset.column = from.column;
    if (from.parent && from.parent.isConnected) from.parent.insertBefore(card, from.next && from.next.parentElement === from.parent ? from.next : null);
    const reason = response ? await failureText(response) : body.dataset.messageNetwork;
    notice(body.dataset.messageMoveFailed + " " + reason);
    body.dataset.boardMoved = "failed";
    return;
  }
  applyCardAnswer(conversationId, await response.text());
  const title = $("#column-" + CSS.escape(key) + "-title");
  if (title) toast((body.dataset.messageMoved || "").replace("{status}", title.textContent.trim()));
  body.dataset.boardMoved = conversationId + ":" + key;
  const moved = cardOf(conversationId);
  const button = moved && $(".board-move-button", moved);
  if (button && document.activeElement === document.body) button.focus();
}

let dragged = null;

function installDragging() {
  document.addEventListener("dragstart", function (event) {
    const card = event.target.closest && event.target.closest(".board-card");
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.conversationId);
    card.classList.add("board-card--dragging");
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("board-card--dragging");
    dragged = null;
    $all(".board-column--over").forEach(function (column) { column.classList.remove("board-column--over"); });
  });
  document.addEventListener("dragover", function (event) {
    const column = dragged && event.target.closest && event.target.closest(".board-column");
    if (!column) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    $all(".board-column--over").forEach(function (other) { if (other !== column) other.classList.remove("board-column--over"); });
    column.classList.add("board-column--over");
  });
  document.addEventListener("drop", function (event) {
    const column = dragged && event.target.closest && event.target.closest(".board-column");
    if (!column) return;
    event.preventDefault();
    column.classList.remove("board-column--over");
    const card = dragged;
    dragged = null;
    moveCard(card, column.dataset.column);
  });
  // The 「移動」 menu's choices: the same move, without leaving the page.
  document.addEventListener("submit", function (event) {
    const form = event.target.closest && event.target.closest("form[data-board-move]");
    if (!form) return;
    event.preventDefault();
    const key = event.submitter ? event.submitter.value : "";
    const menu = form.closest("details");
    if (menu) menu.open = false;
    moveCard(form.closest(".board-card"), key);
  });
}

// ---------- a finger: long press, then drag ----------

// Held this long without moving, a card is lifted (shorter would catch a slow scroll).
const LONG_PRESS_MS = 450;
// A finger moving more than this before the lift is a scroll, not a press.
const SLOP_PX = 10;
// Near the board's left or right edge, a lifted card scrolls the board (a phone shows one column).
const EDGE_PX = 48;
const EDGE_STEP_PX = 14;

let touch = null;

function columnAt(x, y) {
  const under = document.elementFromPoint(x, y);
  return under && under.closest ? under.closest(".board-column") : null;
}

function overColumn(column) {
  $all(".board-column--over").forEach(function (other) { if (other !== column) other.classList.remove("board-column--over"); });
  if (column) column.classList.add("board-column--over");
}

function lift() {
  if (!touch) return;
  const card = touch.card;
  const box = card.getBoundingClientRect();
  const ghost = card.cloneNode(true);
  ghost.removeAttribute("id");
  ghost.classList.add("board-card--ghost");
  ghost.setAttribute("aria-hidden", "true");
  ghost.style.width = box.width + "px";
  touch.offsetX = touch.x - box.left;
  touch.offsetY = touch.y - box.top;
  document.body.appendChild(ghost);
  touch.ghost = ghost;
  touch.lifted = true;
  card.classList.add("board-card--dragging");
  $("#board").classList.add("board--touch-dragging");
  if (navigator.vibrate) navigator.vibrate(15);
  follow();
  touch.frame = requestAnimationFrame(scrollAtEdges);
}

function follow() {
  touch.ghost.style.transform = "translate(" + (touch.x - touch.offsetX) + "px, " + (touch.y - touch.offsetY) + "px)";
  overColumn(columnAt(touch.x, touch.y));
}

function scrollAtEdges() {
  if (!touch || !touch.lifted) return;
  const board = $("#board");
  const edges = board.getBoundingClientRect();
  const step = touch.x < edges.left + EDGE_PX ? -EDGE_STEP_PX : touch.x > edges.right - EDGE_PX ? EDGE_STEP_PX : 0;
  if (step) {
    board.scrollLeft += step;
    overColumn(columnAt(touch.x, touch.y));
  }
  touch.frame = requestAnimationFrame(scrollAtEdges);
}

function endTouch() {
  if (!touch) return;
  clearTimeout(touch.timer);
  if (touch.frame) cancelAnimationFrame(touch.frame);
  if (touch.ghost) touch.ghost.remove();
  touch.card.classList.remove("board-card--dragging");
  const board = $("#board");
  if (board) board.classList.remove("board--touch-dragging");
  overColumn(null);
  touch = null;
}

function installLongPress() {
  document.addEventListener("touchstart", function (event) {
    endTouch();
    if (event.touches.length !== 1) return;
    const target = event.target;
    const card = target.closest && target.closest(".board-card");
    // The 「移動」 menu is tapped, not pressed.
    if (!card || target.closest("details.board-move")) return;
    const point = event.touches[0];
    touch = { card: card, x: point.clientX, y: point.clientY, startX: point.clientX, startY: point.clientY, lifted: false };
    touch.timer = setTimeout(lift, LONG_PRESS_MS);
  }, { passive: true });
  document.addEventListener("touchmove", function (event) {
    if (!touch) return;
    const point = event.touches[0];
    touch.x = point.clientX;
    touch.y = point.clientY;
    if (!touch.lifted) {
      if (Math.abs(touch.x - touch.startX) > SLOP_PX || Math.abs(touch.y - touch.startY) > SLOP_PX) endTouch();
      return;
    }
    event.preventDefault(); // the finger moves the card, not the page
    follow();
  }, { passive: false });
  document.addEventListener("touchend", function (event) {
    if (!touch) return;
    if (!touch.lifted) { endTouch(); return; }
    event.preventDefault(); // no click on the card's link after a drag
    const card = touch.card;
    const column = columnAt(touch.x, touch.y);
    endTouch();
    if (column) moveCard(card, column.dataset.column);
  }, { passive: false });
  document.addEventListener("touchcancel", endTouch);
  // A long press is ours: no link menu, and no native drag beside it.
  document.addEventListener("contextmenu", function (event) {
    if (touch && event.target.closest && event.target.closest(".board-card")) event.preventDefault();
  });
  document.addEventListener("dragstart", function (event) {
    if (touch) event.preventDefault();
  }, true);
}

// ---------- live ----------

const pending = new Map();

function refreshCard(conversationId) {
  if (pending.has(conversationId)) return;
  pending.set(conversationId, setTimeout(async function () {
    pending.delete(conversationId);
    const html = await fetchFragment(withQuery("/ui/board/cards/" + conversationId));
    if (html !== null) applyCardAnswer(conversationId, html);
  }, GATHER_MS));
}

let reloading = null;
async function reloadBoard() {
  if (reloading) return reloading;
  reloading = (async function () {
    const html = await fetchFragment(withQuery("/ui/board"));
    const current = $("#board");
    const fresh = html === null ? null : parseFragment(html).querySelector("#board");
    if (current && fresh) {
      current.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
    }
  })();
  try { await reloading; } finally { reloading = null; }
}

function handleEvent(event) {
  switch (event.type) {
    case "contact.updated":
      $all('.board-card[data-contact-id="' + event.contact_id + '"]').forEach(function (card) {
        refreshCard(Number(card.dataset.conversationId));
      });
      break;
    case "message.created":
    case "conversation.updated":
    case "conversation.read_state":
    case "conversation.team_read_state":
      refreshCard(event.conversation_id);
      break;
    case "conversation.deleted": {
      const card = cardOf(event.conversation_id);
      if (card) card.remove();
      break;
    }
    case "contact.deleted":
      $all('.board-card[data-contact-id="' + event.contact_id + '"]').forEach(function (card) { card.remove(); });
      break;
    case "statuses.changed":
    case "tags.changed":
    case "marks.changed":
      reloadBoard();
      break;
    default:
      break;
  }
}

function connect() {
  liveSocket({
    onEvent: handleEvent,
    onReady: function (reconnected) { if (reconnected) reloadBoard(); },
  });
}

function start() {
  if (!$("#board") && !$("#board-notice")) return;
  installDragging();
  installLongPress();
  if ($("#board")) connect();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
