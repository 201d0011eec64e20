// The conversation list: its query (tab, search, filter) in the address bar, rows placed
// newest first as they change, the 絞り込み panel, the tabs, and opening a conversation.

import {
  $, $all, body, fetchFragment, openConversationId, parseFragment, showPane, toast, withQuery,
} from "./dom.js";
import { closeMenus } from "./menus.js";

export function listElement() { return $("#conversation-list"); }

// The list's tab, search and filter as a query string (kept in the address bar too).
export function listQuery() {
  const list = listElement();
  return list ? list.dataset.query || "" : "";
}

export function listParams() {
  const params = new URLSearchParams(listQuery());
  const active = openConversationId();
  if (active !== null) params.set("active", String(active));
  return params;
}

export function narrowed() {
  const list = listElement();
  return !!(list && list.hasAttribute("data-narrowed"));
}

// The address bar follows the list, so a reload or a shared member link keeps the filter.
function syncAddress() {
  if (!listElement()) return;
  const wanted = withQuery(location.pathname, listQuery());
  if (wanted !== location.pathname + location.search) history.replaceState(null, "", wanted);
}

export function highlightOpenRow() {
  const id = openConversationId();
  $all(".row-link[aria-current]").forEach(function (link) { link.removeAttribute("aria-current"); });
  if (id === null) return;
  const link = $("#row-" + id + " .row-link");
  if (link) link.setAttribute("aria-current", "true");
}

// The list answers the newest request for it. A live refresh asks with the list's query as it is
// when it goes: while another request for the list is on its way (clearing the filter, a tab)
// it waits for that answer, else it would ask for the old query and come back last.
let listRefreshTimer = null;
let latestListRequest = null;
let listRequestOpen = false;

export function refreshList() {
  clearTimeout(listRefreshTimer);
  listRefreshTimer = setTimeout(function () {
    if (!listElement()) return;
    if (listRequestOpen) { refreshList(); return; }
    htmx.ajax("GET", "/ui/list?" + listParams().toString(), { target: "#conversation-list", swap: "outerHTML" });
  }, 150);
}

// A request for the list went: a pending live refresh is needless (the one before it is given up:
// swaps.js, supersede).
export function listRequestSent(xhr) {
  clearTimeout(listRefreshTimer);
  latestListRequest = xhr;
  listRequestOpen = true;
}

// Its answer came (or failed): live refreshes may ask again.
export function listRequestEnded(xhr) {
  if (xhr === latestListRequest) listRequestOpen = false;
}

// An older answer for the list than the newest asked for is dropped.
export function staleListAnswer(xhr) {
  return latestListRequest !== null && xhr !== latestListRequest;
}

function sortKey(row) {
  return [Number(row.dataset.activity), Number(row.dataset.conversationId)];
}

function newer(a, b) {
  const x = sortKey(a);
  const y = sortKey(b);
  return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
}

// Put a row where newest-first order wants it; a row older than everything loaded waits
// for 「さらに表示」 when there is more.
function placeRow(row) {
  const list = listElement();
  const rows = $all(":scope > .row", list);
  const before = rows.find(function (other) { return newer(row, other); });
  if (before) {
    list.insertBefore(row, before);
  } else if (!$(".list-more", list)) {
    list.append(row);
  } else {
    return false;
  }
  $all(".list-empty", list).forEach(function (item) { item.remove(); });
  return true;
}

// A fresh row (``content``: what the server answered; no row: it no longer belongs in the list's
// tab, search and filter). ``mayInsert``: a row not shown yet comes in.
export function applyRow(conversationId, content, mayInsert) {
  if (!listElement()) return;
  const fresh = content.querySelector(".row");
  const current = $("#row-" + conversationId);
  if (!fresh) {
    if (current) {
      current.remove();
      if (!$(".row", listElement())) refreshList();
    }
    return;
  }
  if (current) {
    const moved = current.dataset.activity !== fresh.dataset.activity;
    if (moved) {
      current.remove();
      fresh.classList.add("is-new");
      placeRow(fresh);
    } else {
      current.replaceWith(fresh);
    }
  } else if (mayInsert) {
    fresh.classList.add("is-new");
    if (!placeRow(fresh)) return;
  } else {
    return;
  }
  htmx.process(fresh);
  highlightOpenRow();
}

