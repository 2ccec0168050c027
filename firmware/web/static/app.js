// The streamer's phone page. Plain script, no build step, no network beyond
// the box: status over Server-Sent Events, preview over WebRTC (WHEP).
"use strict";

const $ = (id) => document.getElementById(id);
const LIVE_STATES = new Set(["starting", "live", "degraded", "reconnecting", "practice"]);
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
  const prev = current;
  current = st;
  const head = $("state");
  head.className = "state-" + st.state;
  $("state-icon").textContent = st.icon;
  $("state-label").textContent = st.label;

  const big = $("btn-big");
  const live = LIVE_STATES.has(st.state);
  big.classList.toggle("stop", live);
  big.textContent = live ? "⏹️ 按住3秒 下播" : (st.state === "ending" ? "正在下播…" : "▶️ 开播");
  big.disabled = st.state === "ending";
  if (prev && prev.state !== st.state) bigBusy = false;

  const card = $("card");
  const hide = $("btn-hide");
  if (st.card) {
    card.className = st.card.visible ? "card-shown" : "card-hidden";
    $("card-name").textContent = (st.card.name || "—") + (st.card.visible ? "" : "（已收起）");
    card.dataset.index = String(st.card.index);
  } else {
    card.className = "card-none";
    $("card-name").textContent = "没有商品卡片";
    delete card.dataset.index;
  }
  hide.disabled = !st.card || !st.card.visible;
  $("hide-label").textContent = st.card && !st.card.visible ? "已收起" : "收起卡片";

  const ring = RING_WORDS[st.ring] || st.ring || "";
  $("light-label").textContent = "灯光：" + ring;

  $("captions").textContent = st.captions && st.captions.on ? "说话提醒：开着" :
    "说话提醒：关着" + (st.captions && st.captions.reason ? "（" + st.captions.reason + "）" : "");
  renderWarnings(st.warnings || []);
  renderProblems(st.problems || []);
  renderNote(st);
  renderSetup(st.setup);
  renderPractice(st);

  const notices = st.notices || [];
  $("notices-area").hidden = notices.length === 0;
  $("notices").replaceChildren(...notices.slice().reverse().map((n) => {
    const li = document.createElement("li");
    li.className = "notice";
    li.textContent = timeOf(n.at) + "  " + n.text;
    return li;
  }));

  // Weak network: one plain sentence, large, only while on air.
  const note = $("network-note");
  note.textContent = live && st.network_note ? st.network_note : "";
  note.hidden = !note.textContent;

  // A full or failing SD card: said whatever the state, the box keeps it.
  const storage = $("storage-note");
  storage.textContent = st.storage_note ? "💾 " + st.storage_note : "";
  storage.hidden = !storage.textContent;

  // Flagged moments waiting for the review service: a quiet line, below.
  $("upload-note").textContent = st.upload_note ? "📤 " + st.upload_note : "";

  // A practice publishes nothing: the footer must not say where it goes.
  $("destination").textContent = st.state === "practice" ? "🎓 练习不推流，观众看不到" :
    st.destination ? "推流到：" + st.destination : "没有设置推流地址";
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
  $("ring").textContent = "灯光：" + ring;
}

const RING_WORDS = { off: "关", low: "弱", mid: "中", high: "强" };

function timeOf(at) {
  const d = new Date(at);
  return isNaN(d) ? "" : d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" });
}

// ---- warnings ----
// The server keeps one card per problem (a repeat counts up the card under
// the same id); the page shows each id once, newest first, and only the
// newest in full on her screen.
let cards = [];             // newest last, as the server sends them
let seenCounts = null;      // id → count already shown; null before the first status
let showOlder = false;
let shownSig = "";
const SAID_MAX = 26; // characters of what she said on a card

