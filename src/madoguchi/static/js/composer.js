// The composer: send keys (Enter or Ctrl+Enter, never while an IME composes), reply or 社内メモ,
// its length, images (also the 送信予約 form's), templates and actions (☆), @mentions in a note.

import {
  $, $all, body, clearError, FRAGMENT_HEADERS, failureText, fold, goToLogin, grow, showError,
} from "./dom.js";
import { closeMenus } from "./menus.js";

function composerText() { return $("[data-composer]"); }

// Grows up to a third of the screen, and counts near the limit.
function growComposer(textarea) {
  grow(textarea, window.innerHeight * 0.3);
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
export function composerHasContent(form) {
  return !!($("[data-composer]", form).value.trim() || $(".attachment:not(.is-uploading)", form));
}

// Sent: the box is empty again, ready for the next one.
export function composerSent(form) {
  const textarea = composerText();
  textarea.value = "";
  growComposer(textarea);
  $all(".attachment", form).forEach(function (chip) { chip.remove(); });
  textarea.focus();
}

// Reply or 社内メモ: the box turns yellow for a note; images and templates go with replies.
export function setComposerKind(form, note) {
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
    showError(input, await failureText(response));
    return;
  }
  $("input", chip).disabled = false;
  fillChip(chip, await response.json());
}

// The browser checks first (kind, size, how many); the server checks the content again. What is
// left out is said by name, with the reason (the error slot is read out: role="alert").
function leftOut(input, key, files) {
  if (!files.length) return "";
  const separator = document.documentElement.lang === "ja" ? "、" : ", ";
  const names = files.map(function (file) { return "「" + file.name + "」"; }).join(separator);
  return input.dataset[key].replace("{count}", String(files.length)).replace("{names}", names);
}

function pickImages(input) {
  const tray = trayOf(input);
  const files = Array.from(input.files || []);
  input.value = "";
  if (!tray || !files.length) return;
  clearError(input);
  const room = Math.max(0, Number(tray.dataset.max) - $all(".attachment", tray).length);
  const allowed = (input.accept || "").split(",");
  const wrongType = [];
  const tooBig = [];
  const fitting = files.filter(function (file) {
    if (!allowed.includes(file.type)) { wrongType.push(file); return false; }
    if (file.size > Number(input.dataset.maxBytes)) { tooBig.push(file); return false; }
    return true;
  });
  fitting.slice(0, room).forEach(function (file) { uploadImage(input, file); });
  const problem = [
    leftOut(input, "messageCount", fitting.slice(room)),
    leftOut(input, "messageType", wrongType),
    leftOut(input, "messageSize", tooBig),
  ].filter(Boolean).join(" ");
  if (problem) showError(input, problem);
}

export function removeImage(chip) {
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
export async function insertTemplate(button) {
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
    showError(button, await failureText(response));
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
  growComposer(textarea);
  textarea.focus();
}

export function reloadOpenPickers() {
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
  growComposer(textarea);
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

export function install() {
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
      growComposer(textarea);
    }
  });

  document.addEventListener("input", function (event) {
    const target = event.target;
    if (!target.matches) return;
    if (target.matches("[data-composer]")) { growComposer(target); suggestMentions(target); }
    if (target.matches("[data-picker-find]")) findInPicker(target);
  });

  document.addEventListener("change", function (event) {
    const target = event.target;
    if (!target.matches) return;
    if (target.matches('.composer input[name="kind"]')) {
      setComposerKind(target.form, target.value === "note");
      $("[data-composer]", target.form).focus();
    }
    if (target.matches("[data-image-input]")) pickImages(target);
  });

  document.addEventListener("mousedown", function (event) {
    const option = event.target.closest && event.target.closest(".mention-option");
    if (!option) return;
    event.preventDefault(); // keep the caret in the box
    chooseMention(option);
  });

  document.addEventListener("focusout", function (event) {
    if (event.target.matches && event.target.matches("[data-composer]")) setTimeout(hideMentions, 150);
  });

  const textarea = composerText();
  if (textarea) growComposer(textarea);
}
