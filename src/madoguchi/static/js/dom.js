// Small helpers every module uses: finding elements, fetching fragments, telling the member.

export const body = document.body;
export const FRAGMENT_HEADERS = { "HX-Request": "true" };

export function $(selector, root) { return (root || document).querySelector(selector); }
export function $all(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }

export function parseFragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content;
}

export function withQuery(path, query) { return query ? path + "?" + query : path; }

export function openPane() { return $("#conversation-pane[data-conversation-id]"); }

export function openConversationId() {
  const pane = openPane();
  return pane ? Number(pane.dataset.conversationId) : null;
}

// Panes on a phone: one at a time.
export function showPane(name) {
  body.dataset.pane = name;
}

let toastTimer = null;
export function toast(message) {
  const box = $("#toast");
  if (!box || !message) return;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(function () { box.hidden = true; }, 5000);
}

export function goToLogin() {
  window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
}

// A refused request's sentence (plain text under 500), else the general one.
export async function failureText(response) {
  const plain = (response.headers.get("Content-Type") || "").startsWith("text/plain");
  return plain && response.status < 500 ? response.text() : body.dataset.messageFailed;
}

// A GET for a fragment; null when it failed (and the member was told).
export async function fetchFragment(url) {
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

// ``shown``: the total as the server shows it ("999+" past the most it counts).
function setUnreadTotal(shown) {
  const none = shown === "0";
  $all("[data-unread-count]").forEach(function (element) {
    element.textContent = shown;
    element.hidden = none;
  });
  if (body.dataset.title) {
    document.title = (none ? "" : "(" + shown + ") ") + body.dataset.title;
  }
}

export function readUnreadTotal(value) {
  if (value !== null && value !== undefined && value !== "") setUnreadTotal(value);
}

// ---------- text ----------

// Kana-blind, width-blind matching for the finders (ハイライト finds はいらいと).
export function fold(text) {
  return text.normalize("NFKC").toLowerCase().replace(/[\u30a1-\u30f6]/g, function (ch) {
    return String.fromCharCode(ch.charCodeAt(0) - 0x60);
  });
}

// A text box as tall as its text; ``maxHeight`` caps it (the composer: a third of the screen).
export function grow(textarea, maxHeight) {
  textarea.style.height = "auto";
  const wanted = textarea.scrollHeight + 2;
  textarea.style.height = (maxHeight ? Math.min(wanted, maxHeight) : wanted) + "px";
}

// ---------- errors where the member acted ----------

function errorSlotFor(element) {
  const scope = element && element.closest("[data-error-scope]");
  return scope ? $("[data-error-slot]", scope) : null;
}

export function showError(element, message) {
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

export function clearError(element) {
  const slot = errorSlotFor(element);
  if (slot) slot.textContent = "";
  const scope = element && element.closest("[data-error-scope]");
  if (scope) $all("[aria-invalid]", scope).forEach(function (field) { field.removeAttribute("aria-invalid"); });
}

// Plain http on a shop's network has no clipboard API: the older way.
export function copyByHand(text) {
  const field = document.createElement("textarea");
  field.value = text;
  field.setAttribute("readonly", "");
  field.className = "visually-hidden";
  document.body.append(field);
  field.select();
  let copied = false;
  try { copied = document.execCommand("copy"); } catch (ignored) { copied = false; }
  field.remove();
  return copied;
}
