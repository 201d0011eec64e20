// Madoguchi's service worker, served at /sw.js (scope /) by ui/app_shell.py, which writes the
// release's shell in below: a new release is a new worker, its own cache, the old one dropped.
//
// It keeps the app shell (styles, scripts, icons, the offline page) so that a page opened with
// no network shows 「オフライン」 instead of the browser's error; nothing with customers' data
// is ever cached (pages and the API are fetched from the network, as before). And it shows the
// Web Push notifications (notifications/push.py) when no tab is open.

const VERSION = {{ version|tojson }};
const SHELL = {{ shell|tojson }};
const OFFLINE = "/offline";
const ICON = {{ icon|tojson }};
const BADGE = {{ badge|tojson }};
const CACHE = "madoguchi-shell-" + VERSION;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("madoguchi-shell-") === 0 && name !== CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // A page: always the network's (it is never stored); the offline page when there is none.
    event.respondWith(fetch(request).catch(function () {
      return caches.match(OFFLINE, { cacheName: CACHE }).then(function (page) {
        return page || new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } });
      });
    }));
    return;
  }
  if (url.pathname.indexOf("/static/") === 0) {
    // The shell's files (versioned addresses) from the cache, anything else from the network.
    event.respondWith(caches.match(request, { cacheName: CACHE }).then(function (kept) {
      return kept || fetch(request);
    }));
  }
});

self.addEventListener("push", function (event) {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = {}; }
  event.waitUntil(self.registration.showNotification(data.title || "Madoguchi", {
    body: data.body || "",
    tag: data.tag || "madoguchi",
    icon: ICON,
    badge: BADGE,
    data: { url: typeof data.url === "string" && data.url.charAt(0) === "/" ? data.url : "/" },
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  const target = new URL(event.notification.data && event.notification.data.url || "/", self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (const client of windows) {
      if (new URL(client.url).origin === self.location.origin && "focus" in client) {
        return client.focus().then(function (focused) {
          return focused && "navigate" in focused ? focused.navigate(target) : focused;
        });
      }
    }
    return self.clients.openWindow(target);
  }));
});