function renderWarnings(list) {
  const byID = new Map();
  for (const w of list) byID.set(w.id, w);
  cards = Array.from(byID.values()).slice(-20);
  let fresh = null;
  if (seenCounts) {
    for (const w of cards) {
      if ((seenCounts.get(w.id) || 0) < (w.count || 1)) fresh = w;
    }
  }
  seenCounts = new Map(cards.map((w) => [w.id, w.count || 1]));

  // Every status repeats the list: rebuild only when it changed, so a
  // flash runs to its end and an opened 看规定 stays open.
  const sig = JSON.stringify([cards, showOlder]);
  if (sig === shownSig) return;
  shownSig = sig;
  $("no-warnings").hidden = cards.length > 0;
  const newestFirst = cards.slice().reverse();
  $("warnings").replaceChildren(...newestFirst.map((w, i) => warningItem(w, i === 0)));
  const older = $("older-toggle");
  older.hidden = cards.length < 2;
  older.textContent = (showOlder ? "▲ 收起更早的提醒" : "▼ 更早的提醒（" + (cards.length - 1) + "）");
  $("warnings").classList.toggle("show-older", showOlder);
  if (fresh) notice($("warnings").firstElementChild);
}

// notice makes a new or repeated warning seen without looking away for
// long: the card flashes and the phone vibrates where it can. Never a
// sound: her microphone would carry it into the broadcast.
function notice(li) {
  if (!li) return;
  li.classList.remove("flash");
  void li.offsetWidth; // restart the animation
  li.classList.add("flash");
  li.addEventListener("animationend", () => li.classList.remove("flash"), { once: true });
  const r = li.getBoundingClientRect();
  if (r.top < 0 || r.bottom > window.innerHeight) li.scrollIntoView({ block: "nearest" });
  if (typeof navigator.vibrate === "function") {
    try { navigator.vibrate([250, 120, 250]); } catch (_) { /* not allowed yet */ }
  }
}

function warningItem(w, newest) {
  const li = document.createElement("li");
  li.className = "warning" + (newest ? " newest" : "");
  li.dataset.id = w.id;

  // First what to say instead, then what she said, then why.
  if (w.instead) {
    const s = document.createElement("p");
    s.className = "instead";
    s.textContent = "👉 " + w.instead;
    li.append(s);
  }
  const said = document.createElement("p");
  said.className = "said";
  said.append("你刚才说：“");
  const i = w.match ? w.said.indexOf(w.match) : -1;
  if (i >= 0) {
    // A long caption is cut around the words so the card stays on her
    // screen; the words themselves are always shown.
    const from = w.said.length > SAID_MAX ? Math.max(0, i - 12) : 0;
    const to = w.said.length > SAID_MAX ? Math.min(w.said.length, i + w.match.length + 8) : w.said.length;
    const m = document.createElement("mark");
    m.textContent = w.match;
    said.append((from > 0 ? "…" : "") + w.said.slice(from, i), m,
      w.said.slice(i + w.match.length, to) + (to < w.said.length ? "…" : ""));
  } else {
    said.append(w.said.length > SAID_MAX ? w.said.slice(-SAID_MAX) : w.said);
  }
  said.append("”");
  li.append(said);
  const why = w.why || w.explain;
  if (why) {
    const p = document.createElement("p");
    p.className = "why";
    p.textContent = "为什么：" + why;
    li.append(p);
  }

  const meta = document.createElement("div");
  meta.className = "meta";
  const when = document.createElement("span");
  when.className = "time";
  when.textContent = timeOf(w.at);
  meta.append(when);
  if (w.count > 1) {
    const c = document.createElement("span");
    c.className = "count";
    c.textContent = "说了 " + w.count + " 次";
    meta.append(c);
  }
  // The law is one tap away: the trainer and the social worker read it.
  const law = document.createElement("details");
  law.className = "law";
  const sum = document.createElement("summary");
  sum.textContent = "📖 看规定";
  law.append(sum);
  for (const line of [w.category_name, w.explain, w.law ? "依据：" + w.law : ""]) {
    if (!line) continue;
    const p = document.createElement("p");
    p.textContent = line;
    law.append(p);
  }
  meta.append(law);
  li.append(meta);
  return li;
}

