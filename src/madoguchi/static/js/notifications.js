// Notifications (F41): the bell's count, and the browser's own notifications for an assignment,
// a mention, a failed scheduled message or a customer writing in my conversation.

import { $, $all, body, FRAGMENT_HEADERS, fetchFragment, openConversationId } from "./dom.js";
import { listElement, openConversation } from "./list.js";

export function setNotificationCount(count, seen) {
  $all("[data-notification-count]").forEach(function (badge) {
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.hidden = count === 0;
  });
  if (seen) markNotificationsSeen();
}

export async function loadNotificationCount() {
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

export async function allowNotifications() {
  const banner = $("#notify-banner");
  if (banner) banner.hidden = true;
  if (!("Notification" in window)) return;
  try { await Notification.requestPermission(); } catch (error) { /* an old browser */ }
}

export function dismissNotificationBanner() {
  const banner = $("#notify-banner");
  if (banner) banner.hidden = true;
  try { localStorage.setItem("madoguchi.notify-banner", "dismissed"); } catch (error) { /* private mode */ }
}

export async function readMemberSettings() {
  try {
    const response = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (!response.ok) return;
    const me = await response.json();
    body.dataset.notifyAssigned = String(!!me.notify_assigned);
    body.dataset.notifyMentions = String(!!me.notify_mentions);
  } catch (error) { /* the next change tells again */ }
}

function showNotification(title, text, tag, conversationId) {
  let notice;
  try {
    notice = new Notification(title, { body: text, tag: tag, icon: "/static/favicon.svg" });
  } catch (error) {
    // Chrome on Android shows notifications only through the service worker (sw.js, whose
    // click opens the conversation).
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.ready.then(function (registration) {
        return registration.showNotification(title, { body: text, tag: tag, data: { url: "/c/" + conversationId } });
      }).catch(function () {});
    }
    return;
  }
  notice.addEventListener("click", function () {
    window.focus();
    openConversation(conversationId);
    notice.close();
  });
}

export async function onNotification(event) {
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
  showNotification(
    title, template.replace("{name}", name), "madoguchi-" + event.kind + "-" + event.conversation_id,
    event.conversation_id
  );
}

// A customer writes in a conversation assigned to me: a browser notification, unless I am
// looking at that very conversation.
export async function notifyCustomerWrote(event) {
  if (event.kind !== "inbound" || String(event.assignee_id) !== body.dataset.memberId) return;
  if (event.filtered) return;  // a message filter's: it arrived read (F27)
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
  showNotification(title, text, "madoguchi-message-" + event.conversation_id, event.conversation_id);
}

export function install() {
  // Opening the bell's menu: what it lists is seen.
  document.addEventListener("toggle", function (event) {
    const menu = event.target;
    if (menu.matches && menu.matches("details[data-menu][data-bell]") && menu.open) setNotificationCount(0, true);
  }, true);

  loadNotificationCount();
  offerNotifications();
}
