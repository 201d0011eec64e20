// The installable app (ui/app_shell.py): the service worker at /sw.js, and the 「オフライン」
// notice while the browser has no network.

import { $ } from "./dom.js";

function showOffline() {
  const notice = $("[data-offline-notice]");
  if (notice) notice.hidden = navigator.onLine !== false;
}

export async function registration() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch (error) {
    return null;  // a browser that refuses it (private mode): the pages work as before
  }
}

export function install() {
  window.addEventListener("offline", showOffline);
  window.addEventListener("online", showOffline);
  showOffline();
  registration();
}