$("older-toggle").addEventListener("click", () => {
  showOlder = !showOlder;
  renderWarnings(cards);
});

// ---- a note from her social worker ----
// The box sends her unread notes while idle (none while on air); the page
// shows the oldest on top until she presses 知道了, which hides it at once
// and tells the box (it sends the read receipt on).
let noteSeq = null;            // the note on screen
const noteDone = new Set();    // pressed 知道了; hidden before the box confirms

function renderNote(st) {
  const list = (st.notes || []).filter((n) => !noteDone.has(n.seq));
  const n = list[0];
  $("note-card").hidden = !n;
  if (!n) { noteSeq = null; return; }
  // The box lists a few; it counts them all (minus those just dismissed here).
  const more = (st.notes_unread || 0) - ((st.notes || []).length - list.length) - 1;
  $("note-meta").textContent = "—— " + (n.from || "社工老师") + "，" + dayWords(n.at) +
    (more > 0 ? "（还有 " + more + " 条）" : "");
  if (noteSeq === n.seq) return;
  noteSeq = n.seq;
  $("note-text").textContent = n.text;
  $("note-text").scrollTop = 0;
}

// dayWords says when in her words: 今天 14:05, 昨天 14:05, 12月6日 14:05.
function dayWords(at) {
  const d = new Date(at);
  if (isNaN(d)) return "";
  const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((day(new Date()) - day(d)) / 86400000);
  const hm = timeOf(at);
  if (days === 0) return "今天 " + hm;
  if (days === 1) return "昨天 " + hm;
  return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + hm;
}

async function readNote() {
  const seq = noteSeq;
  if (seq === null || noteDone.has(seq)) return;
  noteDone.add(seq);
  if (current) renderNote(current);
  try {
    const r = await api("/api/notes/" + seq + "/read", { method: "POST" });
    if (!r.ok && r.status !== 404) throw new Error("note " + r.status);
    toast("👍 好的，社工老师会知道你看过了");
  } catch (_) {
    noteDone.delete(seq);
    if (current) renderNote(current);
    if (!$("app").hidden) toast("❗ 盒子没有收到，请再按一次", "bad");
  }
}

// ---- setup problems (for the trainer; folded so her view comes first) ----
function renderProblems(list) {
  const box = $("problems");
  box.hidden = list.length === 0;
  $("problems-title").textContent = "⚙️ 设置问题（" + list.length + "）";
  $("problem-list").replaceChildren(...list.map((p) => {
    const li = document.createElement("li");
    li.className = "problem problem-" + (p.source || "other");
    const where = document.createElement("p");
    where.className = "where";
    where.textContent = p.where || "";
    const msg = document.createElement("p");
    msg.className = "message";
    msg.textContent = p.message || "";
    li.append(where, msg);
    if (p.hint) {
      const h = document.createElement("p");
      h.className = "hint";
      h.textContent = "👉 " + p.hint;
      li.append(h);
    }
    return li;
  }));
}

// ---- the box's identity and its last setup bundle (for the trainer) ----
function renderSetup(su) {
  $("setup-area").hidden = !su;
  if (!su) return;
  $("setup-fingerprint").textContent = su.fingerprint || "";
  if (su.qr && $("setup-qr").getAttribute("src") !== su.qr) $("setup-qr").src = su.qr;
  const out = $("setup-outcome");
  out.textContent = su.outcome || "";
  out.className = su.outcome_ok ? "outcome-ok" : "outcome-bad";
  out.hidden = !su.outcome;
  $("setup-trust").textContent = su.trust || "";
  $("setup-enrol").value = su.enrol || "";
  $("setup-copy").hidden = !su.enrol;
  const link = $("setup-enrol-link");
  if (su.enrol_url) link.href = su.enrol_url;
  link.hidden = !su.enrol_url;
}

