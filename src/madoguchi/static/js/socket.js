// The member's live connection (/ws), shared by the inbox and the board: reconnects with
// growing, jittered pauses; says 「オフライン」 (#live-status) only when an outage lasts; after a
// few refused attempts asks whether the session ended (then to the sign-in page). `onEvent`
// gets every event but "ready"; `onReady(reconnected)` is told each time the stream (re)starts,
// so a page can refresh what it missed while away.

import { $, body, FRAGMENT_HEADERS, goToLogin } from "./dom.js";

export function liveSocket({ onEvent, onReady }) {
  const status = $("#live-status");
  let attempts = 0;
  let everConnected = false;
  let statusTimer = null;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws");
    socket.addEventListener("message", function (message) {
      let event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      if (event.type === "ready") {
        attempts = 0;
        body.dataset.live = "ready";
        clearTimeout(statusTimer);
        if (status) status.hidden = true;
        onReady(everConnected);
        everConnected = true;
        return;
      }
      onEvent(event);
    });
    socket.addEventListener("close", function () {
      attempts += 1;
      body.dataset.live = "offline";
      // Only say so when it lasts: a blink of a reconnect is not news.
      clearTimeout(statusTimer);
      statusTimer = setTimeout(function () { if (status) status.hidden = false; }, 2000);
      const delay = Math.min(30000, 500 * Math.pow(2, attempts - 1)) * (0.75 + Math.random() / 2);
      setTimeout(async function () {
        if (attempts >= 3) {
          // A refused socket may mean the session ended: a fragment request tells.
          const probe = await fetch("/ui/rows/0", { headers: FRAGMENT_HEADERS }).catch(function () { return null; });
          if (probe && probe.status === 401) { goToLogin(); return; }
        }
        connect();
      }, delay);
    });
  }
  connect();
}
