/* Threadline web chat widget: one script tag, plain JavaScript, in a Shadow DOM.
 *
 *   <script src="https://assistant.example.com/webhooks/webchat/widget.js" async
 *           data-title="Help" data-lang="pt-BR"></script>
 *
 * Language: data-lang, else the page's <html lang>; "pt…" is Brazilian Portuguese, all else
 * English. The page's own sign-in passes a token its backend minted (docs/webchat.md):
 *   window.ThreadlineChat.login(token)   window.ThreadlineChat.logout()
 * The socket protocol is described in connectors/webchat/protocol.py. The browser keeps only
 * tokens (localStorage), never message text: the history comes from the server each load.
 */
(function () {
  "use strict";
  if (window.ThreadlineChat) return;
  var script = document.currentScript;
  var base = new URL(script ? script.src : "/webhooks/webchat/widget.js", location.href);
  var socketUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host +
    base.pathname.replace(/widget\.js$/, "socket");
  var httpBase = base.href.replace(/widget\.js(\?.*)?$/, "");
  var data = (script && script.dataset) || {};
  var lang = (data.lang || document.documentElement.lang || "en").toLowerCase();
  var pt = lang.indexOf("pt") === 0;
  var T = pt ? {
    open: "Abrir o chat", close: "Fechar o chat", title: data.title || "Atendimento",
    label: "Sua mensagem", send: "Enviar", placeholder: "Escreva uma mensagem…",
    typing: "O assistente está digitando…", sending: "Enviando", delivered: "Entregue", read: "Lida",
    you: "Você", bot: "Assistente", agent: "atendente", offline: "Sem conexão; tentando de novo…",
    log: "Mensagens da conversa", attach: "Anexar imagem ou PDF", file: "Arquivo",
    tooLarge: "Arquivo grande demais", badType: "Envie uma imagem (PNG, JPEG, WebP, GIF) ou um PDF",
    notSent: "O arquivo não foi enviado; tente de novo"
  } : {
    open: "Open chat", close: "Close chat", title: data.title || "Chat with us",
    label: "Your message", send: "Send", placeholder: "Write a message…",
    typing: "The assistant is typing…", sending: "Sending", delivered: "Delivered", read: "Read",
    you: "You", bot: "Assistant", agent: "agent", offline: "Connection lost; reconnecting…",
    log: "Conversation messages", attach: "Attach an image or PDF", file: "File",
    tooLarge: "File too large", badType: "Send an image (PNG, JPEG, WebP, GIF) or a PDF",
    notSent: "The file was not sent; try again"
  };
  var KEY = "threadline.webchat.";
  var store = {
    get: function (k) { try { return localStorage.getItem(KEY + k); } catch (e) { return null; } },
    set: function (k, v) { try { if (v) localStorage.setItem(KEY + k, v); else localStorage.removeItem(KEY + k); } catch (e) {} }
  };

  var host = document.createElement("div");
  host.id = "threadline-webchat";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    '<style>' +
    ':host{all:initial}' +
    '*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}' +
    '.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483646;border:0;border-radius:28px;' +
    'background:#1d4ed8;color:#fff;font-size:16px;font-weight:600;padding:14px 20px;cursor:pointer;' +
    'box-shadow:0 4px 14px rgba(0,0,0,.25)}' +
    '.launcher:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}' +
    '.panel{position:fixed;right:20px;bottom:84px;z-index:2147483647;width:370px;height:560px;max-height:calc(100vh - 104px);' +
    'display:flex;flex-direction:column;background:#fff;color:#111827;border-radius:14px;overflow:hidden;' +
    'box-shadow:0 10px 30px rgba(0,0,0,.3)}' +
    '.panel[hidden]{display:none}' +
    'header{display:flex;align-items:center;justify-content:space-between;background:#1d4ed8;color:#fff;padding:12px 16px}' +
    'header h2{margin:0;font-size:17px}' +
    '.x{background:transparent;color:#fff;border:0;font-size:22px;line-height:1;cursor:pointer;padding:4px 8px}' +
    '.log{flex:1;overflow-y:auto;padding:12px;background:#f3f4f6;font-size:15px;line-height:1.4}' +
    '.msg{max-width:85%;margin:6px 0;padding:8px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}' +
    '.customer{margin-left:auto;background:#1d4ed8;color:#fff;border-bottom-right-radius:4px}' +
    '.bot,.agent{background:#fff;color:#111827;border:1px solid #d1d5db;border-bottom-left-radius:4px}' +
    '.who{display:block;font-size:12px;font-weight:600;color:#374151;margin-bottom:2px}' +
    '.tick{display:inline-block;margin-left:8px;font-size:12px;color:#dbeafe}' +
    '.buttons{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}' +
    '.buttons button{border:1px solid #1d4ed8;background:#fff;color:#1d4ed8;border-radius:16px;padding:6px 12px;font-size:14px;cursor:pointer}' +
    '.buttons button:disabled{color:#4b5563;border-color:#9ca3af;cursor:default}' +
    '.msg img{max-width:100%;border-radius:8px;display:block}' +
    '.status{min-height:20px;padding:2px 12px;font-size:13px;color:#374151;background:#f3f4f6}' +
    'form{display:flex;gap:8px;padding:10px;border-top:1px solid #e5e7eb;background:#fff}' +
    'textarea{flex:1;resize:none;font-size:16px;padding:8px 10px;border:1px solid #6b7280;border-radius:8px;height:44px;color:#111827}' +
    '.attach{display:flex;align-items:center;justify-content:center;background:#fff;color:#1d4ed8;border:1px solid #1d4ed8;border-radius:8px;width:44px;cursor:pointer}' +
    '.file{display:block;color:inherit;text-decoration:underline;margin-top:4px}' +
    '.send{background:#1d4ed8;color:#fff;border:0;border-radius:8px;padding:0 16px;font-size:16px;font-weight:600;cursor:pointer}' +
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}' +
    '@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100%;max-height:none;border-radius:0}' +
    '.launcher{right:12px;bottom:12px}}' +
    '</style>' +
    '<button class="launcher" type="button" aria-expanded="false" aria-controls="tl-panel"></button>' +
    '<section class="panel" id="tl-panel" role="dialog" aria-modal="false" aria-labelledby="tl-title" hidden>' +
    '<header><h2 id="tl-title"></h2><button class="x" type="button">&times;</button></header>' +
    '<div class="log" role="log" aria-live="polite" tabindex="0"></div>' +
    '<div class="status" role="status" aria-live="polite"></div>' +
    '<form><label class="sr" for="tl-input"></label>' +
    '<button class="attach" type="button"><svg width="20" height="20" viewBox="0 0 24 24" aria-hidden="true" ' +
    'fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">' +
    '<path d="M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9"/>' +
    '</svg></button>' +
    '<input class="picker" type="file" accept="image/png,image/jpeg,image/webp,image/gif,application/pdf" hidden>' +
    '<textarea id="tl-input" rows="1" maxlength="2000"></textarea>' +
    '<button class="send" type="submit"></button></form></section>';

  var launcher = root.querySelector(".launcher"), panel = root.querySelector(".panel"),
    closeButton = root.querySelector(".x"), log = root.querySelector(".log"),
    statusLine = root.querySelector(".status"), form = root.querySelector("form"),
    input = root.querySelector("textarea"), attachButton = root.querySelector(".attach"),
    picker = root.querySelector(".picker");
  launcher.textContent = T.open;
  root.querySelector("h2").textContent = T.title;
  closeButton.setAttribute("aria-label", T.close);
  log.setAttribute("aria-label", T.log);
  root.querySelector("label").textContent = T.label;
  input.placeholder = T.placeholder;
  attachButton.setAttribute("aria-label", T.attach);
  attachButton.title = T.attach;
  root.querySelector(".send").textContent = T.send;

  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.textContent = open ? T.close : T.open;
    if (open) { input.focus(); log.scrollTop = log.scrollHeight; reportRead(); } else { launcher.focus(); }
  }
  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  closeButton.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false); });

  // --- conversation state ---------------------------------------------------------------
  var lastSeq = 0, shown = {}, pending = [], link = null, open = false, retry = 0, login = null,
    typingTimer = null;

  function newId() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function bubble(kind, text, who) {
    var el = document.createElement("div");
    el.className = "msg " + kind;
    if (who) {
      var w = document.createElement("span");
      w.className = "who";
      w.textContent = who;
      el.appendChild(w);
    }
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = text || "";
    el.appendChild(body);
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  // The customer's own messages: … sending, ✓ delivered (stored: the ack, or the entry came
  // back), ✓✓ read (the assistant or an agent answered after it: a later bot/agent entry).
  function tick(el, delivered) {
    var t = el.querySelector(".tick");
    if (!t) { t = document.createElement("span"); t.className = "tick"; el.appendChild(t); }
    var read = el.dataset.read === "1", label = read ? T.read : delivered ? T.delivered : T.sending;
    t.textContent = read ? "\u2713\u2713" : delivered ? "\u2713" : "\u2026";
    t.setAttribute("aria-label", label);
    t.title = label;
    el.dataset.delivered = delivered || read ? "1" : "0";
  }

  function answeredUpTo(seq) {
    Array.prototype.forEach.call(log.querySelectorAll(".customer"), function (el) {
      if (el.dataset.read !== "1" && Number(el.dataset.seq || 0) && Number(el.dataset.seq) < seq) {
        el.dataset.read = "1";
        tick(el, true);
      }
    });
  }

  // The bot's and agents' messages the visitor saw: the page visible, the panel open, the
  // bubble at least half in view. The highest such number is reported once.
  var inView = {}, reported = 0;
  var watcher = "IntersectionObserver" in window ? new IntersectionObserver(function (changes) {
    changes.forEach(function (c) {
      var seq = Number(c.target.dataset.seq);
      if (c.isIntersecting) inView[seq] = true; else delete inView[seq];
    });
    reportRead();
  }, { root: log, threshold: 0.5 }) : null;
  function reportRead() {
    if (document.visibilityState !== "visible" || panel.hidden) return;
    var seen = Math.max.apply(null, [0].concat(Object.keys(inView).map(Number)));
    if (seen <= reported) return;
    if (transportSend({ type: "read", seq: seen })) { reported = seen; host.dataset.read = String(seen); }
  }
  document.addEventListener("visibilitychange", reportRead);

  function showAttachment(el, attachment) {
    var old = el.querySelector(".file");
    if (old) old.remove();
    var shown;
    if (/^image\//.test(attachment.type)) {
      shown = document.createElement("img");
      shown.src = attachment.url;
      shown.alt = attachment.name || T.file;
    } else {
      shown = document.createElement("a");
      shown.href = attachment.url;
      shown.target = "_blank";
      shown.rel = "noopener noreferrer";
      shown.textContent = (attachment.name || T.file) + " (PDF)";
    }
    shown.className = "file";
    el.insertBefore(shown, el.querySelector(".tick"));
  }

  function authorization() {
    var resume = store.get("resume"), visitor = store.get("visitor");
    return resume ? "Resume " + resume : (visitor ? "Visitor " + visitor : "");
  }

  function upload(file) {
    var id = newId();
    var el = bubble("customer", "", null);
    var name = document.createElement("span");
    name.className = "file";
    name.textContent = file.name;
    el.appendChild(name);
    el.dataset.clientId = id;
    el.dataset.upload = "1";
    tick(el, false);
    function failed(message) { el.remove(); statusLine.textContent = message; }
    fetch(httpBase + "attachment", { method: "POST", body: file, headers: {
      "Content-Type": file.type || "application/octet-stream", "X-Message-Id": id,
      "X-File-Name": encodeURIComponent(file.name), "Authorization": authorization() } })
      .then(function (answer) {
        if (answer.ok) return answer.json().then(function (ack) { el.dataset.seq = ack.seq; tick(el, true); });
        failed(answer.status === 413 ? T.tooLarge : answer.status === 415 ? T.badType : T.notSent);
      })
      .catch(function () { failed(T.notSent); });
  }
  attachButton.addEventListener("click", function () { picker.click(); });
  picker.addEventListener("change", function () {
    if (picker.files && picker.files[0]) upload(picker.files[0]);
    picker.value = "";
  });

  function typing(on) {
    clearTimeout(typingTimer);
    statusLine.textContent = on ? T.typing : (link && open ? "" : statusLine.textContent);
    if (on) typingTimer = setTimeout(function () { typing(false); }, 15000);
  }

  function showEntry(entry) {
    if (entry.seq <= lastSeq || shown[entry.seq]) return;  // replayed twice: shown once
    shown[entry.seq] = true;
    lastSeq = entry.seq;
    if (entry.from === "customer") {
      var local = entry.client_id && log.querySelector('[data-client-id="' + entry.client_id + '"]');
      if (local) {
        local.dataset.seq = entry.seq;
        tick(local, true);
        if (entry.attachment) showAttachment(local, entry.attachment);
        return;
      }
      var mine = bubble("customer", entry.text, null);
      mine.dataset.clientId = entry.client_id || "";
      mine.dataset.seq = entry.seq;
      tick(mine, true);
      if (entry.attachment) showAttachment(mine, entry.attachment);
      return;
    }
    typing(false);
    var who = entry.from === "agent" ? (entry.agent ? entry.agent + " (" + T.agent + ")" : T.agent) : T.bot;
    var el = bubble(entry.from === "agent" ? "agent" : "bot", entry.text, who);
    el.dataset.seq = entry.seq;
    answeredUpTo(entry.seq);
    if (watcher) watcher.observe(el);
    if (entry.image) {
      var img = document.createElement("img");
      img.src = entry.image;
      img.alt = "";
      el.appendChild(img);
    }
    if (entry.buttons && entry.buttons.length) {
      var row = document.createElement("div");
      row.className = "buttons";
      row.setAttribute("role", "group");
      entry.buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = b.title;
        button.addEventListener("click", function () {
          Array.prototype.forEach.call(row.querySelectorAll("button"), function (x) { x.disabled = true; });
          send({ text: null, payload: b.payload, title: b.title });
        });
        row.appendChild(button);
      });
      el.appendChild(row);
    }
  }

  function send(message) {
    var item = { type: "message", id: newId(), text: message.text || undefined,
                 payload: message.payload || undefined, title: message.title || undefined };
    var el = bubble("customer", message.text || message.title, null);
    el.dataset.clientId = item.id;
    tick(el, false);
    pending.push(item);
    transportSend(item);
  }

  function transportSend(frame) {
    if (!(link && open)) return false;
    link.send(frame);
    return true;
  }

  function sendTyped() {
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ text: text });
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); sendTyped(); });
  input.addEventListener("keydown", function (e) {  // Enter sends, Shift+Enter a new line
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendTyped(); }
  });

  function reset() {
    lastSeq = 0; shown = {}; inView = {}; reported = 0;
    if (watcher) watcher.disconnect();
    Array.prototype.forEach.call(log.querySelectorAll(".msg"), function (el) {
      if (!(el.dataset.delivered === "0") || el.dataset.upload) el.remove();   // unsent texts stay, and go out
    });
  }

  // --- transports: a WebSocket, else (blocked by a proxy or the browser) server-sent events
  // for what the server sends plus a POST per frame the widget sends; the same frames and
  // numbered entries either way (connectors/webchat/fallback.py).
  var useFallback = typeof window.WebSocket !== "function", failedOpens = 0;

  function hello() {
    var frame = { type: "hello", after: lastSeq, visitor: store.get("visitor"), resume: store.get("resume") };
    if (login) { frame.login = login; frame.resume = null; }
    return frame;
  }

  function onFrame(frame) {
    if (frame.type === "welcome") {
      open = true; retry = 0; login = null; failedOpens = 0;
      statusLine.textContent = "";
      if (frame.visitor) store.set("visitor", frame.visitor);
      if (frame.resume) store.set("resume", frame.resume);
      if (frame.reset) reset();
      host.dataset.transport = useFallback ? "sse" : "websocket";
      host.dataset.state = frame.verified ? "verified" : "visitor";
    } else if (frame.type === "entry") {
      showEntry(frame);
    } else if (frame.type === "ack") {
      pending = pending.filter(function (item) { return item.id !== frame.id; });
      var el = log.querySelector('[data-client-id="' + frame.id + '"]');
      if (el) tick(el, true);
    } else if (frame.type === "typing") {
      typing(true);
    }
  }

  function welcomed() {  // after the welcome: what was never acked goes again, then reads
    pending.forEach(function (item) { link.send(item); });
    reported = 0; reportRead();
  }

  function closed(code, opened) {
    open = false;
    link = null;
    if (login) { connect(); return; }  // signing in: at once, with the site's token
    if (code === 4401) {  // a token the server no longer takes: start as a new visitor
      store.set(store.get("resume") ? "resume" : "visitor", null);
    }
    // A socket that never opens, twice running, is blocked: the fallback is tried next (and
    // the socket again if the fallback cannot reach the server either: the network is down).
    if (!opened && typeof window.WebSocket === "function") {
      failedOpens += 1;
      useFallback = useFallback ? false : failedOpens >= 2;
    }
    statusLine.textContent = T.offline;
    retry = Math.min(retry + 1, 6);
    setTimeout(connect, Math.min(10000, 300 * Math.pow(2, retry)) * (0.75 + Math.random() / 2));
  }

  function connect() { if (useFallback) connectFallback(); else connectSocket(); }

  function connectSocket() {
    var ws = new WebSocket(socketUrl), opened = false;
    link = { send: function (frame) { ws.send(JSON.stringify(frame)); }, close: function () { ws.close(); } };
    ws.onopen = function () { opened = true; ws.send(JSON.stringify(hello())); };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      onFrame(frame);
      if (frame.type === "welcome") welcomed();
    };
    ws.onclose = function (event) { closed(event.code, opened); };
  }

  function connectFallback() {
    var abort = new AbortController(), ended = false;
    function end(code, opened) { if (!ended) { ended = true; abort.abort(); closed(code, opened); } }
    function post(path, frame) {
      return fetch(httpBase + path, { method: "POST", body: JSON.stringify(frame), signal: abort.signal,
        headers: { "Content-Type": "application/json", "Authorization": authorization() } });
    }
    link = {
      send: function (frame) {
        post("messages", frame).then(function (answer) {
          if (answer.status === 401 || answer.status === 429) { end(answer.status === 401 ? 4401 : 4429, true); return; }
          if (answer.ok) return answer.json().then(function (reply) { (reply.frames || []).forEach(onFrame); });
        }).catch(function () {});  // unacked: sent again after the next welcome
      },
      close: function () { end(1000, true); }
    };
    post("hello", hello()).then(function (answer) {
      if (!answer.ok) { end(answer.status === 401 ? 4401 : 1013, true); return; }
      return answer.json().then(function (welcome) {
        onFrame(welcome);
        welcomed();
        return fetch(httpBase + "events", { signal: abort.signal, headers: {
          "Authorization": authorization(), "Last-Event-ID": String(lastSeq), "Accept": "text/event-stream" } });
      }).then(function (events) {
        if (!events.ok) { end(events.status === 401 ? 4401 : 1013, true); return; }
        var reader = events.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (part) {
            if (part.done) { end(1006, true); return; }
            buffer += decoder.decode(part.value, { stream: true });
            var blocks = buffer.split("\n\n");
            buffer = blocks.pop();
            blocks.forEach(function (block) {
              var data = block.split("\n").filter(function (l) { return l.indexOf("data:") === 0; })
                .map(function (l) { return l.slice(5).trim(); }).join("\n");
              if (data) { try { onFrame(JSON.parse(data)); } catch (e) {} }
            });
            return pump();
          });
        }
        return pump();
      });
    }).catch(function () { end(1006, !!open); });
  }

  window.ThreadlineChat = {
    login: function (token) { login = token; if (link) link.close(); else connect(); },
    logout: function () { store.set("resume", null); store.set("visitor", null); login = null; if (link) link.close(); },
    open: function () { setOpen(true); }
  };
  document.body.appendChild(host);
  connect();
})();