// Copies the box's identity for the console. navigator.clipboard exists
// only on secure origins, and the box is served over plain http on the
// LAN: then the text is selected in a visible field and copied the old
// way, and stays there for her to long-press if even that is refused.
$("setup-copy").addEventListener("click", async () => {
  const field = $("setup-enrol"), said = $("setup-copied");
  let ok = false;
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(field.value); ok = true; } catch (_) { /* the old way below */ }
  }
  if (!ok) {
    field.hidden = false;
    field.focus();
    field.select();
    field.setSelectionRange(0, field.value.length);
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
  }
  said.textContent = ok ? "已复制 ✅ 到后台“➕ 添加新盒子”里粘贴" : "请长按上面的字，选“全选”再“复制”";
  said.hidden = false;
});

function openEvents() {
  if (events) events.close();
  events = new EventSource("/api/events");
  events.addEventListener("status", (e) => render(JSON.parse(e.data)));
  events.addEventListener("warning", (e) => {
    const w = JSON.parse(e.data);
    renderWarnings(cards.filter((c) => c.id !== w.id).concat([w]));
  });
  const es = events;
  events.onerror = async () => {
    // The stream reconnects by itself after a network error, but not
    // after an HTTP error (the box restarting, busy): then open it again
    // a little later. A lost session needs the PIN.
    try {
      const r = await api("/api/status");
      if (r.ok && events === es && es.readyState === EventSource.CLOSED) {
        render(await r.json());
        setTimeout(() => { if (events === es) openEvents(); }, 3000);
      }
    } catch (_) { /* showLogin done */ }
  };
}

// A phone that slept may have lost the stream: look again on waking.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && events && events.readyState === EventSource.CLOSED) openEvents();
});

// ---- toast: a plain sentence confirming what the box did ----
let toastTimer = null;
function toast(text, kind) {
  const t = $("toast");
  t.textContent = text;
  t.className = kind || "";
  t.hidden = false;
  if (toastTimer) clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ---- practice (练习) ----
// While she practises: the banner, the simulated customers' comments
// (polled from /api/practice), the big button ends the practice. Right
// after it ends: her report, until 知道了.
let practiceTimer = null;
let practiceStart = "";   // the report already dismissed (its start)
let practiceWas = false;  // the last status was a practice (or its ending)

let olderComments = false; // she unfolded the older questions

function renderPractice(st) {
  const on = st.state === "practice";
  $("practice-banner").hidden = !on;
  $("app").classList.toggle("practising", on);
  $("btn-practice").hidden = st.state !== "idle";
  $("buttons").classList.toggle("with-practice", st.state === "idle");
  if (on) $("btn-big").textContent = "⏹️ 按住3秒 结束练习";
  if (!on) $("practice-comments").hidden = true;
  const ended = practiceWas && !on && st.state !== "ending";
  practiceWas = on || (practiceWas && st.state === "ending");
  if (on && !practiceTimer) {
    $("practice-report").hidden = true;
    olderComments = false;
    practiceTimer = setInterval(pollPractice, 1000);
    pollPractice();
  }
  if (!on && practiceTimer) { clearInterval(practiceTimer); practiceTimer = null; }
  if (ended) fetchReport(8);
  // The box left idle some other way (its own buttons): nothing to choose.
  if (st.state !== "idle" && $("practice-choose").open) $("practice-choose").close();
}

// 🎓 练习: with one scenario (or none) it starts at once; with more, she
// picks one from big buttons, or 随便来一个 (the next in turn, as the
// box's held card button gives).
async function openChooser() {
  let v;
  try {
    const r = await api("/api/practice");
    if (!r.ok) throw new Error(String(r.status));
    v = await r.json();
  } catch (_) {
    if (!$("app").hidden) toast("❗ 连不上盒子，请再按一次", "bad");
    return;
  }
  const list = v.scenarios || [];
  if (list.length <= 1) { startPractice(""); return; }
  renderChooser(list);
  $("choose-error").textContent = "";
  const d = $("practice-choose");
  if (!d.open) d.showModal();
  const first = $("choose-list").querySelector("button");
  if (first) first.focus();
}

function renderChooser(list) {
  $("choose-list").replaceChildren(...list.map((sc) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "choice";
    b.dataset.id = sc.id;
    const icon = document.createElement("i");
    icon.textContent = sc.icon;
    icon.setAttribute("aria-hidden", "true");
    const words = document.createElement("span");
    const name = document.createElement("b");
    name.textContent = sc.name;
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = " · " + sc.questions + " 个问题";
    words.append(name, count);
    const products = sc.products || [];
    if (products.length) {
      const p = document.createElement("small");
      p.textContent = "🛍️ " + products.slice(0, 3).join("、") + (products.length > 3 ? " 等" : "");
      words.append(p);
    }
    b.append(icon, words);
    gesture(b, { onTap: () => startPractice(sc.id) });
    li.append(b);
    return li;
  }));
}

