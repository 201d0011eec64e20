// Madoguchi staff UI: panes on a phone, the composer (keys, images, templates, actions,
// @mentions), the team workflow (menus, dialogs), the name editor, the customer panel (tags,
// fields, memos, records, 送信予約), the list's filter, notifications, and live updates.
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
    } else if (action === "close-dialog") {
      const dialog = trigger.closest("dialog");
      if (dialog) dialog.close();
    } else if (action === "focus-team") {
      focusTeam(trigger.dataset.focus);
    } else if (action === "copy-link") {
      copyText(location.origin + trigger.dataset.copyPath);
    } else if (action === "copy-field") {
      const field = document.getElementById(trigger.dataset.field);
      if (field) { field.select(); copyText(field.value); }
    } else if (action === "pick-images") {
      const input = document.getElementById(trigger.dataset.input);
      if (input) input.click();
    } else if (action === "remove-image") {
      removeImage(trigger.closest(".attachment"));
    } else if (action === "insert-template") {
      insertTemplate(trigger);
    } else if (action === "allow-notifications") {
      allowNotifications();
    } else if (action === "dismiss-notifications") {
      dismissNotificationBanner();
    }
    closeMenuOf(trigger);
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

  // A header with a menu open is not replaced under the member's pointer: it is refreshed
  // when the menu closes.
  function refreshThreadHeader(conversationId) {
    const header = $("#thread-header");
    if (header && $("details[open]", header)) { header.dataset.stale = "true"; return null; }
    return refreshConversationPart(conversationId, "/header", "#thread-header");
  }

  function refreshReplyWindow(conversationId) {
    return refreshConversationPart(conversationId, "/reply-window", "#reply-window").then(applyReplyWindow);
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
        notifyCustomerWrote(event);
        break;
      case "message.updated":
        refreshMessage(conversationId, event.message_id);
        break;
      case "conversation.updated":
        refreshRow(conversationId, true);
        if (openConversationId() === conversationId) refreshOpenConversation(conversationId, "");
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
        if (openConversationId() !== null) refreshTeam(openConversationId());
        break;
      case "templates.changed":
      case "actions.changed":
        reloadOpenPickers();
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
      refreshOpenConversation(id, "");
    }
    ["profile", "tags", "fields", "memos", "records", "scheduled"].forEach(refreshAllPanels);
    reloadPalette();
    loadNotificationCount();
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

  // A text, or an image, is something to send.
  function composerHasContent(form) {
    return !!($("[data-composer]", form).value.trim() || $(".attachment:not(.is-uploading)", form));
  }

  document.addEventListener("keydown", function (event) {
    const textarea = event.target;
    if (!(textarea instanceof HTMLTextAreaElement) || !textarea.matches("[data-composer]")) return;
    if (mentionKeydown(event)) return; // the @ suggestions have the keys while open
    if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return; // IME: never send
    const form = textarea.form;
    const modifier = event.ctrlKey || event.metaKey;
    const sendsOnEnter = form.dataset.sendShortcut !== "mod_enter";
    const wantsSend = sendsOnEnter ? !modifier && !event.shiftKey && !event.altKey : modifier;
    if (wantsSend) {
      event.preventDefault();
      if (composerHasContent(form)) form.requestSubmit();
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
    if (target.matches("[data-composer]")) { growTextarea(target); suggestMentions(target); }
    if (target.matches("[data-picker-find]")) findInPicker(target);
    if (target.matches("[data-confirm-words]")) checkConfirmWords(target);
    if (target.matches("[data-autogrow]")) autogrow(target);
    if (target.matches("[data-counter]")) updateCounter(target);
    if (target.matches("[data-tag-find]")) findTags(target);
  });

  // Reply or 社内メモ: the box turns yellow for a note; images and templates go with replies.
  function setComposerKind(form, note) {
    form.classList.toggle("composer--note", note);
    const textarea = $("[data-composer]", form);
    textarea.placeholder = note ? textarea.dataset.placeholderNote : textarea.dataset.placeholderReply;
    const send = $(".composer-send", form);
    $("span", send).textContent = note ? send.dataset.labelNote : send.dataset.labelReply;
    $all("[data-reply-only]", form).forEach(function (tool) {
      if (tool.tagName === "DETAILS") { tool.open = false; tool.classList.toggle("is-disabled", note); }
      else tool.disabled = note;
    });
    if (!note) hideMentions();
  }

  document.addEventListener("change", function (event) {
    const radio = event.target;
    if (!radio.matches || !radio.matches('.composer input[name="kind"]')) return;
    setComposerKind(radio.form, radio.value === "note");
    $("[data-composer]", radio.form).focus();
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

  // The OK button says what will happen (削除, 送信, 実行…) in its tone (danger by default).
  body.addEventListener("htmx:confirm", function (event) {
    const question = event.detail.question;
    const dialog = $("#confirm-dialog");
    if (!question || !dialog || typeof dialog.showModal !== "function") return;
    event.preventDefault();
    const elt = event.detail.elt;
    const ok = $("[data-confirm-ok]", dialog);
    if (!ok.dataset.defaultLabel) ok.dataset.defaultLabel = ok.textContent;
    ok.textContent = elt.dataset.confirmLabel || ok.dataset.defaultLabel;
    ok.className = "button button--" + (elt.dataset.confirmTone === "primary" ? "primary" : "danger");
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
    if (element.id === "composer" && !composerHasContent(element)) {
      event.preventDefault(); // an empty box sends nothing
      return;
    }
    if (element.matches && element.matches("form") && $(".attachment.is-uploading", element)) {
      event.preventDefault(); // images still on their way would be left out
      const input = $("[data-image-input]", element);
      showError(element, input ? input.dataset.messageUploading : body.dataset.messageFailed);
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
      $all(".attachment", element).forEach(function (chip) { chip.remove(); });
      textarea.focus();
    }
    if (element.id === "filter-form" && event.detail.successful) toggleFilter(true);
    // A dialog's form that changed something elsewhere (the header…) has done its work.
    const dialog = element.closest && element.closest("dialog.sheet");
    const target = event.detail.target;
    if (dialog && event.detail.successful && target && !dialog.contains(target)) dialog.close();
  });

  // The list answers the newest request for it: a live refresh answered after the member's own
  // (clearing the filter, a tab) must not put the older list back. The member's request also
  // makes a pending live refresh needless.
  let latestListRequest = null;
  body.addEventListener("htmx:beforeRequest", function (event) {
    const target = event.detail.target;
    if (event.defaultPrevented || !target || target.id !== "conversation-list") return;
    clearTimeout(listRefreshTimer);
    latestListRequest = event.detail.xhr;
  });
  body.addEventListener("htmx:beforeSwap", function (event) {
    const target = event.detail.target;
    if (target && target.id === "conversation-list" && latestListRequest !== null
        && event.detail.xhr !== latestListRequest) {
      event.detail.shouldSwap = false;
    }
  });

  // A refused header action answers the header with the reason in it: show it there.
  body.addEventListener("htmx:beforeSwap", function (event) {
    const xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader("X-Madoguchi-Swap") === "error") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
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
      closeMenus();
    }
    if (target && target.id === "work-dialog-body") openWorkDialog();
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
      showActiveTab();
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
    const part = event.detail.part;
    if (part === "all") {
      // An action may have changed any part of the customer.
      ["profile", "tags", "fields", "memos", "records", "scheduled"].forEach(function (name) {
        onContactUpdated(Number(event.detail.contactId), name, false);
      });
    } else {
      onContactUpdated(Number(event.detail.contactId), part, true);
    }
  });

  body.addEventListener("madoguchi:conversation-changed", function (event) {
    const id = Number(event.detail.conversationId);
    refreshRow(id, true);
    if (openConversationId() === id) refreshOpenConversation(id, event.detail.from);
  });

  body.addEventListener("madoguchi:conversation-gone", function (event) {
    onConversationGone(Number(event.detail.conversationId));
  });

  // New content (a page, a fragment): grow text boxes, count, and focus a fresh editor.
  function prepare(root) {
    $all("[data-autogrow]", root).forEach(autogrow);
    $all("[data-counter]", root).forEach(updateCounter);
    const focus = $("[data-autofocus]", root);
    if (focus && root !== document.body) focus.focus();
    if (root === document.body || $("#reply-window", root) || root.id === "reply-window") applyReplyWindow();
  }

  // ---------- menus (details[data-menu]): one open at a time ----------

  function closeMenus(except) {
    $all("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except && !(except && menu.contains(except))) menu.open = false;
    });
  }

  function closeMenuOf(element) {
    const menu = element.closest && element.closest("details[data-menu]");
    if (menu && !element.matches("summary")) menu.open = false;
  }

  document.addEventListener("toggle", function (event) {
    const menu = event.target;
    if (!menu.matches || !menu.matches("details[data-menu]")) return;
    if (menu.open) {
      closeMenus(menu);
      if (menu.matches("[data-bell]")) setNotificationCount(0, true);
      return;
    }
    // A header refreshed while its menu was open catches up now.
    const header = menu.closest("#thread-header");
    if (header && header.dataset.stale && openConversationId() !== null) {
      delete header.dataset.stale;
      setTimeout(function () { refreshThreadHeader(openConversationId()); }, 0);
    }
  }, true);

  document.addEventListener("click", function (event) {
    if (!event.target.closest || event.target.closest("dialog")) return; // its confirmation
    closeMenus(event.target.closest("details[data-menu]"));
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const menu = event.target.closest && event.target.closest("details[data-menu][open]");
    if (!menu) return;
    event.preventDefault();
    menu.open = false;
    const summary = $("summary", menu);
    if (summary) summary.focus();
  });

  // A request made from inside a menu (a snooze preset) closes it; its answer lands elsewhere.
  body.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    const menu = elt.closest && elt.closest("details[data-menu]");
    if (menu && !menu.contains(event.detail.target) && !elt.closest(".menu-panel--picker")) menu.open = false;
  });

  // ---------- the dialogs of the team workflow ----------

  function workDialog() { return $("#work-dialog"); }

  function openWorkDialog() {
    const dialog = workDialog();
    if (!dialog) return;
    closeMenus();
    if (!dialog.open) dialog.showModal();
    const focus = $("[data-autofocus]", dialog);
    if (focus) focus.focus();
  }

  document.addEventListener("close", function (event) {
    if (event.target.id === "work-dialog") $("#work-dialog-body").replaceChildren();
  }, true);

  // A click on the dimmed backdrop closes the dialog (not a click inside it).
  document.addEventListener("click", function (event) {
    const dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement) || !dialog.matches(".sheet, .viewer")) return;
    const box = dialog.getBoundingClientRect();
    const outside = event.clientX < box.left || event.clientX > box.right ||
      event.clientY < box.top || event.clientY > box.bottom;
    if (outside || dialog.matches(".viewer")) dialog.close();
  });

  // 永久削除: the button wakes up once the customer's name (or 削除) is typed.
  function checkConfirmWords(input) {
    const words = input.dataset.confirmWords.split("\n").map(fold).filter(Boolean);
    const typed = fold(input.value.trim());
    const button = $("[data-confirm-submit]", input.form);
    if (button) button.disabled = !words.includes(typed);
  }

  // ---------- the conversation's header and 「この問い合わせ」 ----------

  // After a change (here or by a colleague): what else shows the conversation, fresh.
  // ``from``: where the member acted, whose answer is already on the page.
  function refreshOpenConversation(conversationId, from) {
    appendNewMessages(conversationId);
    if (from !== "header" && from !== "dialog") refreshThreadHeader(conversationId);
    if (from !== "team") refreshTeam(conversationId);
    refreshReplyWindow(conversationId);
  }

  function teamEditing(part) {
    const memo = $("#team-memo", part);
    const active = document.activeElement;
    return !!((memo && memo.value !== memo.defaultValue) ||
      (active && part.contains(active) && active.matches("textarea, input, select")));
  }

  async function refreshTeam(conversationId) {
    const part = $("#team-part");
    if (!part || Number(part.dataset.conversationId) !== conversationId) return;
    if (teamEditing(part)) { part.dataset.stale = "true"; return; }
    const html = await fetchFragment("/ui/conversations/" + conversationId + "/team");
    const current = $("#team-part");
    if (html === null || !current || teamEditing(current)) return;
    const fresh = parseFragment(html).firstElementChild;
    if (!fresh) return;
    $all(".saved-note", current).forEach(function (note) {
      const head = $(".part-head", fresh);
      if (head && !$(".saved-note", head)) head.insertBefore(note.cloneNode(true), $(".team-state", head));
    });
    current.replaceWith(fresh);
    htmx.process(fresh);
    prepare(fresh);
  }

  document.addEventListener("focusout", function () {
    setTimeout(function () {
      const part = $("#team-part[data-stale]");
      if (part && !teamEditing(part)) {
        delete part.dataset.stale;
        refreshTeam(Number(part.dataset.conversationId));
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

  // ••• 「担当者を変更」「フォロワーを追加」: to the choices in the customer pane.
  function focusTeam(id) {
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

  // ---------- copying links ----------

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      toast(body.dataset.messageCopied);
    } catch (error) {
      // Plain http on a shop's network: the older way.
      const field = document.createElement("textarea");
      field.value = text;
      field.setAttribute("readonly", "");
      field.className = "visually-hidden";
      document.body.append(field);
      field.select();
      let copied = false;
      try { copied = document.execCommand("copy"); } catch (ignored) { copied = false; }
      field.remove();
      toast(copied ? body.dataset.messageCopied : body.dataset.messageCopyFailed + " " + text);
    }
  }

  // ---------- Instagram's reply window ----------

  let replyWindowTimer = null;
  function applyReplyWindow() {
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
      replyWindowTimer = setTimeout(function () { refreshReplyWindow(id); }, Math.max(0, ends - Date.now()) + 1000);
    }
  }

  // ---------- images to send (the composer, 送信予約) ----------

  function trayOf(input) { return document.getElementById(input.dataset.tray); }

  function newChip() {
    const template = $("#attachment-chip");
    return template.content.firstElementChild.cloneNode(true);
  }

  function fillChip(chip, image) {
    chip.dataset.imageId = String(image.id);
    const picture = $("img", chip);
    picture.src = image.thumbnail_url;
    $("input", chip).value = String(image.id);
    chip.classList.remove("is-uploading");
    chip.removeAttribute("aria-busy");
  }

  function addImageChips(tray, images) {
    images.forEach(function (image) {
      const chip = newChip();
      fillChip(chip, image);
      tray.append(chip);
    });
  }

  async function uploadImage(input, file) {
    const tray = trayOf(input);
    const chip = newChip();
    chip.classList.add("is-uploading");
    chip.setAttribute("aria-busy", "true");
    $("img", chip).removeAttribute("src");
    $("input", chip).disabled = true;
    tray.append(chip);
    const data = new FormData();
    data.append("file", file);
    let response = null;
    try {
      response = await fetch("/ui/files", {
        method: "POST", body: data, credentials: "same-origin", headers: FRAGMENT_HEADERS,
      });
    } catch (error) {
      chip.remove();
      showError(input, body.dataset.messageNetwork);
      return;
    }
    if (response.status === 401) { goToLogin(); return; }
    if (!response.ok) {
      chip.remove();
      const plain = (response.headers.get("Content-Type") || "").startsWith("text/plain");
      showError(input, plain && response.status < 500 ? await response.text() : body.dataset.messageFailed);
      return;
    }
    $("input", chip).disabled = false;
    fillChip(chip, await response.json());
  }

  // The browser checks first (kind, size, how many); the server checks the content again.
  document.addEventListener("change", function (event) {
    const input = event.target;
    if (!input.matches || !input.matches("[data-image-input]")) return;
    const tray = trayOf(input);
    const files = Array.from(input.files || []);
    input.value = "";
    if (!tray || !files.length) return;
    clearError(input);
    const room = Number(tray.dataset.max) - $all(".attachment", tray).length;
    const allowed = (input.accept || "").split(",");
    let problem = files.length > room ? input.dataset.messageCount : "";
    files.slice(0, Math.max(0, room)).forEach(function (file) {
      if (!allowed.includes(file.type)) { problem = problem || input.dataset.messageType; return; }
      if (file.size > Number(input.dataset.maxBytes)) { problem = problem || input.dataset.messageSize; return; }
      uploadImage(input, file);
    });
    if (problem) showError(input, problem);
  });

  function removeImage(chip) {
    if (!chip) return;
    const tray = chip.parentElement;
    const next = chip.nextElementSibling || chip.previousElementSibling;
    chip.remove();
    const button = next ? $(".attachment-remove", next) : null;
    if (button) button.focus();
    else if (tray && tray.closest("form")) {
      const text = $("textarea", tray.closest("form"));
      if (text) text.focus();
    }
  }

  // ---------- templates (テンプレート) and actions (☆) ----------

  function findInPicker(input) {
    const picker = input.closest("[data-picker]");
    const wanted = fold(input.value.trim());
    let shown = 0;
    $all("[data-picker-item]", picker).forEach(function (item) {
      const match = !wanted || fold(item.dataset.find || "").includes(wanted);
      item.hidden = !match;
      if (match) shown += 1;
    });
    $all("[data-picker-group]", picker).forEach(function (group) {
      group.hidden = !$all("[data-picker-item]", group).some(function (item) { return !item.hidden; });
    });
    const none = $("[data-picker-none]", picker);
    if (none) none.hidden = shown > 0 || !$("[data-picker-item]", picker);
  }

  // 「挿入」: the text, filled in for this customer, goes where the cursor is; its images join
  // the tray. The member may still change it before sending.
  async function insertTemplate(button) {
    const form = $("#composer");
    if (!form) return;
    const tray = $("[data-attachments]", form);
    const input = $("[data-image-input]", form);
    let response = null;
    try {
      response = await fetch(button.dataset.url, { headers: FRAGMENT_HEADERS, credentials: "same-origin" });
    } catch (error) {
      showError(button, body.dataset.messageNetwork);
      return;
    }
    if (response.status === 401) { goToLogin(); return; }
    if (!response.ok) {
      const plain = (response.headers.get("Content-Type") || "").startsWith("text/plain");
      showError(button, plain && response.status < 500 ? await response.text() : body.dataset.messageFailed);
      return;
    }
    const filled = await response.json();
    if ($all(".attachment", tray).length + filled.images.length > Number(tray.dataset.max)) {
      showError(button, input.dataset.messageCount);
      return;
    }
    const reply = $("[data-kind-reply]", form);
    if (reply && !reply.checked && !reply.disabled) {
      reply.checked = true;
      setComposerKind(form, false);
    }
    const textarea = composerText();
    const start = textarea.selectionStart;
    const end = textarea.selectionEnd;
    const before = textarea.value.slice(0, start);
    const glue = before && !before.endsWith("\n") ? "\n" : "";
    textarea.setRangeText(glue + filled.text, start, end, "end");
    addImageChips(tray, filled.images);
    closeMenus();
    growTextarea(textarea);
    textarea.focus();
  }

  function reloadOpenPickers() {
    $all("details[data-menu][open] .menu-panel--picker[hx-get]").forEach(function (panel) {
      htmx.ajax("GET", panel.getAttribute("hx-get"), { target: panel, swap: "innerHTML" });
    });
  }

  // ---------- @mentions in an internal note ----------

  const mention = { open: false, start: -1, index: 0 };

  function mentionList() { return $("#mention-list"); }

  function mentionOptions() {
    const list = mentionList();
    return list ? $all(".mention-option", list).filter(function (option) { return !option.hidden; }) : [];
  }

  function hideMentions() {
    const list = mentionList();
    if (list) list.hidden = true;
    const textarea = composerText();
    if (textarea) {
      textarea.removeAttribute("aria-activedescendant");
    }
    mention.open = false;
  }

  function highlightMention(index) {
    const options = mentionOptions();
    if (!options.length) return;
    mention.index = (index + options.length) % options.length;
    options.forEach(function (option, i) { option.setAttribute("aria-selected", String(i === mention.index)); });
    const chosen = options[mention.index];
    composerText().setAttribute("aria-activedescendant", chosen.id);
    chosen.scrollIntoView({ block: "nearest" });
  }

  // "@" in a note: the members whose name (or e-mail name) starts with what follows.
  function suggestMentions(textarea) {
    const list = mentionList();
    if (!list || !textarea.form.classList.contains("composer--note")) { hideMentions(); return; }
    const before = textarea.value.slice(0, textarea.selectionStart);
    const found = /(^|[\s　(（「])@([^\s@　]{0,20})$/.exec(before);
    if (!found) { hideMentions(); return; }
    const wanted = fold(found[2]);
    let shown = 0;
    $all(".mention-option", list).forEach(function (option) {
      const words = fold(option.dataset.search || "");
      const match = !wanted || words.split(/\s+/).some(function (word) { return word.startsWith(wanted); }) ||
        fold(option.dataset.handle || "").startsWith(wanted);
      option.hidden = !match;
      if (match) shown += 1;
    });
    if (!shown) { hideMentions(); return; }
    mention.open = true;
    mention.start = before.length - found[2].length - 1;
    list.hidden = false;
    highlightMention(0);
  }

  function chooseMention(option) {
    const textarea = composerText();
    const end = textarea.selectionStart;
    textarea.setRangeText("@" + option.dataset.handle + " ", mention.start, end, "end");
    hideMentions();
    textarea.focus();
    growTextarea(textarea);
  }

  function mentionKeydown(event) {
    if (!mention.open || event.isComposing || event.keyCode === 229) return false;
    const options = mentionOptions();
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      highlightMention(mention.index + (event.key === "ArrowDown" ? 1 : -1));
      return true;
    }
    if ((event.key === "Enter" || event.key === "Tab") && options[mention.index]) {
      event.preventDefault();
      chooseMention(options[mention.index]);
      return true;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      hideMentions();
      return true;
    }
    return false;
  }

  document.addEventListener("mousedown", function (event) {
    const option = event.target.closest && event.target.closest(".mention-option");
    if (!option) return;
    event.preventDefault(); // keep the caret in the box
    chooseMention(option);
  });

  document.addEventListener("focusout", function (event) {
    if (event.target.matches && event.target.matches("[data-composer]")) setTimeout(hideMentions, 150);
  });

  // ---------- the image viewer ----------

  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("a[data-viewer]");
    const viewer = $("#image-viewer");
    if (!link || !viewer || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    $("#image-viewer-img", viewer).src = link.href;
    $("#image-viewer-open", viewer).href = link.href;
    viewer.showModal();
  });

  // ---------- the list's tabs: the chosen one in sight ----------

  function showActiveTab() {
    const tab = $("#list-tabs [aria-current]");
    const row = tab && tab.parentElement;
    if (!row || row.scrollWidth <= row.clientWidth) return;
    row.scrollLeft = tab.offsetLeft - (row.clientWidth - tab.offsetWidth) / 2;
  }

  // ---------- notifications (F41) ----------

  function setNotificationCount(count, seen) {
    $all("[data-notification-count]").forEach(function (badge) {
      badge.textContent = count > 99 ? "99+" : String(count);
      badge.hidden = count === 0;
    });
    if (seen) markNotificationsSeen();
  }

  async function loadNotificationCount() {
    if (!$("[data-notification-count]")) return;
    const text = await fetchFragment("/ui/notifications/unread");
    if (text !== null) setNotificationCount(Number(text) || 0);
  }

  let seenTimer = null;
  function markNotificationsSeen() {
    clearTimeout(seenTimer);
    seenTimer = setTimeout(function () {
      fetch("/ui/notifications/read", { method: "POST", credentials: "same-origin", headers: FRAGMENT_HEADERS })
        .catch(function () {});
    }, 600);
  }

  function notificationsWanted() {
    return body.dataset.notifyAssigned === "true" || body.dataset.notifyMentions === "true";
  }

  // A small banner offers browser notifications; the browser is asked only from its button.
  function offerNotifications() {
    const banner = $("#notify-banner");
    if (!banner || !("Notification" in window) || !listElement()) return;
    let dismissed = false;
    try { dismissed = localStorage.getItem("madoguchi.notify-banner") === "dismissed"; } catch (error) { dismissed = false; }
    banner.hidden = dismissed || Notification.permission !== "default" || !notificationsWanted();
  }

  async function allowNotifications() {
    const banner = $("#notify-banner");
    if (banner) banner.hidden = true;
    if (!("Notification" in window)) return;
    try { await Notification.requestPermission(); } catch (error) { /* an old browser */ }
  }

  function dismissNotificationBanner() {
    const banner = $("#notify-banner");
    if (banner) banner.hidden = true;
    try { localStorage.setItem("madoguchi.notify-banner", "dismissed"); } catch (error) { /* private mode */ }
  }

  async function readMemberSettings() {
    try {
      const response = await fetch("/api/v1/me", { credentials: "same-origin" });
      if (!response.ok) return;
      const me = await response.json();
      body.dataset.notifyAssigned = String(!!me.notify_assigned);
      body.dataset.notifyMentions = String(!!me.notify_mentions);
    } catch (error) { /* the next change tells again */ }
  }

  function openConversation(conversationId) {
    if (!$("#conversation-pane") || !listElement()) {
      window.location.href = "/c/" + conversationId;
      return;
    }
    const url = withQuery("/c/" + conversationId, listQuery());
    htmx.ajax("GET", "/ui/conversations/" + conversationId, { target: "#conversation-pane", swap: "outerHTML" })
      .then(function () { history.pushState(null, "", url); });
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest && event.target.closest("[data-open-conversation]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (!listElement()) return; // another page: the link itself opens the inbox
    event.preventDefault();
    closeMenus();
    openConversation(Number(link.dataset.openConversation));
  });

  async function onNotification(event) {
    const badge = $("[data-notification-count]");
    if (badge) setNotificationCount((Number(badge.textContent) || 0) + 1);
    // A scheduled message that failed is the member's own business: told like an assignment.
    const wanted = event.kind === "mentioned" ? body.dataset.notifyMentions : body.dataset.notifyAssigned;
    if (wanted !== "true" || !("Notification" in window) || Notification.permission !== "granted") return;
    const name = event.actor_name || body.dataset.messageSomeone;
    const template = event.kind === "mentioned" ? body.dataset.messageNotifyMentioned
      : event.kind === "scheduled_failed" ? body.dataset.messageNotifyScheduledFailed
      : body.dataset.messageNotifyAssigned;
    let title = "Madoguchi";
    try {
      const response = await fetch("/api/v1/conversations/" + event.conversation_id, { credentials: "same-origin" });
      if (response.ok) title = (await response.json()).contact.display_name;
    } catch (error) { /* the notification still says who */ }
    const notice = new Notification(title, {
      body: template.replace("{name}", name),
      tag: "madoguchi-" + event.kind + "-" + event.conversation_id,
      icon: "/static/favicon.svg",
    });
    notice.addEventListener("click", function () {
      window.focus();
      openConversation(event.conversation_id);
      notice.close();
    });
  }

  // A customer writes in a conversation assigned to me: a browser notification, unless I am
  // looking at that very conversation.
  async function notifyCustomerWrote(event) {
    if (event.kind !== "inbound" || String(event.assignee_id) !== body.dataset.memberId) return;
    if (body.dataset.notifyAssigned !== "true" || !("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && openConversationId() === event.conversation_id) return;
    let title = "Madoguchi";
    let text = body.dataset.messageNotifyWrote || "";
    try {
      const response = await fetch("/api/v1/conversations/" + event.conversation_id, { credentials: "same-origin" });
      if (response.ok) {
        const conversation = await response.json();
        title = conversation.contact.display_name;
        text = conversation.last_message_preview || text;
      }
    } catch (error) { /* the notification still comes */ }
    const notice = new Notification(title, {
      body: text,
      tag: "madoguchi-message-" + event.conversation_id,
      icon: "/static/favicon.svg",
    });
    notice.addEventListener("click", function () {
      window.focus();
      openConversation(event.conversation_id);
      notice.close();
    });
  }

  // ---------- start ----------

  function start() {
    scrollToBottom();
    const textarea = composerText();
    if (textarea) growTextarea(textarea);
    prepare(document.body);
    htmx.onLoad(prepare);
    showActiveTab();
    loadNotificationCount();
    offerNotifications();
    connectLive();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
