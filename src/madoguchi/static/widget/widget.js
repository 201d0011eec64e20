/* Madoguchi web chat: the snippet a site owner pastes, and the customer link's full page.
   No framework; its own UI inside a shadow root, styled with a constructed stylesheet so the
   host page's CSS and Content-Security-Policy leave it alone. */
(function () {
  "use strict";
  var injected = /*MADOGUCHI_CONFIG*/ null;
  var currentScript = document.currentScript;
  var config = injected;
  if (!config) {
    var holder = document.getElementById("madoguchi-config");
    if (!holder) return;
    config = JSON.parse(holder.textContent || "{}");
  }
  var english = /^en/i.test(document.documentElement.lang || navigator.language || "");
  var full = !!config.fullPage;
  var words = english
    ? { open: "Chat with us", close: "Close", placeholder: "Write a message…", send: "Send",
        failed: "Could not send. Please try again.", empty: "Send us a message. We will answer here.",
        offline: "Reconnecting…", staff: "Staff",
        ended: full ? "This chat link is no longer valid." : "This chat is not available now." }
    : { open: "チャットで問い合わせ", close: "閉じる", placeholder: "メッセージを入力…", send: "送信",
        failed: "送信できませんでした。もう一度お試しください。",
        empty: "お気軽にメッセージをお送りください。こちらでお返事します。",
        offline: "再接続しています…", staff: "スタッフ",
        ended: full ? "このチャットのリンクは無効になりました。" : "現在このチャットはご利用いただけません。" };

  var base = (config.base || "").replace(/\/$/, "");
  var api = full ? base + "/chat/" + encodeURIComponent(config.link) : base + "/widget/" + config.channelId;
  var storageKey = "madoguchi:" + base + ":" + config.channelId;
  var token = null;
  var lastId = 0;
  var shown = {};

  var css = [
    ":host{all:initial}",
    "[hidden]{display:none !important}",
    "*{box-sizing:border-box;font-family:'Hiragino Sans','Hiragino Kaku Gothic ProN','Noto Sans JP','Noto Sans CJK JP','Yu Gothic UI',Meiryo,sans-serif}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;background:#2f5d8a;color:#fff;font-size:15px;box-shadow:0 6px 20px rgba(0,0,0,.2);cursor:pointer}",
    ".launcher:focus-visible,.send:focus-visible,.close:focus-visible{outline:3px solid #f5b942;outline-offset:2px}",
    ".panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;width:360px;max-width:calc(100vw - 24px);height:540px;max-height:calc(100vh - 40px);display:flex;flex-direction:column;background:#fff;border-radius:14px;box-shadow:0 10px 40px rgba(0,0,0,.25);overflow:hidden}",
    ".panel.full{position:static;width:100%;max-width:720px;height:100vh;max-height:none;margin:0 auto;border-radius:0;box-shadow:none}",
    ".head{display:flex;align-items:center;justify-content:space-between;padding:14px 16px;background:#2f5d8a;color:#fff;font-size:15px;font-weight:600}",
    ".close{border:0;background:transparent;color:#fff;font-size:22px;line-height:1;cursor:pointer}",
    ".log{flex:1;overflow-y:auto;padding:14px;background:#f5f6f8;display:flex;flex-direction:column;gap:8px}",
    ".note{color:#6b7280;font-size:13px;text-align:center;margin:auto 10px}",
    ".msg{max-width:80%;padding:9px 12px;border-radius:14px;font-size:14px;line-height:1.7;white-space:pre-wrap;word-break:break-word}",
    ".customer{align-self:flex-end;background:#2f5d8a;color:#fff;border-bottom-right-radius:4px}",
    ".staff{align-self:flex-start;background:#fff;color:#1f2937;border:1px solid #e5e7eb;border-bottom-left-radius:4px}",
    ".msg img{display:block;max-width:100%;border-radius:8px;margin-top:6px}",
    ".status{font-size:12px;color:#b45309;padding:4px 14px;background:#fffbeb}",
    ".error{font-size:12px;color:#b91c1c;padding:4px 14px}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb;background:#fff}",
    "textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:10px;padding:8px 10px;font-size:15px;line-height:1.6;min-height:44px;max-height:120px}",
    ".send{border:0;border-radius:10px;padding:0 16px;background:#2f5d8a;color:#fff;font-size:15px;cursor:pointer}",
    "@media (max-width:480px){.panel:not(.full){right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}}"
  ].join("\n");

  var host = document.createElement("div");
  host.setAttribute("data-madoguchi-chat", "");
  (document.body || document.documentElement).appendChild(host);
  var root = host.attachShadow({ mode: "open" });
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else {
    var style = document.createElement("style");
    style.textContent = css;
    root.appendChild(style);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  var launcher = el("button", "launcher", words.open);
  launcher.type = "button";
  var panel = el("section", "panel" + (full ? " full" : ""));
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", config.title || words.open);
  var head = el("div", "head");
  head.appendChild(el("span", "", config.title || words.open));
  var close = el("button", "close", "×");
  close.type = "button";
  close.setAttribute("aria-label", words.close);
  if (!full) head.appendChild(close);
  var status = el("div", "status", words.offline);
  status.hidden = true;
  var log = el("div", "log");
  log.setAttribute("aria-live", "polite");
  var empty = el("p", "note", words.empty);
  log.appendChild(empty);
  var error = el("div", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  var form = el("form");
  var input = el("textarea");
  input.rows = 1;
  input.placeholder = words.placeholder;
  input.setAttribute("aria-label", words.placeholder);
  if (config.maxLength) input.maxLength = config.maxLength;
  var send = el("button", "send", words.send);
  send.type = "submit";
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(status);
  panel.appendChild(log);
  panel.appendChild(error);
  panel.appendChild(form);
  if (full) {
    root.appendChild(panel);
  } else {
    panel.hidden = true;
    root.appendChild(launcher);
    root.appendChild(panel);
  }

  function headers() {
    var h = { "Content-Type": "application/json" };
    if (token) h["X-Visitor-Token"] = token;
    return h;
  }

  function add(message) {
    if (!message || shown[message.id]) return;
    shown[message.id] = true;
    if (message.id > lastId) lastId = message.id;
    if (empty.parentNode) empty.parentNode.removeChild(empty);
    var bubble = el("div", "msg " + (message.from === "customer" ? "customer" : "staff"), message.text || "");
    (message.images || []).forEach(function (image) {
      var img = el("img");
      img.src = image.thumbnail_url;
      img.alt = "";
      img.loading = "lazy";
      bubble.appendChild(img);
    });
    log.appendChild(bubble);
    log.scrollTop = log.scrollHeight;
  }

  // The chat is over (its link revoked, the channel switched off): say so and stop trying.
  var over = false;
  function end() {
    over = true;
    status.hidden = true;
    error.textContent = words.ended;
    error.hidden = false;
    input.disabled = true;
    send.disabled = true;
  }

  function refused(response) {
    if (full && response.status === 404) end();
    return !response.ok;
  }

  function load() {
    return fetch(api + "/messages" + (lastId ? "?after=" + lastId : ""), { headers: headers() })
      .then(function (r) { return refused(r) ? { items: [] } : r.json(); })
      .then(function (body) { (body.items || []).forEach(add); });
  }

  function session() {
    if (full) return Promise.resolve();
    var identity = window.madoguchiSettings || {};
    var script = currentScript;
    var payload = { visitor_token: localStorage.getItem(storageKey) };
    var userId = identity.userId || (script && script.getAttribute("data-user-id"));
    var userHash = identity.userHash || (script && script.getAttribute("data-user-hash"));
    if (userId) { payload.user_id = String(userId); payload.user_hash = String(userHash || ""); }
    return fetch(api + "/session", { method: "POST", headers: headers(), body: JSON.stringify(payload) })
      .then(function (r) { if (!r.ok) throw new Error("session " + r.status); return r.json(); })
      .then(function (body) { token = body.visitor_token; localStorage.setItem(storageKey, token); });
  }

  function post(text, clientId) {
    return fetch(api + "/messages", { method: "POST", headers: headers(), body: JSON.stringify({ text: text, client_id: clientId }) })
      .then(function (r) { if (refused(r)) throw new Error(String(r.status)); return r.json(); });
  }

  // Messages sent over the socket and not yet acknowledged, by client_id.
  var pending = {};
  function settle(clientId) {
    var entry = pending[clientId];
    if (entry) { clearTimeout(entry.timer); delete pending[clientId]; }
    return entry;
  }
  // An unanswered frame goes again by POST with the same client_id: the server stores it once.
  function fallback(clientId) {
    var entry = settle(clientId);
    if (entry) post(entry.text, clientId).then(entry.resolve, entry.reject);
  }

  var socket = null;
  var delay = 1000;
  // Over the socket when it is open (the ack carries the stored message), else by POST.
  function deliver(text, clientId) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return post(text, clientId);
    return new Promise(function (resolve, reject) {
      pending[clientId] = { text: text, resolve: resolve, reject: reject, timer: setTimeout(function () { fallback(clientId); }, 10000) };
      socket.send(JSON.stringify({ type: "message", text: text, client_id: clientId }));
    });
  }

  function connect() {
    if (over) return;
    var url = (base || location.origin).replace(/^http/, "ws") + (full ? "/chat/" + encodeURIComponent(config.link) + "/ws" : "/widget/" + config.channelId + "/ws?token=" + encodeURIComponent(token));
    socket = new WebSocket(url);
    socket.onopen = function () { status.hidden = true; delay = 1000; load(); };
    socket.onmessage = function (e) {
      var event = JSON.parse(e.data);
      var entry;
      if (event.type === "message") add(event.message);
      else if (event.type === "ack" && (entry = settle(event.client_id))) entry.resolve(event.message);
      else if (event.type === "error" && event.client_id && (entry = settle(event.client_id))) entry.reject(new Error(event.detail));
    };
    socket.onclose = function (e) {
      var waiting = Object.keys(pending);
      // 1008: the server ended this chat (a revoked link, say); anything else is the network.
      if (e.code === 1008) end();
      waiting.forEach(over ? function (clientId) { settle(clientId).reject(new Error("closed")); } : fallback);
      if (over) return;
      status.hidden = false;
      // A link revoked while we were away refuses the handshake; its messages answer 404.
      if (full) load().catch(function () {});
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  var ready = null;
  function start() {
    if (!ready) {
      ready = session().then(load).then(connect).catch(function (e) {
        error.textContent = words.failed;
        error.hidden = false;
        ready = null;
        throw e;
      });
    }
    return ready;
  }

  function submit() {
    var text = input.value.trim();
    if (!text || over) return;
    var clientId = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
    send.disabled = true;
    error.hidden = true;
    // A visitor quicker than the network waits for their session, not for an error.
    start()
      .then(function () { return deliver(text, clientId); })
      .then(function (message) { input.value = ""; add(message); })
      .catch(function () { if (!over) { error.textContent = words.failed; error.hidden = false; } })
      .then(function () { send.disabled = over; if (!over) input.focus(); });
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); submit(); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); submit(); }
  });
  launcher.addEventListener("click", function () { launcher.hidden = true; panel.hidden = false; start(); input.focus(); });
  close.addEventListener("click", function () { panel.hidden = true; launcher.hidden = false; launcher.focus(); });
  if (full) start();
})();