export function removeRows(selector) {
  const list = listElement();
  if (!list) return;
  const rows = $all(selector, list);
  rows.forEach(function (row) { row.remove(); });
  if (rows.length && !$(".row", list)) refreshList();
}

// ---------- 絞り込み (the list's filter) ----------

function filterPanel() { return $("#filter-panel"); }

export async function toggleFilter(forceClose) {
  const panel = filterPanel();
  const toggle = $("#filter-toggle");
  if (!panel) return;
  if (forceClose || !panel.hidden) {
    panel.hidden = true;
    panel.replaceChildren();
    if (toggle) toggle.setAttribute("aria-expanded", "false");
    if (toggle && panel.contains(document.activeElement)) toggle.focus();
    body.classList.remove("filter-open");
    return;
  }
  const params = new URLSearchParams(listQuery());
  const search = $("#search-q");
  if (search && search.value.trim()) params.set("q", search.value.trim());
  const html = await fetchFragment("/ui/filter?" + params.toString());
  if (html === null) { toast(body.dataset.messageFailed); return; }
  panel.replaceChildren(parseFragment(html));
  htmx.process(panel);
  panel.hidden = false;
  body.classList.add("filter-open");
  if (toggle) toggle.setAttribute("aria-expanded", "true");
  const first = $("input, select, button", panel);
  const title = $("#filter-title", panel);
  if (title) { title.tabIndex = -1; title.focus(); } else if (first) first.focus();
}

export function removeFilterTerm(trigger) {
  const term = trigger.closest("[data-filter-term]");
  if (term) term.remove();
  const add = $(".filter-add");
  if (add) add.focus();
}

// A fresh list was swapped in.
export function listSettled() {
  highlightOpenRow();
  syncAddress();
  const toggle = $("#filter-toggle");
  const panel = filterPanel();
  if (toggle && panel) toggle.setAttribute("aria-expanded", String(!panel.hidden));
}

export function showList() {
  showPane("list");
  if (location.pathname !== "/") history.replaceState(null, "", withQuery("/", listQuery()));
}

// ---------- search waits for the IME: half-typed kana is not a query ----------

let composingSearch = false;
export function searchComposing(element) {
  return composingSearch && element.id === "list-search";
}

// ---------- opening a conversation ----------

export function openConversation(conversationId) {
  if (!$("#conversation-pane") || !listElement()) {
    window.location.href = "/c/" + conversationId;
    return;
  }
  const url = withQuery("/c/" + conversationId, listQuery());
  htmx.ajax("GET", "/ui/conversations/" + conversationId, { target: "#conversation-pane", swap: "outerHTML" })
    .then(function () { history.pushState(null, "", url); });
}

export function install() {
  document.addEventListener("change", function (event) {
    const select = event.target;
    if (!select.matches || !select.matches("[data-term-op]")) return;
    const term = select.closest("[data-filter-term]");
    const value = term && $("[data-term-value]", term);
    if (value) value.hidden = select.value === "empty" || select.value === "not_empty";
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const panel = filterPanel();
    if (panel && !panel.hidden && panel.contains(event.target)) {
      event.preventDefault();
      toggleFilter(true);
    }
  });

  document.addEventListener("compositionstart", function (event) {
    if (event.target.id === "search-q") composingSearch = true;
  });
  document.addEventListener("compositionend", function (event) {
    if (event.target.id !== "search-q") return;
    composingSearch = false;
    htmx.trigger("#list-search", "submit");
  });

  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("[data-open-conversation]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (!listElement()) return; // another page: the link itself opens the inbox
    event.preventDefault();
    closeMenus();
    openConversation(Number(link.dataset.openConversation));
  });
}
