// The streamer's phone page. Plain script, no build step, no network beyond
// the box: status over Server-Sent Events, preview over WebRTC (WHEP).
"use strict";

const $ = (id) => document.getElementById(id);
const LIVE_STATES = new Set(["starting", "live", "degraded", "reconnecting"]);
const HOLD_MS = 3000;

let current = null;       // last status
let events = null;        // EventSource
let pc = null;            // RTCPeerConnection for the preview
let previewURL = null;    // WHEP session Location
let retryTimer = null;

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin", cache: "no-store" }, opts || {}));
  if (r.status === 401) { showLogin(); throw new Error("unauthorised"); }
  return r;
}

// ---- login ----
function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  if (message) $("login-error").textContent = message;
  if (events) { events.close(); events = null; }
  stopPreview();
  $("pin").focus();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  const r = await fetch("/api/login", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ pin: $("pin").value }),
  });
  if (r.status === 204) { $("pin").value = ""; start(); return; }
  let msg = "密码不对，请再试一次";
  try { msg = (await r.json()).error || msg; } catch (_) { /* keep default */ }
  $("login-error").textContent = msg;
});

// ---- status ----
function render(st) {
  current = st;
  const head = $("state");
  head.className = "state-" + st.state;
  $("state-icon").textContent = st.icon;
  $("state-label").textContent = st.label;

  const big = $("btn-big");
  const live = LIVE_STATES.has(st.state);
  big.classList.toggle("stop", live);
  big.textContent = live ? "⏹️ 下播（按住3秒）" : "▶️ 开播";
  big.disabled = st.state === "ending";
  $("hold-hint").hidden = !live;

  const card = $("card");
  if (st.card) {
    card.className = st.card.visible ? "card-shown" : "card-hidden";
    $("card-name").textContent = st.card.name || "—";
    card.dataset.index = String(st.card.index);
  } else {
    card.className = "card-none";
    $("card-name").textContent = "—";
  }

  $("captions").textContent = st.captions && st.captions.on ? "字幕检查：开" :
    "字幕检查：关" + (st.captions && st.captions.reason ? "（" + st.captions.reason + "）" : "");
  renderWarnings(st.warnings || []);

  const notices = st.notices || [];
  $("notices-area").hidden = notices.length === 0;
  $("notices").replaceChildren(...notices.map((n) => {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = timeOf(n.at) + "  " + n.text;
    return li;
  }));

  // Weak network: one plain sentence, large, only while on air.
  const note = $("network-note");
  note.textContent = live && st.network_note ? st.network_note : "";
  note.hidden = !note.textContent;

  $("destination").textContent = st.destination ? "推流到：" + st.destination : "没有设置推流地址";
  const v = st.video;
  $("bitrate").textContent = st.bitrate_kbps ? "码率 " + st.bitrate_kbps + " kbps" +
    (v && v.height ? "（" + Math.min(v.width, v.height) + "p）" : "") : "";
  // Per destination, for the trainer helping her: connected or the last error.
  $("dests").replaceChildren(...(st.destinations || []).map((d) => {
    const li = document.createElement("li");
    li.className = d.connected ? "dest-ok" : "dest-down";
    li.textContent = d.name + "：" + (d.connected ? "已连接 " + d.sent_kbps + " kbps" :
      "未连接" + (d.last_error ? "（" + d.last_error + "）" : ""));
    return li;
  }));
  $("ring").textContent = "灯光：" + ({ off: "关", low: "弱", mid: "中", high: "强" }[st.ring] || st.ring || "");
}

function timeOf(at) {
  const d = new Date(at);
  return isNaN(d) ? "" : d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" });
}

let shownWarnings = [];
function renderWarnings(list) {
  shownWarnings = list.slice(-20);
  $("no-warnings").hidden = shownWarnings.length > 0;
  $("warnings").replaceChildren(...shownWarnings.map(warningItem));
}

function warningItem(w) {
  const li = document.createElement("li");
  li.className = "warning";
  const said = document.createElement("p");
  said.className = "said";
  said.append("你说了：“");
  const i = w.match ? w.said.indexOf(w.match) : -1;
  if (i >= 0) {
    const m = document.createElement("mark");
    m.textContent = w.match;
    said.append(w.said.slice(0, i), m, w.said.slice(i + w.match.length));
  } else {
    said.append(w.said);
  }
  said.append("”");
  const why = document.createElement("p");
  why.className = "why";
  why.textContent = "问题：" + (w.category_name || w.category) + (w.explain ? "。" + w.explain : "");
  li.append(said, why);
  if (w.suggest) {
    const s = document.createElement("p");
    s.className = "suggest";
    s.textContent = "可以这样说：" + w.suggest;
    li.append(s);
  }
  const foot = document.createElement("p");
  foot.className = "law";
  foot.textContent = timeOf(w.at) + (w.law ? "  依据：" + w.law : "");
  li.append(foot);
  return li;
}