let practiceAsked = false; // a start is on its way
async function startPractice(id) {
  if (practiceAsked) return;
  practiceAsked = true;
  const d = $("practice-choose");
  try {
    const r = await api("/api/practice/start", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ scenario: id }),
    });
    let v = {};
    try { v = await r.json(); } catch (_) { /* keep empty */ }
    if (r.ok) {
      if (d.open) d.close();
      if (!events || events.readyState !== EventSource.OPEN) refresh();
      return;
    }
    const msg = "❗ " + (v.error || "盒子没有收到，请再按一次").replace(/ \(.*\)$/, "");
    if (v.scenarios && v.scenarios.length) renderChooser(v.scenarios);
    if (d.open) $("choose-error").textContent = msg;
    else toast(msg, "bad");
  } catch (_) {
    if (!$("app").hidden) toast("❗ 连不上盒子，请再按一次", "bad");
  } finally {
    practiceAsked = false;
  }
}

gesture($("btn-practice"), { onTap: openChooser });
gesture($("choose-any"), { onTap: () => startPractice("") });
gesture($("choose-cancel"), { onTap: () => $("practice-choose").close() });
$("practice-choose").addEventListener("close", () => {
  if (!$("btn-practice").hidden) $("btn-practice").focus();
});

async function pollPractice() {
  try {
    const r = await api("/api/practice");
    if (!r.ok) return;
    const v = await r.json();
    if (!v.active) return;
    const list = (v.comments || []).slice(-30);
    $("practice-comments").hidden = list.length === 0;
    $("practice-list").replaceChildren(...list.map((c) => {
      const li = document.createElement("li");
      li.className = "practice-comment";
      const who = document.createElement("b");
      who.textContent = "👤 " + c.from + "：";
      const said = document.createElement("span");
      said.textContent = c.text;
      const when = document.createElement("small");
      const m = Math.floor(c.at / 60), s = Math.floor(c.at % 60);
      when.textContent = " " + m + ":" + String(s).padStart(2, "0") + (c.within ? " · ⏱️ " + c.within + "秒内回答" : "");
      li.append(who, said, when);
      return li;
    }));
    renderCommentsToggle();
  } catch (_) { /* login shown */ }
}

// 还有 N 条: the style sheet decides how many of the newest show (one, two
// on a tall phone); the button counts the rest.
function renderCommentsToggle() {
  const ol = $("practice-list");
  ol.classList.toggle("show-older", olderComments);
  $("practice-comments").classList.toggle("show-older", olderComments);
  const folded = olderComments ? 0 :
    [...ol.children].filter((li) => getComputedStyle(li).display === "none").length;
  const b = $("comments-toggle");
  b.hidden = !olderComments && folded === 0;
  const arrow = document.createElement("span");
  const words = document.createElement("span");
  arrow.textContent = olderComments ? "▲" : "▼";
  words.textContent = olderComments ? "收起" : "还有" + folded + "条";
  b.replaceChildren(arrow, words);
  b.setAttribute("aria-expanded", String(olderComments));
}

