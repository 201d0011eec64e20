// Menus (details[data-menu]) and 対応マーク pickers, one open at a time; the dialogs (the team
// workflow's sheet, the image viewer) and what closes them.

import { $, $all, fold } from "./dom.js";

export function closeMenus(except) {
  $all("details[data-menu][open]").forEach(function (menu) {
    if (menu !== except && !(except && menu.contains(except))) menu.open = false;
  });
}

export function closeMenuOf(element) {
  const menu = element.closest && element.closest("details[data-menu]");
  if (menu && !element.matches("summary")) menu.open = false;
}

// A request made from inside a menu (a snooze preset) closes it; its answer lands elsewhere.
export function closeMenuOnRequest(elt, target) {
  const menu = elt.closest && elt.closest("details[data-menu]");
  if (menu && !menu.contains(target) && !elt.closest(".menu-panel--picker")) menu.open = false;
}

// ---------- the dialogs of the team workflow ----------

export function openWorkDialog() {
  const dialog = $("#work-dialog");
  if (!dialog) return;
  closeMenus();
  if (!dialog.open) dialog.showModal();
  const focus = $("[data-autofocus]", dialog);
  if (focus) focus.focus();
}

// 永久削除: the button wakes up once the customer's name (or 削除) is typed.
function checkConfirmWords(input) {
  const words = input.dataset.confirmWords.split("\n").map(fold).filter(Boolean);
  const typed = fold(input.value.trim());
  const button = $("[data-confirm-submit]", input.form);
  if (button) button.disabled = !words.includes(typed);
}

// Asking before a deletion (hx-confirm) in the page's own dialog; the OK button says what will
// happen (削除, 送信, 実行…) in its tone (danger by default). False: the browser's own asks.
export function confirmInDialog(event) {
  const question = event.detail.question;
  const dialog = $("#confirm-dialog");
  if (!question || !dialog || typeof dialog.showModal !== "function") return false;
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
  return true;
}

export function install() {
  document.addEventListener("toggle", function (event) {
    const menu = event.target;
    if (menu.matches && menu.matches("details[data-menu]") && menu.open) closeMenus(menu);
  }, true);

  document.addEventListener("click", function (event) {
    if (!event.target.closest || event.target.closest("dialog")) return; // its confirmation
    closeMenus(event.target.closest("details[data-menu]"));
  });

  // ---------- 対応マーク on a message: one menu open at a time ----------

  document.addEventListener("toggle", function (event) {
    const picker = event.target;
    if (!picker.matches || !picker.matches("[data-mark-picker]") || !picker.open) return;
    $all("[data-mark-picker][open]").forEach(function (other) { if (other !== picker) other.open = false; });
    // Near the bottom of the thread the menu opens upwards, so that it is not cut off.
    const box = $("#thread-scroll");
    if (box) {
      const below = box.getBoundingClientRect().bottom - picker.getBoundingClientRect().bottom;
      picker.classList.toggle("mark-picker--up", below < 340);
    }
  }, true);

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-mark-picker]")) return;
    $all("[data-mark-picker][open]").forEach(function (picker) { picker.open = false; });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    $all("[data-mark-picker][open]").forEach(function (picker) {
      picker.open = false;
      const summary = $("summary", picker);
      if (summary && picker.contains(event.target)) summary.focus();
    });
    const menu = event.target.closest && event.target.closest("details[data-menu][open]");
    if (!menu) return;
    event.preventDefault();
    menu.open = false;
    const summary = $("summary", menu);
    if (summary) summary.focus();
  });

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

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-confirm-words]")) checkConfirmWords(event.target);
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
}
