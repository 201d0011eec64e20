// Web Push on the member's own settings page (notifications/push.py): the switch that asks the
// browser's permission and subscribes this device, the switch for message previews, and the
// list of the member's devices (ui/push_devices.py, each with a remove button).

import { $, $all, body } from "./dom.js";
import { registration } from "./pwa.js";

const API = "/api/v1/push/subscriptions";

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function keyBytes(text) {
  const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), function (char) { return char.charCodeAt(0); });
}

function showState(card, state) {
  $all("[data-push-state]", card).forEach(function (line) { line.hidden = line.dataset.pushState !== state; });
}

function showFailure(card, message) {
  const slot = $("[data-push-error]", card);
  slot.textContent = message || "";
  slot.hidden = !message;
}

async function answerText(response) {
  try {
    const answer = await response.json();
    if (typeof answer.detail === "string") return answer.detail;
  } catch (error) { /* not JSON */ }
  return body.dataset.messageFailed;
}

async function pushManager() {
  await registration();
  const ready = await navigator.serviceWorker.ready;
  return ready.pushManager;
}

async function ownDevices() {
  const response = await fetch(API, { credentials: "same-origin" });
  if (!response.ok) return [];
  return (await response.json()).items;
}

function reloadDevices() {
  if (window.htmx && $("#push-devices")) {
    window.htmx.ajax("GET", "/ui/push/devices", { target: "#push-devices", swap: "outerHTML" });
  }
}

// Marks this device in the list; the switches follow what the list says of it.
async function markThisDevice(card) {
  if (!supported()) return;
  const manager = await pushManager();
  const current = await manager.getSubscription();
  let here = null;
  $all("[data-push-device]").forEach(function (row) {
    const mine = !!current && row.dataset.endpoint === current.endpoint;
    const label = $("[data-push-here]", row);
    if (label) label.hidden = !mine;
    if (mine) here = row;
  });
  const toggle = $("[data-push-toggle]", card);
  if (!toggle.disabled) toggle.checked = !!here;
}

async function subscribe(card, previews) {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    showState(card, permission === "denied" ? "denied" : "");
    return false;
  }
  const manager = await pushManager();
  let subscription = await manager.getSubscription();
  if (!subscription) {
    const keyResponse = await fetch("/api/v1/push/key", { credentials: "same-origin" });
    if (!keyResponse.ok) { showFailure(card, await answerText(keyResponse)); return false; }
    const key = (await keyResponse.json()).public_key;
    subscription = await manager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  }
  const response = await fetch(API, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(Object.assign(subscription.toJSON(), { previews: previews })),
  });
  if (!response.ok) { showFailure(card, await answerText(response)); return false; }
  return true;
}

async function unsubscribe() {
  const manager = await pushManager();
  const subscription = await manager.getSubscription();
  if (!subscription) return;
  const device = (await ownDevices()).find(function (item) { return item.endpoint === subscription.endpoint; });
  if (device) await fetch(API + "/" + device.id, { method: "DELETE", credentials: "same-origin" });
  await subscription.unsubscribe();
}

async function changed(card, input) {
  const toggle = $("[data-push-toggle]", card);
  const previews = $("[data-push-previews]", card);
  showFailure(card, "");
  toggle.disabled = previews.disabled = true;
  try {
    if (input === toggle) {
      if (toggle.checked) toggle.checked = await subscribe(card, previews.checked);
      else await unsubscribe();
    } else if (toggle.checked) {
      await subscribe(card, previews.checked);
    }
  } catch (error) {
    showFailure(card, body.dataset.messageFailed);
    toggle.checked = false;
  } finally {
    toggle.disabled = previews.disabled = false;
    reloadDevices();
  }
}

async function start(card) {
  if (!supported()) { showState(card, "unsupported"); return; }
  if (Notification.permission === "denied") showState(card, "denied");
  const toggle = $("[data-push-toggle]", card);
  const previews = $("[data-push-previews]", card);
  try {
    const manager = await pushManager();
    const current = await manager.getSubscription();
    const device = current && (await ownDevices()).find(function (item) { return item.endpoint === current.endpoint; });
    toggle.checked = !!device;
    previews.checked = !!(device && device.previews);
  } catch (error) { /* the switches start off */ }
  toggle.disabled = previews.disabled = false;
  card.dataset.pushReady = "true";
  markThisDevice(card);
}

// Signing out: this browser stops getting the member's notifications (a shared iPad must not
// keep showing them), then the form goes as usual; never held up for more than two seconds.
async function forgetThisDevice() {
  const found = await navigator.serviceWorker.getRegistration("/");
  const subscription = found && await found.pushManager.getSubscription();
  if (!subscription) return;
  const device = (await ownDevices()).find(function (item) { return item.endpoint === subscription.endpoint; });
  if (device) await fetch(API + "/" + device.id, { method: "DELETE", credentials: "same-origin" });
  await subscription.unsubscribe();
}

function forgetOnSignOut(event) {
  const form = event.target;
  if (!form.matches || !form.matches('form[action="/logout"]') || !supported()) return;
  event.preventDefault();
  let left = false;
  const leave = function () { if (!left) { left = true; form.submit(); } };
  const timer = setTimeout(leave, 2000);
  forgetThisDevice().catch(function () {}).finally(function () { clearTimeout(timer); leave(); });
}

export function install() {
  document.addEventListener("submit", forgetOnSignOut);
  const card = $("[data-push-settings]");
  if (!card) return;
  card.addEventListener("change", function (event) {
    if (event.target.matches("[data-push-toggle], [data-push-previews]")) changed(card, event.target);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "push-devices") markThisDevice(card);
  });
  start(card);
}
