// Madoguchi settings pages: colours, popovers, drag to reorder, the import preview, copying,
// counting characters, the notification permission, and what follows an htmx swap (errors shown
// in place, focus put back, the change said to screen readers). An entry module of its own,
// loaded by settings/_layout.html next to main.js (whose swaps.js shows a refused change's panel).

import { $, $all } from "./dom.js";

const HEX = /^#[0-9a-fA-F]{6}$/;

// ---------- colours (the CSP allows no style attributes: they are set from here) ----------

function paintColours(root) {
  $all("[data-color]", root).forEach(function (element) {
    const colour = element.dataset.color;
    if (HEX.test(colour)) element.style.setProperty("--swatch", colour);
  });
}

document.addEventListener("input", function (event) {
  const input = event.target;
  if (input.matches && input.matches("[data-custom-color]")) {
    const choice = $("[data-custom-choice]", input.form);
    if (choice) choice.checked = true;
  }
});

// ---------- popovers: one open at a time; Esc, 「キャンセル」 or a click elsewhere closes ----------

function closePopover(details, refocus) {
  if (!details || !details.open) return;
  details.open = false;
  if (refocus) {
    const summary = $("summary", details);
    if (summary) summary.focus();
  }
}

document.addEventListener("toggle", function (event) {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.matches("[data-popover]") || !details.open) return;
  $all("details[data-popover][open]").forEach(function (other) {
    if (other !== details) closePopover(other, false);
  });
  const first = $(".set-popover-panel input:not([type=hidden]):not([type=radio]), .set-popover-panel select, .set-popover-panel textarea, .set-popover-panel button", details);
  if (first) first.focus();
}, true);

document.addEventListener("click", function (event) {
  const target = event.target;
  const close = target.closest("[data-close-popover]");
  if (close) {
    event.preventDefault();
    closePopover(close.closest("details"), true);
    return;
  }
  if (target.closest("[aria-disabled='true']")) {
    event.preventDefault(); // at the top (or bottom) already
    return;
  }
  const inside = target.closest("details[data-popover]");
  $all("details[data-popover][open]").forEach(function (details) {
    if (details !== inside) closePopover(details, false);
  });
});

document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape" || event.isComposing) return;
  const details = event.target.closest && event.target.closest("details[data-popover][open]");
  if (details) {
    event.preventDefault();
    closePopover(details, true);
  }
});

// ---------- drag to reorder (mouse, pen or finger on the handle) ----------

function orderFormFor(list) {
  let next = list.nextElementSibling;
  while (next && !next.matches("[data-order-form]")) next = next.nextElementSibling;
  return next;
}

function saveOrder(list) {
  const form = orderFormFor(list);
  if (!form) return;
  form.replaceChildren();
  $all(":scope > .set-item", list).forEach(function (item) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = "ids";
    input.value = item.dataset.id;
    form.append(input);
  });
  list.classList.add("is-saving");
  form.requestSubmit();
}

