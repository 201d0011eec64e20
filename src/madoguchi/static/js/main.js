// Madoguchi staff UI, the entry module (layout.html loads it with <script type="module">).
//
// Native ES modules, no build step; each one's install() adds its listeners, called once here:
//   dom.js            helpers: $, fragments (fetchFragment), the unread total, errors, one auto-grow
//   list.js           the conversation list: its query, rows in order, 絞り込み, tabs
//   conversation.js   the open conversation: thread, header, 「この問い合わせ」, reply window
//   composer.js       keys, reply or 社内メモ, images, templates and actions, @mentions
//   panel.js          the customer panel's parts, the name editor, tags, fields, memos
//   menus.js          menus, 対応マーク pickers, dialogs, the image viewer
//   notifications.js  the bell and the browser's notifications (F41)
//   live.js           /ws events → ONE request per conversation for what they change (ui/live.py)
//   swaps.js          htmx: errors in place, what follows a swap, the server's HX-Trigger events
//   pwa.js            the service worker (/sw.js) and the 「オフライン」 notice
//   push.js           Web Push on the member's own settings page (this device, previews, devices)
//   settings.js       the settings pages (its own entry, loaded by settings/_layout.html)
// Their addresses are /static/modules/<version>/<name> (ui/render.py: module_url), so the
// relative imports below resolve to the same release's files.

import { body, copyByHand, showPane, toast } from "./dom.js";
import * as composer from "./composer.js";
import * as conversation from "./conversation.js";
import * as list from "./list.js";
import * as live from "./live.js";
import * as menus from "./menus.js";
import * as notifications from "./notifications.js";
import * as panel from "./panel.js";
import * as push from "./push.js";
import * as pwa from "./pwa.js";
import * as swaps from "./swaps.js";

// Buttons and links marked data-action="…".
const ACTIONS = {
  "show-list": function (trigger, event) { event.preventDefault(); list.showList(); },
  "show-customer": function () { showPane(body.dataset.pane === "customer" ? "thread" : "customer"); },
  "show-thread": function () { showPane("thread"); },
  "edit-name": function (trigger) { panel.startEditingName(trigger.closest(".name-field")); },
  "cancel-name": function (trigger) { panel.stopEditingName(trigger.closest(".name-field")); },
  "toggle-filter": function () { list.toggleFilter(); },
  "remove-term": function (trigger) { list.removeFilterTerm(trigger); },
  // Leave an editor: the part comes back as it is stored now.
  "cancel-edit": function (trigger) {
    const section = trigger.closest("[data-panel-part]");
    if (section) panel.refreshSection(section, true);
  },
  "close-dialog": function (trigger) {
    const dialog = trigger.closest("dialog");
    if (dialog) dialog.close();
  },
  "focus-team": function (trigger) { conversation.focusTeam(trigger.dataset.focus); },
  "copy-link": function (trigger) { copyText(location.origin + trigger.dataset.copyPath); },
  "copy-field": function (trigger) {
    const field = document.getElementById(trigger.dataset.field);
    if (field) { field.select(); copyText(field.value); }
  },
  "pick-images": function (trigger) {
    const input = document.getElementById(trigger.dataset.input);
    if (input) input.click();
  },
  "remove-image": function (trigger) { composer.removeImage(trigger.closest(".attachment")); },
  "insert-template": function (trigger) { composer.insertTemplate(trigger); },
  "allow-notifications": function () { notifications.allowNotifications(); },
  "dismiss-notifications": function () { notifications.dismissNotificationBanner(); },
};

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(body.dataset.messageCopied);
  } catch (error) {
    // Plain http on a shop's network: the older way.
    toast(copyByHand(text) ? body.dataset.messageCopied : body.dataset.messageCopyFailed + " " + text);
  }
}

function start() {
  document.addEventListener("click", function (event) {
    const trigger = event.target.closest("[data-action]");
    if (!trigger) return;
    const action = ACTIONS[trigger.dataset.action];
    if (action) action(trigger, event);
    menus.closeMenuOf(trigger);
  });
  menus.install();
  list.install();
  conversation.install();
  composer.install();
  panel.install();
  swaps.install();
  notifications.install();
  live.install();
  pwa.install();
  push.install();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
