// Madoguchi staff UI: panes on a phone, the composer's keys, the name editor, and live updates.
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

  function toast(message) {
    const box = $("#toast");
    if (!box || !message) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  function goToLogin() {
    window.location.href = "/login?next=" + encodeURIComponent(location.pathname);
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
      if (location.pathname !== "/") history.replaceState(null, "", "/");
    } else if (action === "show-customer") {
      showPane(body.dataset.pane === "customer" ? "thread" : "customer");
    } else if (action === "show-thread") {
      showPane("thread");
    } else if (action === "edit-name") {
      startEditingName(trigger.closest(".name-field"));
    } else if (action === "cancel-name") {
      stopEditingName(trigger.closest(".name-field"));
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
    if (fresh && stillThere) stillThere.replaceWith(fresh);
  }

  async function refreshPart(conversationId, path, selector) {
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
    return refreshPart(conversationId, "/read-toggle", "#read-toggle");
  }

  function refreshThreadHeader(conversationId) {
    return refreshPart(conversationId, "/header", "#thread-header");
  }

  function refreshCustomer(conversationId) {
    const form = $("#customer-pane .name-form");
    if (form && !form.hidden) return; // the member is typing a name here: leave it alone
    return refreshPart(conversationId, "/customer", "#customer-pane");
  }

  // ---------- the list ----------

  function listElement() { return $("#conversation-list"); }

  function listParams() {
    const list = listElement();
    const params = new URLSearchParams();
    params.set("view", list ? list.dataset.view || "all" : "all");
    const active = openConversationId();
    if (active !== null) params.set("active", String(active));
    return params;
  }

  function searching() {
    const list = listElement();
    return !!(list && list.dataset.q);
  }

  let listRefreshTimer = null;
  function refreshList() {
    clearTimeout(listRefreshTimer);
    listRefreshTimer = setTimeout(function () {
      const list = listElement();
      if (!list) return;
      const params = listParams();
      if (list.dataset.q) params.set("q", list.dataset.q);
      htmx.ajax("GET", "/ui/list?" + params.toString(), { target: "#conversation-list", swap: "outerHTML" });
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
  const pendingRows = new Map();
  function refreshRow(conversationId, mayInsert) {
    if (!listElement()) return;
    if (searching()) {
      if (mayInsert || $("#row-" + conversationId)) refreshList();
      return;
    }
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

  // ---------- live events ----------

  function onContactUpdated(contactId) {
    $all('.row[data-contact-id="' + contactId + '"]').forEach(function (row) {
      refreshRow(Number(row.dataset.conversationId), false);
    });
    const pane = openPane();
    if (pane && Number(pane.dataset.contactId) === contactId) {
      const id = Number(pane.dataset.conversationId);
      refreshThreadHeader(id);
      refreshCustomer(id);
    }
  }

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
      case "contact.updated":
        onContactUpdated(event.contact_id);
        break;
      default:
        break;
    }
  }

  // After a reconnect we may have missed events: fetch what is shown again.
  function resync() {
    refreshList();
    const id = openConversationId();
    if (id !== null) {
      appendNewMessages(id);
      refreshReadToggle(id);
      refreshThreadHeader(id);
    }
  }

  function connectLive() {
    if (!listElement() && !openPane()) return;
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
    if (event.target.matches && event.target.matches("[data-composer]")) growTextarea(event.target);
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

  // ---------- the display-name editor (システム表示名) ----------

  function startEditingName(field) {
    if (!field) return;
    const form = $(".name-form", field);
    const input = $("[data-name-input]", field);
    $(".name-display", field).hidden = true;
    form.hidden = false;
    input.focus();
    input.select();
  }

  function stopEditingName(field) {
    if (!field) return;
    const input = $("[data-name-input]", field);
    input.value = input.dataset.original;
    $(".name-form", field).hidden = true;
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
      const field = $("[data-composer], [data-name-input]", slot.closest("[data-error-scope]"));
      if (field) field.setAttribute("aria-invalid", "true");
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
  });

  body.addEventListener("htmx:afterRequest", function (event) {
    const xhr = event.detail.xhr;
    if (xhr) readUnreadTotal(xhr.getResponseHeader("X-Madoguchi-Unread"));
    const element = event.detail.elt;
    if (element.id === "composer" && event.detail.successful) {
      const textarea = composerText();
      textarea.value = "";
      growTextarea(textarea);
      textarea.focus();
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
    if (target && target.id === "conversation-list") highlightOpenRow();
  });

  body.addEventListener("madoguchi:read-state", function (event) {
    refreshRow(Number(event.detail.conversationId), false);
  });

  body.addEventListener("madoguchi:contact-updated", function (event) {
    onContactUpdated(Number(event.detail.contactId));
  });

  // ---------- start ----------

  function start() {
    scrollToBottom();
    const textarea = composerText();
    if (textarea) growTextarea(textarea);
    connectLive();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
