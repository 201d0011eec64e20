// Madoguchi staff UI: panes on a phone, the composer's keys, the name editor, the customer
// panel (tags, fields, memos, records), the list's filter, and live updates.
// Live updates: /ws tells us what changed (ids only); we fetch the fresh HTML fragments.
(function () {
  "use strict";

  const body = document.body;
  const FRAGMENT_HEADERS = { "HX-Request": "true" };

  // ---------- small helpers ----------

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }

  function openPane() { return $("#conversation-pane[data-conversation-id]"); }
  function openConversationId() {
    const pane = openPane();
    return pane ? Number(pane.dataset.conversationId) : null;
  }

  function parseFragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function withQuery(path, query) { return query ? path + "?" + query : path; }

  function toast(message) {
    const box = $("#toast");
    if (!box || !message) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  function goToLogin() {
    window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  // A GET for a fragment; null when it failed (and the member was told).
  async function fetchFragment(url) {
    let response;
    try {
      response = await fetch(url, { headers: FRAGMENT_HEADERS, credentials: "same-origin" });
    } catch (error) {
      return null;
    }
    if (response.status === 401) { goToLogin(); return null; }
    readUnreadTotal(response.headers.get("X-Madoguchi-Unread"));
    if (!response.ok) return null;
    return response.text();
  }

  // ---------- unread total: tab counts and the browser tab title ----------

  function setUnreadTotal(total) {
    $all("[data-unread-count]").forEach(function (element) {
      element.textContent = String(total);
      element.hidden = total === 0;
    });
    if (body.dataset.title) {
      document.title = (total > 0 ? "(" + total + ") " : "") + body.dataset.title;
    }
  }

  function readUnreadTotal(value) {
    if (value !== null && value !== undefined && value !== "") setUnreadTotal(Number(value));
  }

  // ---------- panes (phone: one at a time) ----------

  function showPane(name) {
    body.dataset.pane = name;
  }

  document.addEventListener("click", function (event) {
    const trigger = event.target.closest("[data-action]");
    if (!trigger) return;
    const action = trigger.dataset.action;
    if (action === "show-list") {
      event.preventDefault();
      showPane("list");
      if (location.pathname !== "/") history.replaceState(null, "", withQuery("/", listQuery()));
    } else if (action === "show-customer") {
      showPane(body.dataset.pane === "customer" ? "thread" : "customer");
    } else if (action === "show-thread") {
      showPane("thread");
    } else if (action === "edit-name") {
      startEditingName(trigger.closest(".name-field"));
    } else if (action === "cancel-name") {
      stopEditingName(trigger.closest(".name-field"));
    } else if (action === "toggle-filter") {
      toggleFilter();
    } else if (action === "remove-term") {
      const term = trigger.closest("[data-filter-term]");
      if (term) term.remove();
      const add = $(".filter-add");
      if (add) add.focus();
    } else if (action === "cancel-edit") {
      // Leave an editor: the part comes back as it is stored now.
      const section = trigger.closest("[data-panel-part]");
      if (section) refreshSection(section, true);
    }
  });

  function highlightOpenRow() {
    const id = openConversationId();
    $all(".row-link[aria-current]").forEach(function (link) { link.removeAttribute("aria-current"); });
    if (id === null) return;
    const link = $("#row-" + id + " .row-link");
    if (link) link.setAttribute("aria-current", "true");
  }

  // ---------- the thread ----------

  function scroller() { return $("#thread-scroll"); }

  function nearBottom() {
    const box = scroller();
    return !box || box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }

  function scrollToBottom() {
    const box = scroller();
    if (box) box.scrollTop = box.scrollHeight;
  }

  // Chunks arrive with their own date separators and may repeat a message: keep the first of each.
  function tidyThread() {
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

  function lastMessageId() {
    let last = 0;
    $all("#thread-messages [data-message-id]").forEach(function (item) {
      last = Math.max(last, Number(item.dataset.messageId));
    });
    return last;
  }

  // Appending is serialised so that two events never fetch the same messages side by side.
  let appendChain = Promise.resolve();
  function appendNewMessages(conversationId) {
    appendChain = appendChain.then(async function () {
      if (openConversationId() !== conversationId) return;
      const stick = nearBottom();
      const html = await fetchFragment(
        "/ui/conversations/" + conversationId + "/messages?after=" + lastMessageId()
      );
      if (html === null || openConversationId() !== conversationId) return;
      const fragment = parseFragment(html);
      $all(".message", fragment).forEach(function (item) { item.classList.add("is-new"); });
      const list = $("#thread-messages");
      list.append(fragment);
      tidyThread();
      htmx.process(list);
      if (stick) scrollToBottom();
    }).catch(function () {}); // one failed fetch must not stop the ones after it
    return appendChain;
  }

  async function refreshMessage(conversationId, messageId) {
    if (openConversationId() !== conversationId) return;
    const current = $("#m-" + messageId);
    if (!current) return appendNewMessages(conversationId);
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

  async function refreshConversationPart(conversationId, path, selector) {
    if (openConversationId() !== conversationId) return;
    const html = await fetchFragment("/ui/conversations/" + conversationId + path);
    if (html === null || openConversationId() !== conversationId) return;
    const fresh = parseFragment(html).firstElementChild;
    const current = $(selector);
    if (fresh && current) {
      current.replaceWith(fresh);
      htmx.process(fresh);
    }
  }

  function refreshReadToggle(conversationId) {
    return refreshConversationPart(conversationId, "/read-toggle", "#read-toggle");
  }

  function refreshThreadHeader(conversationId) {
    return refreshConversationPart(conversationId, "/header", "#thread-header");
  }

  // A conversation (or its customer) deleted while open: say so instead of a broken pane.
  function showGone(message) {
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

  // ---------- the list ----------

  function listElement() { return $("#conversation-list"); }

  // The list's tab, search and filter as a query string (kept in the address bar too).
  function listQuery() {
    const list = listElement();
    return list ? list.dataset.query || "" : "";
  }

  function listParams() {
    const params = new URLSearchParams(listQuery());
    const active = openConversationId();
    if (active !== null) params.set("active", String(active));
    return params;
  }

  function narrowed() {
    const list = listElement();
    return !!(list && list.hasAttribute("data-narrowed"));
  }

  // The address bar follows the list, so a reload or a shared member link keeps the filter.
  function syncAddress() {
    if (!listElement()) return;
    const wanted = withQuery(location.pathname, listQuery());
    if (wanted !== location.pathname + location.search) history.replaceState(null, "", wanted);
  }

  let listRefreshTimer = null;
  function refreshList() {
    clearTimeout(listRefreshTimer);
    listRefreshTimer = setTimeout(function () {
      if (!listElement()) return;
      htmx.ajax("GET", "/ui/list?" + listParams().toString(), { target: "#conversation-list", swap: "outerHTML" });
    }, 150);
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

  // Coalesce the events for one conversation (message.created + conversation.updated …).
  // The server says whether the row belongs in the list's tab, search and filter.
  const pendingRows = new Map();
  function refreshRow(conversationId, mayInsert) {
    if (!listElement()) return;
    const pending = pendingRows.get(conversationId);
    if (pending) {
      pending.mayInsert = pending.mayInsert || mayInsert;
      return;
    }
    const request = { mayInsert: mayInsert };
    pendingRows.set(conversationId, request);
    setTimeout(async function () {
      pendingRows.delete(conversationId);
      const html = await fetchFragment("/ui/rows/" + conversationId + "?" + listParams().toString());
      if (html === null) return;
      const fresh = parseFragment(html).querySelector(".row");
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
      } else if (request.mayInsert) {
        fresh.classList.add("is-new");
        if (!placeRow(fresh)) return;
      } else {
        return;
      }
      htmx.process(fresh);
      highlightOpenRow();
    }, 60);
  }

  function removeRows(selector) {
    const list = listElement();
    if (!list) return;
    const rows = $all(selector, list);
    rows.forEach(function (row) { row.remove(); });
    if (rows.length && !$(".row", list)) refreshList();
  }

  // ---------- 絞り込み (the list's filter) ----------

  function filterPanel() { return $("#filter-panel"); }

  async function toggleFilter(forceClose) {
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
    $all("[data-mark-picker][open]").forEach(function (picker) {
      picker.open = false;
      const summary = $("summary", picker);
      if (summary && picker.contains(event.target)) summary.focus();
    });
  });

  // ---------- the customer panel: its parts refresh on their own ----------

  // A part the member is typing in (or has an editor open in) is not replaced under their
  // fingers: it is marked stale and refreshed once they leave it.
  function isEditing(section) {
    if ($("[data-editing]", section)) return true;
    const active = document.activeElement;
    return !!(active && section.contains(active) &&
      active.matches("input:not([type=checkbox]):not([type=radio]):not([type=hidden]), textarea, select"));
  }

  function panelSections(contactId, part) {
    return $all('[data-panel-part="' + part + '"][data-contact-id="' + contactId + '"]');
  }

  // Keep the "更新されました" notes the member's own save just showed (the live echo of that
  // save must not wipe them).
  function carryNotes(current, fresh) {
    $all(".saved-note", current).forEach(function (note) {
      const holder = note.parentElement.closest("[id]");
      const inside = holder && holder !== current && current.contains(holder);
      const twin = inside ? $("#" + CSS.escape(holder.id), fresh) : fresh;
      if (!twin) return;
      const head = inside ? $(".crm-row-head, legend", twin) : $(".part-head", fresh);
      if (!head || $(":scope > .saved-note", head)) return;
      head.insertBefore(note.cloneNode(true), $(":scope > .part-action, :scope > .crm-link", head));
    });
  }

  async function refreshSection(section, force) {
    // The member's own change to it is on its way back: that answer is the fresh part.
    if (!force && section.dataset.busy) return;
    if (!force && isEditing(section)) { section.dataset.stale = "true"; return; }
    const contactId = section.dataset.contactId;
    const part = section.dataset.panelPart;
    const place = section.dataset.place || "chat";
    const html = await fetchFragment(
      "/ui/contacts/" + contactId + "/part/" + part + "?place=" + encodeURIComponent(place)
    );
    if (html === null || !section.isConnected || (!force && section.dataset.busy)) return;
    if (!force && isEditing(section)) { section.dataset.stale = "true"; return; }
    const fresh = parseFragment(html).firstElementChild;
    if (!fresh) return;
    if (!force) carryNotes(section, fresh);
    const active = document.activeElement;
    const focusedId = active && section.contains(active) ? active.id : null;
    section.replaceWith(fresh);
    htmx.process(fresh);
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) again.focus();
    } else if (force) {
      const action = $(".part-action", fresh);
      if (action) action.focus();
    }
  }

  function refreshPanelPart(contactId, part) {
    panelSections(contactId, part).forEach(function (section) { refreshSection(section, false); });
  }

  function refreshAllPanels(part) {
    $all('[data-panel-part="' + part + '"]').forEach(function (section) { refreshSection(section, false); });
  }

  // Stale parts refresh when the member has left them.
  document.addEventListener("focusout", function () {
    setTimeout(function () {
      $all('[data-panel-part][data-stale="true"]').forEach(function (section) {
        if (!isEditing(section)) {
          delete section.dataset.stale;
          refreshSection(section, false);
        }
      });
    }, 50);
  });

  function panelContactId() {
    const panel = $("[data-contact-panel]");
    return panel ? Number(panel.dataset.contactId) : null;
  }

  // ``local``: the member's own change, whose part was already swapped in by htmx.
  function onContactUpdated(contactId, part, local) {
    part = part || "profile";
    const rows = $all('.row[data-contact-id="' + contactId + '"]');
    rows.forEach(function (row) {
      refreshRow(Number(row.dataset.conversationId), false);
    });
    // A customer who now matches the filter comes into the list.
    if (!rows.length && narrowed() && part !== "memos") refreshList();
    const pane = openPane();
    if (pane && Number(pane.dataset.contactId) === contactId && part === "profile") {
      refreshThreadHeader(Number(pane.dataset.conversationId));
    }
    if (!local) refreshPanelPart(contactId, part);
  }

  function onContactGone(contactId) {
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

  function onConversationGone(conversationId) {
    removeRows("#row-" + conversationId);
    if (openConversationId() === conversationId) showGone(body.dataset.messageConversationGone);
  }

  // The colours of statuses and marks: a stylesheet of this server, reloaded when they change.
  function reloadPalette() {
    const link = $("#palette");
    if (link) link.href = "/ui/palette.css?t=" + Date.now();
  }

  // ---------- live events ----------

  function handleEvent(event) {
    const conversationId = event.conversation_id;
    switch (event.type) {
      case "message.created":
        refreshRow(conversationId, true);
        if (openConversationId() === conversationId) appendNewMessages(conversationId);
        break;
      case "message.updated":
        refreshMessage(conversationId, event.message_id);
        break;
      case "conversation.updated":
        refreshRow(conversationId, true);
        break;
      case "conversation.read_state":
        refreshRow(conversationId, false);
        refreshReadToggle(conversationId);
        break;
      case "conversation.deleted":
        onConversationGone(conversationId);
        break;
      case "contact.updated":
        onContactUpdated(event.contact_id, event.part, false);
        break;
      case "contact.deleted":
        onContactGone(event.contact_id);
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
      default:
        break;
    }
  }

  // After a reconnect we may have missed events: fetch what is shown again.
  function resync() {
    if (listElement()) refreshList();
    const id = openConversationId();
    if (id !== null) {
      appendNewMessages(id);
      refreshReadToggle(id);
      refreshThreadHeader(id);
    }
    ["profile", "tags", "fields", "memos", "records"].forEach(refreshAllPanels);
    reloadPalette();
  }

  function connectLive() {
    if (!listElement() && !openPane() && !$("[data-contact-panel]")) return;
    const status = $("#live-status");
    let attempts = 0;
    let everConnected = false;
    let statusTimer = null;

    function connect() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + location.host + "/ws");
      socket.addEventListener("message", function (message) {
        let event;
        try { event = JSON.parse(message.data); } catch (error) { return; }
        if (event.type === "ready") {
          attempts = 0;
          body.dataset.live = "ready";
          clearTimeout(statusTimer);
          if (status) status.hidden = true;
          if (everConnected) resync();
          everConnected = true;
          return;
        }
        handleEvent(event);
      });
      socket.addEventListener("close", function () {
        attempts += 1;
        body.dataset.live = "offline";
        // Only say so when it lasts: a blink of a reconnect is not news.
        clearTimeout(statusTimer);
        statusTimer = setTimeout(function () { if (status) status.hidden = false; }, 2000);
        const delay = Math.min(30000, 500 * Math.pow(2, attempts - 1)) * (0.75 + Math.random() / 2);
        setTimeout(async function () {
          if (attempts >= 3) {
            // A refused socket may mean the session ended: a fragment request tells.
            const probe = await fetch("/ui/rows/0", { headers: FRAGMENT_HEADERS }).catch(function () { return null; });
            if (probe && probe.status === 401) { goToLogin(); return; }
          }
          connect();
        }, delay);
      });
    }
    connect();
  }

  // ---------- the composer ----------

  function composerText() { return $("[data-composer]"); }

  function growTextarea(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, window.innerHeight * 0.3) + "px";
    updateCount(textarea);
  }

  // Near the limit, show how long the message is (the server has the last word).
  function updateCount(textarea) {
    const counter = $("[data-composer-count]", textarea.form);
    const limit = Number(textarea.dataset.maxLength || 0);
    if (!counter || !limit) return;
    const length = textarea.value.length;
    counter.hidden = length < limit * 0.9;
    counter.textContent = length.toLocaleString() + " / " + limit.toLocaleString();
    counter.classList.toggle("is-over", length > limit);
  }

  document.addEventListener("keydown", function (event) {
    const textarea = event.target;
    if (!(textarea instanceof HTMLTextAreaElement) || !textarea.matches("[data-composer]")) return;
    if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return; // IME: never send
    const form = textarea.form;
    const modifier = event.ctrlKey || event.metaKey;
    const sendsOnEnter = form.dataset.sendShortcut !== "mod_enter";
    const wantsSend = sendsOnEnter ? !modifier && !event.shiftKey && !event.altKey : modifier;
    if (wantsSend) {
      event.preventDefault();
      if (textarea.value.trim()) form.requestSubmit();
    } else if (sendsOnEnter && modifier) {
      // Ctrl+Enter does nothing in a textarea by itself; here it is the "new line" key.
      event.preventDefault();
      textarea.setRangeText("\n", textarea.selectionStart, textarea.selectionEnd, "end");
      growTextarea(textarea);
    }
  });

  document.addEventListener("input", function (event) {
    const target = event.target;
    if (!target.matches) return;
    if (target.matches("[data-composer]")) growTextarea(target);
    if (target.matches("[data-autogrow]")) autogrow(target);
    if (target.matches("[data-counter]")) updateCounter(target);
    if (target.matches("[data-tag-find]")) findTags(target);
  });

  document.addEventListener("change", function (event) {
    const radio = event.target;
    if (!radio.matches || !radio.matches('.composer input[name="kind"]')) return;
    const form = radio.form;
    const note = radio.value === "note";
    form.classList.toggle("composer--note", note);
    const textarea = $("[data-composer]", form);
    textarea.placeholder = note ? textarea.dataset.placeholderNote : textarea.dataset.placeholderReply;
    const send = $(".composer-send", form);
    $("span", send).textContent = note ? send.dataset.labelNote : send.dataset.labelReply;
    textarea.focus();
  });

  // Search waits for the IME: half-typed kana is not a query.
  let composingSearch = false;
  document.addEventListener("compositionstart", function (event) {
    if (event.target.id === "search-q") composingSearch = true;
  });
  document.addEventListener("compositionend", function (event) {
    if (event.target.id !== "search-q") return;
    composingSearch = false;
    htmx.trigger("#list-search", "submit");
  });
  body.addEventListener("htmx:confirm", function (event) {
    if (composingSearch && event.detail.elt.id === "list-search") event.preventDefault();
  });

  // ---------- editing in the panel: fields, tags, memos ----------

  function autogrow(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = textarea.scrollHeight + 2 + "px";
  }

  // A memo's body counts up to its limit (5,000).
  function updateCounter(textarea) {
    const counter = document.getElementById(textarea.dataset.counter);
    const limit = Number(textarea.dataset.maxLength || 0);
    if (!counter || !limit) return;
    const length = textarea.value.length;
    counter.textContent = length.toLocaleString() + " / " + limit.toLocaleString();
    counter.classList.toggle("is-over", length > limit);
  }

  // Kana-blind, width-blind matching for the tag finder (ハイライト finds はいらいと).
  function fold(text) {
    return text.normalize("NFKC").toLowerCase().replace(/[\u30a1-\u30f6]/g, function (ch) {
      return String.fromCharCode(ch.charCodeAt(0) - 0x60);
    });
  }

  function findTags(input) {
    const box = input.closest("[data-tag-options]");
    if (!box) return;
    const wanted = fold(input.value.trim());
    let shown = 0;
    $all(".tag-choice", box).forEach(function (choice) {
      const match = !wanted || fold(choice.dataset.tagName || "").includes(wanted);
      choice.hidden = !match;
      if (match) shown += 1;
    });
    $all("[data-tag-group]", box).reverse().forEach(function (group) {
      group.hidden = !$all(".tag-choice", group).some(function (choice) { return !choice.hidden; });
    });
    const none = $("[data-tag-none]", box);
    if (none) none.hidden = shown > 0;
  }

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (event.key !== "Enter" || event.isComposing || event.keyCode === 229 || !target.matches) return;
    if (target.matches("[data-commit-on-enter]")) {
      // Enter saves the value where it is (the form itself never submits).
      event.preventDefault();
      target.dispatchEvent(new Event("commit"));
    } else if (target.matches("[data-tag-find]")) {
      event.preventDefault();
    } else if (target.matches("[data-new-tag]")) {
      event.preventDefault();
      const create = target.parentElement.querySelector("button");
      if (create && target.value.trim()) create.click();
    }
  });

  document.addEventListener("submit", function (event) {
    if (event.target.matches && event.target.matches("[data-inline-form]")) event.preventDefault();
  });

  // ---------- memos: drag by the handle (the ↑ ↓ buttons are the keyboard's way) ----------

  let draggedMemo = null;
  let orderBefore = "";

  function memoOrder(list) {
    return $all(":scope > .memo", list).map(function (memo) { return memo.dataset.memoId; });
  }

  document.addEventListener("pointerdown", function (event) {
    const grip = event.target.closest && event.target.closest("[data-memo-grip]");
    if (grip) grip.closest(".memo").draggable = true;
  });

  // A press on the handle that did not become a drag: the memo's text is selectable again.
  document.addEventListener("pointerup", function () {
    if (!draggedMemo) $all(".memo[draggable=true]").forEach(function (memo) { memo.draggable = false; });
  });

  document.addEventListener("dragstart", function (event) {
    const memo = event.target.closest && event.target.closest(".memo[draggable=true]");
    if (!memo) return;
    draggedMemo = memo;
    orderBefore = memoOrder(memo.parentElement).join(",");
    memo.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", memo.dataset.memoId);
  });

  document.addEventListener("dragover", function (event) {
    if (!draggedMemo) return;
    const over = event.target.closest && event.target.closest(".memo");
    if (!over || over === draggedMemo || over.parentElement !== draggedMemo.parentElement) return;
    event.preventDefault();
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    over.parentElement.insertBefore(draggedMemo, after ? over.nextSibling : over);
  });

  document.addEventListener("drop", function (event) {
    if (draggedMemo) event.preventDefault();
  });

  document.addEventListener("dragend", async function () {
    const memo = draggedMemo;
    draggedMemo = null;
    if (!memo) return;
    memo.classList.remove("is-dragging");
    memo.draggable = false;
    const list = memo.parentElement;
    const order = memoOrder(list);
    if (order.join(",") === orderBefore) return;
    const section = list.closest("[data-panel-part]");
    section.dataset.busy = "true";
    const form = new URLSearchParams();
    order.forEach(function (id) { form.append("id", id); });
    form.append("place", list.dataset.place || "chat");
    let response = null;
    try {
      response = await fetch(list.dataset.orderUrl, {
        method: "POST", body: form, credentials: "same-origin", headers: FRAGMENT_HEADERS,
      });
    } catch (error) {
      delete section.dataset.busy;
      showError(list, body.dataset.messageNetwork);
      return;
    }
    delete section.dataset.busy;
    if (response.status === 401) { goToLogin(); return; }
    if (!response.ok) {
      const plain = (response.headers.get("Content-Type") || "").startsWith("text/plain");
      toast(plain && response.status < 500 ? await response.text() : body.dataset.messageFailed);
      refreshSection(section, true);
      return;
    }
    const fresh = parseFragment(await response.text()).firstElementChild;
    if (fresh && section.isConnected) {
      section.replaceWith(fresh);
      htmx.process(fresh);
      const moved = $("#memo-" + memo.dataset.memoId, fresh);
      if (moved) moved.classList.add("memo--moved");
    }
  });

  // ---------- 対応マーク on a message: one menu open at a time ----------

  document.addEventListener("toggle", function (event) {
    const picker = event.target;
    if (!picker.matches || !picker.matches("[data-mark-picker]") || !picker.open) return;
    $all("[data-mark-picker][open]").forEach(function (other) { if (other !== picker) other.open = false; });
    // Near the bottom of the thread the menu opens upwards, so that it is not cut off.
    const box = scroller();
    if (box) {
      const below = box.getBoundingClientRect().bottom - picker.getBoundingClientRect().bottom;
      picker.classList.toggle("mark-picker--up", below < 340);
    }
  }, true);

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-mark-picker]")) return;
    $all("[data-mark-picker][open]").forEach(function (picker) { picker.open = false; });
  });

  // ---------- asking before a deletion (hx-confirm, in the page's own dialog) ----------

  body.addEventListener("htmx:confirm", function (event) {
    const question = event.detail.question;
    const dialog = $("#confirm-dialog");
    if (!question || !dialog || typeof dialog.showModal !== "function") return;
    if (!event.detail.elt.closest("[data-contact-panel]")) return;
    event.preventDefault();
    $("#confirm-text", dialog).textContent = question;
    dialog.returnValue = "";
    dialog.addEventListener("close", function () {
      if (dialog.returnValue === "ok") event.detail.issueRequest(true);
    }, { once: true });
    dialog.showModal();
  });

  // ---------- the display-name editor (システム表示名) ----------

  function startEditingName(field) {
    if (!field) return;
    const form = $(".name-form", field);
    const input = $("[data-name-input]", field);
    $(".name-display", field).hidden = true;
    form.hidden = false;
    form.setAttribute("data-editing", "");
    input.focus();
    input.select();
  }

  function stopEditingName(field) {
    if (!field) return;
    const input = $("[data-name-input]", field);
    input.value = input.dataset.original;
    const form = $(".name-form", field);
    form.hidden = true;
    form.removeAttribute("data-editing");
    const display = $(".name-display", field);
    display.hidden = false;
    const slot = $("[data-error-slot]", field);
    if (slot) slot.textContent = "";
    display.focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && event.target.matches && event.target.matches("[data-name-input]")) {
      event.preventDefault();
      stopEditingName(event.target.closest(".name-field"));
    }
  });

  // ---------- htmx: errors where the member acted, and what follows a swap ----------

  function errorSlotFor(element) {
    const scope = element && element.closest("[data-error-scope]");
    return scope ? $("[data-error-slot]", scope) : null;
  }

  function showError(element, message) {
    const slot = errorSlotFor(element);
    if (slot) {
      slot.textContent = message;
      const scope = slot.closest("[data-error-scope]");
      const field = element.matches && element.matches("input, textarea, select")
        ? element
        : $("[data-composer], [data-name-input], .inline-input, input:not([type=hidden]), textarea, select", scope);
      if (field) field.setAttribute("aria-invalid", "true");
      if (field && field.id) slot.id = slot.id || field.id + "-error";
      if (field && slot.id) field.setAttribute("aria-describedby", slot.id);
    } else {
      toast(message);
    }
  }

  function clearError(element) {
    const slot = errorSlotFor(element);
    if (slot) slot.textContent = "";
    const scope = element && element.closest("[data-error-scope]");
    if (scope) $all("[aria-invalid]", scope).forEach(function (field) { field.removeAttribute("aria-invalid"); });
  }

  body.addEventListener("htmx:beforeRequest", function (event) {
    const element = event.detail.elt;
    if (element.id === "composer" && !composerText().value.trim()) {
      event.preventDefault(); // an empty box sends nothing
      return;
    }
    clearError(element);
    const section = element.closest && element.closest("[data-panel-part]");
    if (section) section.dataset.busy = "true";
  });

  body.addEventListener("htmx:afterRequest", function (event) {
    const xhr = event.detail.xhr;
    if (xhr) readUnreadTotal(xhr.getResponseHeader("X-Madoguchi-Unread"));
    const element = event.detail.elt;
    const section = element.closest && element.closest("[data-panel-part]");
    if (section) delete section.dataset.busy;
    if (element.id === "composer" && event.detail.successful) {
      const textarea = composerText();
      textarea.value = "";
      growTextarea(textarea);
      textarea.focus();
    }
    if (element.id === "filter-form" && event.detail.successful) toggleFilter(true);
  });

  body.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    if (xhr.status === 401) { goToLogin(); return; }
    const plain = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain");
    const message = plain && xhr.status < 500 ? xhr.responseText : body.dataset.messageFailed;
    showError(event.detail.elt, message);
  });

  body.addEventListener("htmx:sendError", function (event) {
    showError(event.detail.elt, body.dataset.messageNetwork);
  });

  // Older messages go in above: keep what the member is reading where it is.
  let olderAnchor = null;
  body.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail.target;
    if (target && target.classList && target.classList.contains("thread-older")) {
      const box = scroller();
      olderAnchor = box ? box.scrollHeight - box.scrollTop : null;
    }
  });

  body.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail.target;
    if (olderAnchor !== null) {
      tidyThread();
      const box = scroller();
      if (box) box.scrollTop = box.scrollHeight - olderAnchor;
      olderAnchor = null;
    }
    if (target && target.id === "thread-messages") {
      tidyThread();
      scrollToBottom();
    }
    if (target && target.id === "conversation-pane") {
      // A conversation was opened from the list (opening does not mark it read).
      const pane = openPane();
      if (pane) {
        showPane("thread");
        scrollToBottom();
        highlightOpenRow();
      }
    }
  });

  body.addEventListener("htmx:afterSettle", function (event) {
    const target = event.detail.target;
    if (target && target.id === "contact-name-field") {
      const display = $("#contact-name-field .name-display");
      if (display) display.focus(); // saved: back to the name, where the member was
    }
    if (target && target.id === "conversation-pane") highlightOpenRow();
    if (target && target.id === "conversation-list") {
      highlightOpenRow();
      syncAddress();
      const toggle = $("#filter-toggle");
      const panel = filterPanel();
      if (toggle && panel) toggle.setAttribute("aria-expanded", String(!panel.hidden));
    }
    // A memo moved with ↑ ↓ keeps the keyboard on it (its button may now be disabled).
    const moved = $(".memo--moved");
    if (moved && (!document.activeElement || document.activeElement === body)) {
      const button = $all(".memo-tools button", moved).find(function (b) { return !b.disabled; });
      if (button) button.focus();
    }
  });

  body.addEventListener("madoguchi:read-state", function (event) {
    refreshRow(Number(event.detail.conversationId), false);
  });

  body.addEventListener("madoguchi:contact-updated", function (event) {
    onContactUpdated(Number(event.detail.contactId), event.detail.part, true);
  });

  // New content (a page, a fragment): grow text boxes, count, and focus a fresh editor.
  function prepare(root) {
    $all("[data-autogrow]", root).forEach(autogrow);
    $all("[data-counter]", root).forEach(updateCounter);
    const focus = $("[data-autofocus]", root);
    if (focus && root !== document.body) focus.focus();
  }

  // ---------- start ----------

  function start() {
    scrollToBottom();
    const textarea = composerText();
    if (textarea) growTextarea(textarea);
    prepare(document.body);
    htmx.onLoad(prepare);
    connectLive();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