document.addEventListener("pointerdown", function (event) {
  const handle = event.target.closest && event.target.closest("[data-drag-handle]");
  if (!handle || event.button !== 0) return;
  const item = handle.closest(".set-item");
  const list = item && item.parentElement;
  if (!list || !list.matches("[data-sortable]")) return;
  event.preventDefault();

  const items = $all(":scope > .set-item", list);
  const rects = items.map(function (element) { return element.getBoundingClientRect(); });
  const from = items.indexOf(item);
  const height = rects[from].height;
  const startY = event.clientY;
  let to = from;

  handle.setPointerCapture(event.pointerId);
  item.classList.add("is-dragging");
  list.classList.add("is-sorting");

  function onMove(moveEvent) {
    const lowest = rects[0].top - rects[from].top;
    const highest = rects[rects.length - 1].bottom - rects[from].bottom;
    const dy = Math.max(lowest, Math.min(highest, moveEvent.clientY - startY));
    item.style.transform = "translateY(" + dy + "px)";
    // An item is passed once the dragged one's leading edge crosses its middle.
    const top = rects[from].top + dy;
    const bottom = rects[from].bottom + dy;
    to = from;
    rects.forEach(function (rect, index) {
      const middle = rect.top + rect.height / 2;
      if (index < from && top < middle) to -= 1;
      if (index > from && bottom > middle) to += 1;
    });
    items.forEach(function (other, index) {
      if (other === item) return;
      let shift = 0;
      if (from < to && index > from && index <= to) shift = -height;
      if (from > to && index < from && index >= to) shift = height;
      other.style.transform = shift ? "translateY(" + shift + "px)" : "";
    });
  }

  function onEnd() {
    handle.removeEventListener("pointermove", onMove);
    handle.removeEventListener("pointerup", onEnd);
    handle.removeEventListener("pointercancel", onEnd);
    items.forEach(function (element) { element.style.transform = ""; });
    item.classList.remove("is-dragging");
    list.classList.remove("is-sorting");
    if (to === from) return;
    const others = items.filter(function (element) { return element !== item; });
    if (to >= others.length) list.append(item);
    else list.insertBefore(item, others[to]);
    saveOrder(list);
  }

  handle.addEventListener("pointermove", onMove);
  handle.addEventListener("pointerup", onEnd);
  handle.addEventListener("pointercancel", onEnd);
});

// ---------- import: choosing a file shows which column fills what ----------

function previewImport() {
  const file = $("[data-import-file]");
  const button = $("#import-preview-button");
  if (file && button && file.files && file.files.length) button.click();
}

document.addEventListener("change", function (event) {
  const element = event.target;
  if (!element.matches) return;
  if (element.matches("[data-import-file], [data-import-encoding]")) previewImport();
  if (element.matches("[data-mapping-select]")) {
    const row = element.closest("tr");
    if (row) row.classList.toggle("set-mapping-row--skipped", !element.value);
    // The tags column changed: the list of tags the import makes is read again.
    if (element.value === "tags" || element.dataset.was === "tags") previewImport();
    element.dataset.was = element.value;
  }
});

// ---------- copy a webhook URL, a tag or a first password ----------