$("comments-toggle").addEventListener("click", () => { olderComments = !olderComments; renderCommentsToggle(); });
// Turned sideways or resized: the style sheet may show another number.
window.addEventListener("resize", () => { if (!$("practice-comments").hidden) renderCommentsToggle(); });

// The box computes the report as the practice ends: ask a few times.
async function fetchReport(tries) {
  try {
    const r = await api("/api/practice");
    const v = r.ok ? await r.json() : {};
    if (v.report && v.report.start !== practiceStart) { showReport(v.report); return; }
  } catch (_) { return; }
  if (tries > 1) setTimeout(() => fetchReport(tries - 1), 1000);
}

function showReport(rep) {
  const items = (pts) => pts.map((p) => {
    const li = document.createElement("li");
    const icon = document.createElement("i");
    icon.textContent = p.icon;
    li.append(icon, " " + p.text);
    return li;
  });
  $("report-good").replaceChildren(...items(rep.good || []));
  $("report-next").replaceChildren(...items(rep.next || []));
  $("report-next").previousElementSibling.hidden = !(rep.next || []).length;
  $("report-missing").textContent = rep.missing || "";
  $("report-missing").hidden = !rep.missing;
  $("practice-report").hidden = false;
  $("practice-report").dataset.start = rep.start;
}

gesture($("report-ok"), { onTap: () => {
  practiceStart = $("practice-report").dataset.start || "";
  $("practice-report").hidden = true;
} });

// ---- buttons ----
const DONE_WORDS = {
  "mark short": "✅ 已记下，社工老师会看到",
  "next long": "🙈 卡片已收起，观众看不到了",
  "light long": "🌑 灯已关",
};

async function press(button, kind) {
  try {
    const r = await api("/api/button/" + button + "?press=" + kind, { method: "POST" });
    if (!r.ok) {
      toast("❗ 盒子没有收到，请再按一次", "bad");
      return false;
    }
    const said = DONE_WORDS[button + " " + kind];
    if (said) toast(said);
    // The events stream brings the change (the server nudges it after a
    // press). A status fetched now could answer after a newer one from the
    // stream and leave the page showing a state long gone (正在下播 after
    // the box is idle again), so fetch only without a stream.
    if (!events || events.readyState !== EventSource.OPEN) refresh();
    return true;
  } catch (_) {
    if (!$("app").hidden) toast("❗ 连不上盒子，请再按一次", "bad");
    return false;
  }
}

async function refresh() {
  try {
    const r = await api("/api/status");
    if (r.ok) render(await r.json());
  } catch (_) { /* login shown */ }
}

