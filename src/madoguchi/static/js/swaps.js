// htmx around the page's requests: errors shown where the member acted, what follows a swap,
// and the server's HX-Trigger events. One listener per htmx event; the beforeSwap one decides
// three things, each commented where it is decided.

import { $, body, clearError, goToLogin, readUnreadTotal, showError, showPane } from "./dom.js";
import {
  applyReplyWindow, keepReadingPlace, olderMessagesSwapped, scrollToBottom, tidyThread,
} from "./conversation.js";
import { composerHasContent, composerSent } from "./composer.js";
import {
  highlightOpenRow, listRequestEnded, listRequestSent, listSettled, searchComposing, staleListAnswer, toggleFilter,
} from "./list.js";
import { contactUpdated, conversationChanged, conversationGone, refreshConversation } from "./live.js";
import { closeMenuOnRequest, closeMenus, confirmInDialog, openWorkDialog } from "./menus.js";
import { PANEL_PARTS, panelSettled, prepare } from "./panel.js";

// A settings page's refused change answers the panel with its error in it (an HTML 4xx).
function settingsRefusal(target, xhr) {
  const html = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/html");
  return !!(target && target.closest && target.closest(".settings")) && html && xhr.status >= 400 && xhr.status < 500;
}

// New content: its text boxes and counters, and the composer's reply window.
function prepareLoaded(root) {
  prepare(root);
  if (root === document.body || $("#reply-window", root) || root.id === "reply-window") applyReplyWindow();
}

// The parts that several requests replace (the list: tabs, search, filter, live refreshes; the
// conversation pane: rows, keys, notifications) show the newest one asked for: an older GET for the
// same part still on its way is given up. Its answer must not come: once a newer answer has
// replaced the part, htmx tells the old, detached element (so no check on body hears it) and still
// swaps the answer's out-of-band pieces into the page: the first tab's tabs back after a second
// tab was clicked, or one customer's panel beside another's conversation, where a tag or a note
// went to the wrong customer. A request that changes something (a deletion) is let be.
const SUPERSEDED = new Set(["conversation-list", "conversation-pane"]);
const onTheirWay = new Map();

function supersede(detail) {
  const target = detail.target;
  if (!target || !SUPERSEDED.has(target.id) || detail.requestConfig.verb !== "get") return;
  const previous = onTheirWay.get(target.id);
  onTheirWay.set(target.id, detail.xhr);
  if (previous && previous !== detail.xhr) previous.abort();
}

export function install() {
  body.addEventListener("htmx:confirm", function (event) {
    // Search waits for the IME: half-typed kana is not a query.
    if (searchComposing(event.detail.elt)) { event.preventDefault(); return; }
    confirmInDialog(event);
  });

  body.addEventListener("htmx:beforeRequest", function (event) {
    const element = event.detail.elt;
    const target = event.detail.target;
    closeMenuOnRequest(element, target);
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
    supersede(event.detail);
    if (target && target.id === "conversation-list") listRequestSent(event.detail.xhr);
  });

  body.addEventListener("htmx:afterRequest", function (event) {
    const xhr = event.detail.xhr;
    if (xhr) readUnreadTotal(xhr.getResponseHeader("X-Madoguchi-Unread"));
    if (xhr) listRequestEnded(xhr);
    const element = event.detail.elt;
    const section = element.closest && element.closest("[data-panel-part]");
    if (section) delete section.dataset.busy;
    if (element.id === "composer" && event.detail.successful) composerSent(element);
    if (element.id === "filter-form" && event.detail.successful) toggleFilter(true);
    // A dialog's form that changed something elsewhere (the header…) has done its work.
    const dialog = element.closest && element.closest("dialog.sheet");
    const target = event.detail.target;
    if (dialog && event.detail.successful && target && !dialog.contains(target)) dialog.close();
  });

  body.addEventListener("htmx:beforeSwap", function (event) {
    const detail = event.detail;
    const target = detail.target;
    const xhr = detail.xhr;
    // 1. An older answer for the list than the newest asked for is dropped.
    if (target && target.id === "conversation-list" && staleListAnswer(xhr)) {
      detail.shouldSwap = false;
      return;
    }
    // 2. A refusal that answers the part itself with the reason in it (a header action says so
    //    in X-Madoguchi-Swap; a settings panel by being HTML) is shown there.
    if (xhr && (xhr.getResponseHeader("X-Madoguchi-Swap") === "error" || settingsRefusal(target, xhr))) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
    // 3. Older messages go in above: remember where the member is reading.
    if (target && target.classList && target.classList.contains("thread-older")) keepReadingPlace();
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

  body.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail.target;
    olderMessagesSwapped();
    if (target && target.id === "thread-messages") {
      tidyThread();
      scrollToBottom();
      closeMenus();
    }
    if (target && target.id === "work-dialog-body") openWorkDialog();
    if (target && target.id === "conversation-pane" && $("#conversation-pane[data-conversation-id]")) {
      // A conversation was opened from the list (opening does not mark it read).
      showPane("thread");
      scrollToBottom();
      highlightOpenRow();
    }
  });

  body.addEventListener("htmx:afterSettle", function (event) {
    const target = event.detail.target;
    if (target && target.id === "conversation-pane") highlightOpenRow();
    if (target && target.id === "conversation-list") listSettled();
    panelSettled(target);
  });

  // What the server's answers ask for after the swap (HX-Trigger-After-Settle, ui/threads.py).
  body.addEventListener("madoguchi:read-state", function (event) {
    refreshConversation(Number(event.detail.conversationId), new Set(["row"]), false);
  });

  body.addEventListener("madoguchi:contact-updated", function (event) {
    const contactId = Number(event.detail.contactId);
    if (event.detail.part === "all") {
      // An action may have changed any part of the customer.
      PANEL_PARTS.forEach(function (name) { contactUpdated(contactId, name, false); });
    } else {
      contactUpdated(contactId, event.detail.part, true);
    }
  });

  body.addEventListener("madoguchi:conversation-changed", function (event) {
    conversationChanged(Number(event.detail.conversationId), event.detail.from);
  });

  body.addEventListener("madoguchi:conversation-gone", function (event) {
    conversationGone(Number(event.detail.conversationId));
  });

  prepareLoaded(document.body);
  htmx.onLoad(prepareLoaded);
}