function selectAll(element) {
  if (element.select) {
    element.focus();
    element.select();
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function say(status, text) {
  status.textContent = text;
  clearTimeout(status._timer);
  status._timer = setTimeout(function () { status.textContent = ""; }, 4000);
}

function copy(button) {
  const source = document.getElementById(button.dataset.copy);
  const status = $("[data-copied='" + button.dataset.copy + "']");
  if (!source || !status) return;
  const text = source.value !== undefined ? source.value : source.textContent;
  function done() { say(status, status.dataset.done); }
  function byHand() {
    // Without the clipboard (a plain-http address): select it, then Ctrl+C copies.
    selectAll(source);
    let copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    if (copied) done(); else say(status, status.dataset.manual);
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, byHand);
  } else {
    byHand();
  }
}

document.addEventListener("click", function (event) {
  const button = event.target.closest && event.target.closest("[data-copy]");
  if (button) copy(button);
  const chip = event.target.closest && event.target.closest("[data-insert]");
  if (chip) insertPlaceholder(chip);
});

// ---------- templates: the characters left, and placeholders put where the cursor is ----------

function countCharacters(textarea) {
  const counter = $("[data-counter-for='" + textarea.id + "']");
  if (!counter) return;
  // As the server counts: code points of the trimmed text.
  const used = Array.from(textarea.value.trim()).length;
  const limit = Number(counter.dataset.limit);
  const over = used > limit;
  $("[data-count]", counter).textContent = used.toLocaleString();
  counter.classList.toggle("is-over", over);
  if (over) counter.setAttribute("title", counter.dataset.over);
  else counter.removeAttribute("title");
}

function insertPlaceholder(chip) {
  const textarea = document.getElementById(chip.dataset.into);
  if (!textarea) return;
  const start = textarea.selectionStart ?? textarea.value.length;
  const end = textarea.selectionEnd ?? textarea.value.length;
  textarea.setRangeText(chip.dataset.insert, start, end, "end");
  textarea.focus();
  countCharacters(textarea);
}

document.addEventListener("input", function (event) {
  if (event.target.matches && event.target.matches("[data-counted]")) countCharacters(event.target);
});

// ---------- members: typing a first password ----------

document.addEventListener("change", function (event) {
  const element = event.target;
  if (element.matches && element.matches("[data-password-typed]") && element.checked) {
    const input = $("input[type=password]", element.closest("fieldset"));
    if (input) input.focus();
  }
});

// ---------- browser notifications: this browser's permission, asked for with a click ----------

function showPermission(box) {
  const state = !("Notification" in window) ? "unsupported" : Notification.permission;
  $all("[data-permission-state]", box).forEach(function (line) {
    line.hidden = line.dataset.permissionState !== state;
  });
  $("[data-permission-request]", box).hidden = state !== "default";
  box.hidden = false;
}

document.addEventListener("click", function (event) {
  const button = event.target.closest && event.target.closest("[data-permission-request]");
  if (!button || !("Notification" in window)) return;
  const box = button.closest("[data-notification-permission]");
  Notification.requestPermission().then(function () { showPermission(box); });
});

// ---------- CSV downloads: the file, then how many cells hold a stand-in (〓) ----------

// The download is fetched here so that the page can say what the file's header says; anything
// but a CSV (a refusal page, no network) falls back to the plain download.
async function downloadCsv(url, box) {
  let response = null;
  try {
    response = await fetch(url, { credentials: "same-origin" });
  } catch (_error) {
    response = null;
  }
  const type = response ? response.headers.get("content-type") || "" : "";
  if (!response || !response.ok || !type.startsWith("text/csv")) {
    window.location.assign(url);
    return;
  }
  const blob = await response.blob();
  const named = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = named ? named[1] : "export.csv";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
  const status = box ? $("[data-csv-status]", box) : null;
  if (!status) return;
  const count = Number(response.headers.get("X-Madoguchi-Replaced-Cells") || "0");
  status.textContent = count > 0 ? status.dataset.replaced.replace("{n}", String(count)) : status.dataset.ready;
  status.hidden = false;
}

document.addEventListener("submit", function (event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("[data-csv-download]")) return;
  event.preventDefault();
  const query = new URLSearchParams(new FormData(form)).toString();
  downloadCsv(form.action + (query ? "?" + query : ""), form);
});

document.addEventListener("click", function (event) {
  const link = event.target instanceof Element ? event.target.closest("a[data-csv-download]") : null;
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  downloadCsv(link.href, link.closest("[data-csv-box]"));
});

// What script adds to a page or a swapped panel.
function enhance(root) {
  paintColours(root);
  $all("[data-copy]", root).forEach(function (button) { button.hidden = false; });
  $all("[data-counted]", root).forEach(countCharacters);
  $all("[data-notification-permission]", root).forEach(showPermission);
}

// ---------- htmx: what follows a swap ----------

// After a swap: colours painted, focus back where the member was (or on what the page says),
// and what was done said to screen readers.
document.body.addEventListener("htmx:afterSettle", function (event) {
  const target = event.detail.target;
  if (!target || !target.id || !["settings-panel", "import-preview"].includes(target.id)) return;
  const swapped = document.getElementById(target.id);
  if (!swapped) return;
  enhance(swapped);
  const focus = $("[data-focus]", swapped);
  if (focus) {
    focus.focus();
  } else if (!document.activeElement || document.activeElement === document.body) {
    const heading = $("#settings-title");
    if (heading) heading.focus();
  }
  const live = $("#settings-live");
  const notice = $("[data-notice]", swapped);
  if (live) {
    live.textContent = "";
    if (notice) setTimeout(function () { live.textContent = notice.textContent.trim(); }, 50);
  }
});

document.body.addEventListener("htmx:afterRequest", function () {
  $all(".set-item-list.is-saving").forEach(function (list) { list.classList.remove("is-saving"); });
});

// ---------- start ----------

function start() {
  enhance(document);
  const focus = $(".settings [data-focus]");
  if (focus && !$(".settings [autofocus]")) focus.focus();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