// gesture is the one model for pointer, touch, mouse and click: a press
// begins on pointerdown and ends once, on release, leaving the button, or
// cancel. A hold that fired is the whole gesture: lifting the finger after
// it does nothing, and the browser's click that follows a press (touch or
// mouse) is never taken as another press. Only a click without a pointer
// (keyboard, screen reader: detail 0) acts as a tap.
function gesture(el, o) {
  let g = null; // {id, hold, fired, timer}
  const end = () => {
    if (!g) return;
    clearTimeout(g.timer);
    cancelAnimationFrame(g.raf);
    el.style.setProperty("--hold", "0%");
    el.classList.remove("holding");
    g = null;
  };
  el.addEventListener("pointerdown", (e) => {
    if (!e.isPrimary || e.button !== 0 || el.disabled) return;
    e.preventDefault();
    end(); // a gesture whose release never reached the button is over
    const hold = o.holdMs && o.holdWanted();
    g = { id: e.pointerId, hold, fired: false, timer: 0, raf: 0 };
    if (!hold) return;
    const started = performance.now();
    const cur = g;
    el.classList.add("holding");
    const step = () => {
      el.style.setProperty("--hold", Math.min(100, (performance.now() - started) / o.holdMs * 100) + "%");
      cur.raf = requestAnimationFrame(step);
    };
    cur.raf = requestAnimationFrame(step);
    cur.timer = setTimeout(() => {
      cur.fired = true;
      cancelAnimationFrame(cur.raf);
      el.style.setProperty("--hold", "100%");
      // The state may have changed during the hold (a long press when
      // idle would put the box into setup mode).
      if (o.holdWanted()) o.onHold();
    }, o.holdMs);
  });
  el.addEventListener("pointermove", (e) => {
    if (!g || e.pointerId !== g.id || g.fired) return;
    // Touch pointers are captured by the button: look where the finger is.
    const r = el.getBoundingClientRect(), m = 16;
    if (e.clientX < r.left - m || e.clientX > r.right + m || e.clientY < r.top - m || e.clientY > r.bottom + m) end();
  });
  el.addEventListener("pointerup", (e) => {
    if (!g || e.pointerId !== g.id) return;
    const cur = g;
    end();
    if (cur.fired) return;
    if (cur.hold) o.onShortHold && o.onShortHold();
    else o.onTap();
  });
  // Released or lost elsewhere (the mouse slid off, the button was
  // disabled while 正在下播): the gesture is over, with no action.
  for (const type of ["pointercancel", "pointerleave"]) {
    el.addEventListener(type, (e) => { if (g && e.pointerId === g.id) end(); });
  }
  window.addEventListener("pointerup", (e) => { if (g && e.pointerId === g.id) end(); });
  el.addEventListener("click", (e) => {
    e.preventDefault();
    if (e.detail === 0 && !g && !el.disabled) {
      if (o.holdMs && o.holdWanted()) o.onShortHold && o.onShortHold();
      else o.onTap();
    }
  });
  el.addEventListener("contextmenu", (e) => e.preventDefault());
}

for (const b of document.querySelectorAll("#buttons button")) {
  if (b.id === "btn-big" || b.id === "btn-practice") continue; // their own gestures
  gesture(b, { onTap: () => press(b.dataset.button, b.dataset.press) });
}

gesture($("note-ok"), { onTap: readNote });

// The big button: a tap goes live; while live it must be held 3 s to end,
// like the physical one, so a brush of the thumb cannot end the show.
let bigBusy = false; // a go-live was sent and the state has not moved yet
gesture($("btn-big"), {
  holdMs: HOLD_MS,
  holdWanted: () => !!current && LIVE_STATES.has(current.state),
  // The hint of a short press must not sit over the report that follows.
  onHold: () => { $("toast").hidden = true; bigBusy = true; press("big", "long"); },
  onShortHold: () => toast(current && current.state === "practice" ? "要结束练习，请按住 3 秒" : "要下播，请按住 3 秒", "info"),
  onTap: () => {
    if (!current || current.state !== "idle" || bigBusy) return;
    bigBusy = true;
    setTimeout(() => { bigBusy = false; }, 5000);
    press("big", "short");
  },
});

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

// ---- Wi-Fi: the box's own hotspot when it knows no network ----
// Asked every few seconds while the page is open and she is not live.
// The answer to 连接 comes at once; then the box leaves its hotspot, and her
// phone with it, so the page says so before she presses.
let wifiChosen = null;
let wifiSent = null; // SSID sent, until the box reports a result

function wifiSignal(n) { return n >= 50 ? "📶" : "📡"; }