function openEvents() {
  if (events) events.close();
  events = new EventSource("/api/events");
  events.addEventListener("status", (e) => render(JSON.parse(e.data)));
  events.addEventListener("warning", (e) => {
    const w = JSON.parse(e.data);
    renderWarnings(shownWarnings.concat([w]));
  });
  events.onerror = async () => {
    // The stream reconnects by itself; a lost session needs the PIN.
    try { await api("/api/status"); } catch (_) { /* showLogin done */ }
  };
}

// ---- buttons ----
async function press(button, kind) {
  try {
    const r = await api("/api/button/" + button + "?press=" + kind, { method: "POST" });
    if (r.ok) refresh();
  } catch (_) { /* login shown */ }
}

async function refresh() {
  try {
    const r = await api("/api/status");
    if (r.ok) render(await r.json());
  } catch (_) { /* login shown */ }
}

for (const b of document.querySelectorAll("#buttons button")) {
  if (b.id === "btn-big") continue;
  b.addEventListener("click", () => press(b.dataset.button, "short"));
}

// The big button: a tap goes live; while live it must be held 3 s to end,
// like the physical one, so a brush of the thumb cannot end the show.
(function bigButton() {
  const big = $("btn-big");
  let timer = null, started = 0, raf = 0;
  const clear = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    cancelAnimationFrame(raf);
    big.style.setProperty("--hold", "0%");
  };
  const step = () => {
    big.style.setProperty("--hold", Math.min(100, (Date.now() - started) / HOLD_MS * 100) + "%");
    raf = requestAnimationFrame(step);
  };
  big.addEventListener("pointerdown", (e) => {
    if (!current || !LIVE_STATES.has(current.state)) return;
    e.preventDefault();
    started = Date.now();
    raf = requestAnimationFrame(step);
    timer = setTimeout(() => { clear(); press("big", "long"); }, HOLD_MS);
  });
  for (const ev of ["pointerup", "pointerleave", "pointercancel"]) big.addEventListener(ev, clear);
  big.addEventListener("click", () => {
    if (current && !LIVE_STATES.has(current.state)) press("big", "short");
  });
  big.addEventListener("contextmenu", (e) => e.preventDefault());
})();

// ---- preview (WHEP) ----
function stopPreview() {
  if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  if (previewURL) {
    fetch(previewURL, { method: "DELETE", credentials: "same-origin" }).catch(() => {});
    previewURL = null;
  }
  if (pc) { pc.close(); pc = null; }
}

function retryPreview(note) {
  $("preview-note").textContent = note;
  $("preview-note").hidden = false;
  stopPreview();
  retryTimer = setTimeout(startPreview, 3000);
}

async function startPreview() {
  stopPreview();
  if (typeof RTCPeerConnection === "undefined") {
    $("preview-note").textContent = "这个浏览器看不了预览";
    return;
  }
  const conn = new RTCPeerConnection({ iceServers: [] });
  pc = conn;
  window.cunboPreview = conn; // for diagnostics (getStats) from the console
  conn.addTransceiver("video", { direction: "recvonly" });
  conn.ontrack = (e) => {
    const v = $("preview");
    v.srcObject = e.streams[0] || new MediaStream([e.track]);
    v.play().catch(() => {});
  };
  conn.onconnectionstatechange = () => {
    if (pc !== conn) return;
    if (conn.connectionState === "connected") $("preview-note").hidden = true;
    if (conn.connectionState === "failed" || conn.connectionState === "closed") retryPreview("画面断了，正在重连…");
  };
  try {
    await conn.setLocalDescription(await conn.createOffer());
    // The box answers without trickle ICE: send the offer with every
    // candidate (LAN host candidates gather in milliseconds).
    await new Promise((resolve) => {
      if (conn.iceGatheringState === "complete") return resolve();
      const t = setTimeout(resolve, 2000);
      conn.addEventListener("icegatheringstatechange", () => {
        if (conn.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
      });
    });
    const r = await api("/api/whep", {
      method: "POST", headers: { "Content-Type": "application/sdp" }, body: conn.localDescription.sdp,
    });
    if (r.status !== 201) throw new Error("whep " + r.status);
    previewURL = r.headers.get("Location");
    await conn.setRemoteDescription({ type: "answer", sdp: await r.text() });
    $("preview-note").textContent = "画面连接中…";
  } catch (err) {
    if (pc === conn) retryPreview("暂时看不到画面，稍后自动重试");
  }
}

window.addEventListener("pagehide", () => {
  if (previewURL) fetch(previewURL, { method: "DELETE", keepalive: true }).catch(() => {});
});

// ---- start ----
async function start() {
  $("login").hidden = true;
  try {
    const r = await api("/api/status");
    if (!r.ok) return;
    render(await r.json());
  } catch (_) { return; }
  $("app").hidden = false;
  openEvents();
  startPreview();
}

start();
