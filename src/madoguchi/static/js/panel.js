// The customer panel (in the inbox and on the customer's page): its parts refresh on their own
// and wait while being edited; the display-name editor, tags, fields, memos (drag by the handle).

import {
  $, $all, body, FRAGMENT_HEADERS, failureText, fetchFragment, fold, goToLogin, grow,
  parseFragment, showError, toast,
} from "./dom.js";

export const PANEL_PARTS = ["profile", "tags", "fields", "memos", "records", "scheduled"];

// A part the member is typing in (or has an editor open in) is not replaced under their
// fingers: it is marked stale and refreshed once they leave it.
function isEditing(section) {
  if ($("[data-editing]", section)) return true;
  const active = document.activeElement;
  return !!(active && section.contains(active) &&
    active.matches("input:not([type=checkbox]):not([type=radio]):not([type=hidden]), textarea, select"));
}

// Keep the "更新されました" notes the member's own save just showed (the live echo of that
// save must not wipe them).
function carryNotes(current, fresh) {
  $all(".saved-note", current).forEach(function (note) {
    const holder = note.parentElement.closest("[id]");
    const inside = holder && holder !== current && current.contains(holder);
    const twin = inside ? $("#" + CSS.escape(holder.id), fresh) : fresh;
    if (!twin) return;
    // A row without a head (the メルマガ switch's) keeps its note where it was: in the fresh
    // row's element of the same kind (the switch's label).
    const head = inside
      ? $(".crm-row-head, legend", twin) || sameKind(note.parentElement, twin)
      : $(".part-head", fresh);
    if (!head || $(":scope > .saved-note", head)) return;
    head.insertBefore(note.cloneNode(true), $(":scope > .part-action, :scope > .crm-link", head));
  });
}

function sameKind(element, within) {
  const classes = Array.from(element.classList, function (name) { return "." + CSS.escape(name); });
  return $(element.tagName.toLowerCase() + classes.join(""), within);
}

export async function refreshSection(section, force) {
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

export function refreshPanelPart(contactId, part) {
  $all('[data-panel-part="' + part + '"][data-contact-id="' + contactId + '"]').forEach(function (section) {
    refreshSection(section, false);
  });
}

export function refreshAllPanels(part) {
  $all('[data-panel-part="' + part + '"]').forEach(function (section) { refreshSection(section, false); });
}

export function panelContactId() {
  const panel = $("[data-contact-panel]");
  return panel ? Number(panel.dataset.contactId) : null;
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

// New content (a page, a fragment): grow text boxes, count, and focus a fresh editor.
export function prepare(root) {
  $all("[data-autogrow]", root).forEach(function (textarea) { grow(textarea); });
  $all("[data-counter]", root).forEach(updateCounter);
  const focus = $("[data-autofocus]", root);
  if (focus && root !== document.body) focus.focus();
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

// ---------- the display-name editor (システム表示名) ----------

export function startEditingName(field) {
  if (!field) return;
  const form = $(".name-form", field);
  const input = $("[data-name-input]", field);
  $(".name-display", field).hidden = true;
  form.hidden = false;
  form.setAttribute("data-editing", "");
  input.focus();
  input.select();
}

export function stopEditingName(field) {
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

// After an htmx swap: saved names send the keyboard back to the name; a memo moved with ↑ ↓
// keeps the keyboard on it (its button may now be disabled).
export function panelSettled(target) {
  if (target && target.id === "contact-name-field") {
    const display = $("#contact-name-field .name-display");
    if (display) display.focus();
  }
  const moved = $(".memo--moved");
  if (moved && (!document.activeElement || document.activeElement === body)) {
    const button = $all(".memo-tools button", moved).find(function (b) { return !b.disabled; });
    if (button) button.focus();
  }
}

// ---------- memos: drag by the handle (the ↑ ↓ buttons are the keyboard's way) ----------

let draggedMemo = null;
let orderBefore = "";

function memoOrder(list) {
  return $all(":scope > .memo", list).map(function (memo) { return memo.dataset.memoId; });
}

async function dropMemo() {
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
    toast(await failureText(response));
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
}

export function install() {
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

  document.addEventListener("input", function (event) {
    const target = event.target;
    if (!target.matches) return;
    if (target.matches("[data-autogrow]")) grow(target);
    if (target.matches("[data-counter]")) updateCounter(target);
    if (target.matches("[data-tag-find]")) findTags(target);
  });

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (event.key === "Escape" && target.matches && target.matches("[data-name-input]")) {
      event.preventDefault();
      stopEditingName(target.closest(".name-field"));
      return;
    }
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

  document.addEventListener("dragend", dropMemo);
}