function renderWiFi(v) {
  const recent = v.last && (Date.now() - new Date(v.last.at).getTime()) < 30 * 60 * 1000;
  $("wifi-area").hidden = !v.hotspot && !v.joining && !recent && !wifiSent;
  const res = $("wifi-result");
  if (v.joining || (wifiSent && !(v.last && v.last.ssid === wifiSent))) {
    res.textContent = "⏳ 正在连「" + (v.joining || wifiSent) + "」…";
    res.className = "";
  } else if (v.last) {
    // The outcome is the news: the 正在连 toast on top must not hide it.
    if (wifiSent) $("toast").hidden = true;
    wifiSent = null;
    res.textContent = (v.last.ok ? "✅ " : "❌ ") + v.last.message;
    res.className = v.last.ok ? "outcome-ok" : "outcome-bad";
  }
  res.hidden = !res.textContent;
  $("wifi-hint").hidden = !v.hotspot;
  $("wifi-list").hidden = !v.hotspot;
  $("wifi-other").hidden = !v.hotspot;
  $("wifi-form").hidden = !v.hotspot || wifiChosen === null;
  if (!v.hotspot) return;
  const names = v.nearby.map((n) => n.ssid).join("\n");
  const list = $("wifi-list");
  if (list.dataset.names !== names) {
    list.dataset.names = names;
    list.replaceChildren(...v.nearby.map((n) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.ssid = n.ssid;
      b.textContent = wifiSignal(n.signal) + " " + n.ssid + (n.secured ? " 🔒" : "");
      b.addEventListener("click", () => chooseWiFi(n.ssid, v.ssid));
      li.append(b);
      return li;
    }));
  }
  for (const b of list.querySelectorAll("button")) b.classList.toggle("chosen", b.dataset.ssid === wifiChosen);
}

// chooseWiFi picks a name from the list, or ("") one she types (a hidden
// network, or one the scan missed).
function chooseWiFi(ssid, hotspot) {
  wifiChosen = ssid;
  $("wifi-name").hidden = ssid !== "";
  $("wifi-chosen").textContent = ssid ? "📶 " + ssid : "";
  $("wifi-warn").textContent = "按「连接」以后，手机会断开盒子的 Wi-Fi。连上了：把手机连回" +
    (ssid ? "「" + ssid + "」" : "你家的 Wi-Fi") + "，再打开这个页面。没连上：手机重新连「" +
    (hotspot || "村播") + "」再试一次。";
  $("wifi-error").textContent = "";
  $("wifi-form").hidden = false;
  for (const b of $("wifi-list").querySelectorAll("button")) b.classList.toggle("chosen", b.dataset.ssid === ssid);
  // On a small phone the form is below the list: bring 连接 into view.
  $(ssid ? "wifi-password" : "wifi-name").focus({ preventScroll: true });
  $("wifi-join").scrollIntoView({ block: "nearest" });
}

$("wifi-other").addEventListener("click", async () => {
  let hotspot = "";
  try { hotspot = (await (await api("/api/wifi")).json()).ssid || ""; } catch (_) { /* the default name */ }
  chooseWiFi("", hotspot);
});

$("wifi-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (wifiChosen === null) return;
  const ssid = wifiChosen || $("wifi-name").value.trim();
  $("wifi-error").textContent = "";
  try {
    const r = await api("/api/wifi/join", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ssid: ssid, password: $("wifi-password").value }),
    });
    if (r.status !== 202) {
      let msg = "盒子没有收到，请再按一次";
      try { msg = (await r.json()).error || msg; } catch (_) { /* keep default */ }
      $("wifi-error").textContent = "❗ " + msg;
      return;
    }
    wifiSent = ssid;
    $("wifi-password").value = "";
    toast("⏳ 正在连「" + ssid + "」，手机马上会断开盒子的 Wi-Fi");
    pollWiFi();
  } catch (_) {
    $("wifi-error").textContent = "❗ 盒子没有收到，请再按一次";
  }
});

async function pollWiFi() {
  if ($("app").hidden || (current && LIVE_STATES.has(current.state))) return;
  try {
    const r = await api("/api/wifi");
    if (r.ok) renderWiFi(await r.json());
  } catch (_) { /* the next poll tries again */ }
}
setInterval(pollWiFi, 3000);

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
