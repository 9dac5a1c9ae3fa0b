// Video reception pages: booking, the room (township screen, county officer, supervisor) and the
// oversight grid. Signaling: /reception/ws/{session}; the room token is sent in the first message.
"use strict";

const $ = (id) => document.getElementById(id);
const page = document.body.dataset.page;

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

// Every button that waits on the server: disabled, "正在处理…", restored when done.
async function busy(button, fn) {
  if (!button || button.disabled) return undefined;
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = "正在处理…";
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

function onClick(id, fn) {
  const button = $(id);
  button.addEventListener("click", () => busy(button, fn).catch((e) => showError(e.message)));
}

async function api(path, body) {
  const init = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch("/reception/api/" + path, init);
  } catch (e) {
    throw new Error("网络连接失败，请检查网络后重试。");
  }
  const doc = await res.json().catch(() => ({}));
  if (res.status === 401) {
    $("login").hidden = false;
    $("app").hidden = true;
  }
  if (!res.ok) {
    const err = new Error((doc.error && doc.error.message) || "操作未成功，请稍后重试。");
    err.code = doc.error && doc.error.code;
    throw err;
  }
  return doc;
}

// The WebAudio alert when a citizen starts waiting (browsers allow sound after the first click).
function beep() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  try {
    const ctx = beep.ctx || (beep.ctx = new Ctx());
    for (const [at, hz] of [[0, 880], [0.25, 660]]) {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = hz;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 0.2);
    }
    window.receptionBeeps = (window.receptionBeeps || 0) + 1;
  } catch (e) { /* no sound device: the list still shows it */ }
}
document.addEventListener("click", () => { if (beep.ctx) beep.ctx.resume(); });

const REFUSED = {
  malformed: "进入凭证无效，请刷新页面后重试。",
  bad_signature: "进入凭证无效，请刷新页面后重试。",
  expired: "进入凭证已过期，请刷新页面后重试。",
  wrong_room: "进入凭证不属于本接访室。",
  reused: "进入凭证已使用过，请刷新页面后重试。",
  no_join: "连接超时，请刷新页面后重试。",
  out_of_scope: "您无权进入本接访室。",
};

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return `${m}分${String(s).padStart(2, "0")}秒`;
}

// --- login --------------------------------------------------------------------------------------

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  busy($("login-form").querySelector("button"), async () => {
    await api("login", { username: $("username").value, password: $("password").value, totp: $("totp").value });
    location.reload();
  }).catch((e) => showError(e.message));
});
$("logout").addEventListener("click", async (ev) => {
  ev.preventDefault();
  await api("logout", {}).catch(() => {});
  location.reload();
});

// --- index: booking and the day's sessions -----------------------------------------------------

async function loadSlots() {
  const township = $("township").value;
  const select = $("slot");
  select.replaceChildren();
  if (!township) return;
  const doc = await api("slots?township=" + encodeURIComponent(township));
  for (const s of doc.slots.filter((x) => x.free)) {
    const d = new Date(s.start);
    const label = d.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
      weekday: "short", hour: "2-digit", minute: "2-digit" }) + (s.moved_from ? "（节假日顺延）" : "");
    select.append(el("option", label, { value: s.start }));
  }
}

async function loadSchedule() {
  const doc = await api("schedule");
  const body = $("schedule");
  body.replaceChildren();
  for (const s of doc.sessions) {
    const tr = el("tr");
    tr.append(el("td", s.slot_label), el("td", s.township_name), el("td", s.host_unit_name), el("td", s.status_label));
    const links = el("td");
    const names = { host: "接访室屏幕", officer: "接访人员", supervisor: "监督观看" };
    if (!["filed", "cancelled"].includes(s.status)) {
      for (const role of s.roles) {
        const a = el("a", names[role], { href: `/reception/room/${s.id}?as=${role}`, "data-role": role });
        links.append(a, " ");
      }
    } else if (s.case_no) {
      links.append(el("span", s.case_no));
    }
    tr.append(links);
    body.append(tr);
  }
}

async function loadUpcoming() {
  const doc = await api("upcoming");
  const box = $("upcoming");
  box.replaceChildren();
  $("upcoming-none").hidden = doc.days.length > 0;
  for (const day of doc.days) {
    const part = el("section", null, { class: "day", "data-day": day.day });
    part.append(el("h3", day.day));
    const list = el("ul");
    for (const u of day.units) {
      const times = u.sessions.map((x) => `${x.slot_label.slice(6)}（${x.host_unit_name}）`).join("、");
      list.append(el("li", `${u.unit_name}：${times}`, { "data-unit": u.unit_name }));
    }
    part.append(list);
    box.append(part);
  }
}

// The officers' list of citizens waiting (walk-ins and sessions whose officer is not there yet).
const alerted = new Set();
async function loadWaiting() {
  const doc = await api("oversight");
  const mine = doc.sessions.filter((s) => s.waiting && s.roles.includes("officer"));
  const list = $("waiting-list");
  list.replaceChildren();
  let fresh = false;
  for (const s of mine) {
    if (!alerted.has(s.id)) { alerted.add(s.id); fresh = true; }
    const kind = s.walk_in ? "现场来访" : "预约接访";
    const li = el("li", `${s.unit_name}接访室 · ${kind} · ${s.status_label}`, { "data-session": s.id });
    li.append(el("a", "接入", { href: `/reception/room/${s.id}?as=officer`, class: "join" }));
    list.append(li);
  }
  $("waiting-none").hidden = mine.length > 0;
  if (fresh) beep();
}

async function indexPage(me) {
  if (me.townships.length) {
    $("walk-in").hidden = false;
    for (const t of me.townships) $("w-township").append(el("option", t.name, { value: t.code }));
    onClick("walk-in-open", async () => {
      showError("");
      const opened = await api("sessions", { unit: $("w-township").value, walk_in: true });
      location.href = `/reception/room/${opened.id}?as=host`;
    });
  }
  if (me.officer) {
    $("waiting").hidden = false;
    await loadWaiting();
    setInterval(() => loadWaiting().catch(() => {}), 2000);
  }
  if (me.townships.length) {
    $("booking").hidden = false;
    for (const t of me.townships) $("township").append(el("option", t.name, { value: t.code }));
    $("township").addEventListener("change", () => loadSlots().catch((e) => showError(e.message)));
    await loadSlots();
    $("book-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      showError("");
      busy($("book-form").querySelector("button[type=submit]"), async () => {
        const booked = await api("bookings", {
          township: $("township").value, slot: $("slot").value, facts: $("facts").value,
          query_code: $("r-query").value || undefined,
          reporter: { name: $("r-name").value, id_number: $("r-id").value, phone: $("r-phone").value },
          accused: { name: $("a-name").value, unit: $("a-unit").value, position: $("a-position").value },
        });
        $("book-form").reset();
        $("booked").textContent = `已预约：${booked.slot_label}，${booked.township_name}接访室，由${booked.host_unit_name}接访。`;
        $("booked").hidden = false;
        $("booked").dataset.session = booked.id;
        await loadSlots();
        await loadSchedule();
        await loadUpcoming();
      }).catch((e) => showError(e.message));
    });
  }
  await loadUpcoming();
  await loadSchedule();
}

// --- the room -----------------------------------------------------------------------------------

const room = {
  session: document.body.dataset.session,
  role: document.body.dataset.role,
  ws: null, seat: null, stream: null, pcs: new Map(), iceServers: [], closed: false,
  recorder: null, seq: 0, uploads: Promise.resolve(), uploaded: 0,
};

function setState(text) { $("state").textContent = text; }

function remoteVideo(peer) {
  let video = document.querySelector(`video[data-peer="${peer}"]`);
  if (!video) {
    const fig = el("figure");
    video = el("video", null, { autoplay: "", playsinline: "", "data-peer": peer });
    video.muted = room.role === "supervisor" ? true : false;
    const names = { host: "乡镇接访室", officer: "接访人员" };
    fig.append(video, el("figcaption", names[peer] || "监督"));
    $("videos").append(fig);
  }
  return video;
}

function send(msg) {
  if (room.ws && room.ws.readyState === WebSocket.OPEN) room.ws.send(JSON.stringify(msg));
}

function peerConnection(peer) {
  let pc = room.pcs.get(peer);
  if (pc && !["failed", "closed"].includes(pc.connectionState)) return pc;
  if (pc) pc.close();
  pc = new RTCPeerConnection({ iceServers: room.iceServers });
  if (room.stream) {
    for (const t of room.stream.getTracks()) pc.addTrack(t, room.stream);
  } else {
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
  }
  pc.onicecandidate = (e) => { if (e.candidate) send({ type: "candidate", to: peer, candidate: e.candidate.toJSON() }); };
  pc.ontrack = (e) => {
    const video = remoteVideo(peer);
    if (video.srcObject !== e.streams[0]) video.srcObject = e.streams[0] || new MediaStream([e.track]);
  };
  pc.onconnectionstatechange = () => {
    if (peer === "recorder") { if (pc.connectionState === "connected") $("rec").hidden = false; return; }
    if (pc.connectionState === "connected") setState("通话已连接");
    if (pc.connectionState === "failed") setState("连接中断，正在重连…");
  };
  room.pcs.set(peer, pc);
  return pc;
}

async function offer(peer) {
  const pc = peerConnection(peer);
  await pc.setLocalDescription(await pc.createOffer());
  send({ type: "description", to: peer, description: pc.localDescription.toJSON() });
}

async function onSignal(msg) {
  if (msg.type === "welcome") {
    room.seat = msg.you;
    setState(msg.peers.length ? "已进入接访室" : "已进入接访室，等待对方加入…");
  } else if (msg.type === "peer-joined") {
    if (room.pcs.has(msg.peer)) { room.pcs.get(msg.peer).close(); room.pcs.delete(msg.peer); }
    // A supervisor only watches: it offers to neither another supervisor nor the recorder.
    if (!(room.role === "supervisor" && ["supervisor", "recorder"].includes(msg.role))) await offer(msg.peer);
  } else if (msg.type === "peer-resumed") {
    const pc = room.pcs.get(msg.peer);
    if (!pc || ["failed", "closed", "disconnected"].includes(pc.connectionState)) await offer(msg.peer);
  } else if (msg.type === "peer-left") {
    const pc = room.pcs.get(msg.peer);
    if (pc) pc.close();
    room.pcs.delete(msg.peer);
    if (msg.role !== "recorder") setState("对方已离开");
  } else if (msg.type === "description") {
    const pc = peerConnection(msg.from);
    await pc.setRemoteDescription(msg.description);
    if (msg.description.type === "offer") {
      await pc.setLocalDescription(await pc.createAnswer());
      send({ type: "description", to: msg.from, description: pc.localDescription.toJSON() });
    }
  } else if (msg.type === "candidate" && msg.candidate) {
    const pc = room.pcs.get(msg.from);
    if (pc) await pc.addIceCandidate(msg.candidate).catch(() => {});
  } else if (msg.type === "note" && room.role === "officer") {
    $("notes").append(el("li", msg.text));
  } else if (msg.type === "minutes") {
    onMinutes(msg.text);
  } else if (msg.type === "filed") {
    onFiled(msg.case_no, null);
  } else if (msg.type === "refused") {
    setState(REFUSED[msg.reason] || "无法进入接访室，请刷新页面后重试。");
  }
}

async function connect() {
  if (room.closed) return;
  let grant;
  try {
    grant = await api(`sessions/${room.session}/token`, { role: room.role });
  } catch (e) {
    setState(e.message);
    return;
  }
  room.iceServers = grant.ice_servers;
  room.serverRecording = grant.server_recording;
  if (room.role === "host" && !room.serverRecording && !room.recorder) startRecording();
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/reception/ws/${room.session}`);
  room.ws = ws;
  let chain = Promise.resolve();
  ws.onopen = () => ws.send(JSON.stringify({ type: "join", token: grant.token }));
  ws.onmessage = (ev) => { chain = chain.then(() => onSignal(JSON.parse(ev.data))).catch((e) => console.warn(e)); };
  ws.onclose = (ev) => {
    if (room.ws !== ws || room.closed || ev.code === 4401 || ev.code === 4409) return;
    setState("网络中断，正在重连…");
    setTimeout(connect, 1000);  // the seat is kept for a few seconds
  };
}

function startRecording() {
  if (!window.MediaRecorder || !room.stream) return;
  const type = ["video/webm;codecs=vp8,opus", "video/webm"].find((t) => MediaRecorder.isTypeSupported(t));
  room.recorder = new MediaRecorder(room.stream, type ? { mimeType: type, videoBitsPerSecond: 300000 } : {});
  room.recorder.ondataavailable = (e) => {
    if (!e.data || !e.data.size) return;
    const seq = room.seq++;
    room.uploads = room.uploads.then(async () => {
      const res = await fetch(`/reception/api/sessions/${room.session}/chunks/${seq}`, {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/octet-stream" }, body: e.data,
      });
      if (res.ok) {
        room.uploaded = (await res.json()).total_bytes;
        $("rec-bytes").textContent = String(room.uploaded);
      }
    }).catch(() => {});
  };
  room.recorder.start(1000);
  $("rec-by").textContent = "本端录制";
  $("rec-up").hidden = false;
  $("rec").hidden = false;
}

function stopRecording() {
  const rec = room.recorder;
  if (!rec || rec.state === "inactive") return Promise.resolve();
  return new Promise((resolve) => {
    rec.addEventListener("stop", () => setTimeout(resolve, 0), { once: true });
    rec.stop();
  });
}

async function onMinutes(text) {
  if (room.role !== "host") { setState("接访已结束，等待群众确认笔录"); return; }
  $("minutes-view").textContent = text;
  $("confirm-panel").hidden = false;
  setState("接访已结束");
  await stopRecording();
  await room.uploads;
  $("upload-wait").hidden = true;
  $("confirm").disabled = false;
}

function onFiled(caseNo, queryCode) {
  room.closed = true;
  $("filed").hidden = false;
  $("call").hidden = true;
  $("confirm").hidden = true;
  $("upload-wait").hidden = true;
  $("case-no").textContent = caseNo;
  if (queryCode) { $("query-code").textContent = queryCode; $("code-note").hidden = false; }
  for (const pc of room.pcs.values()) pc.close();
  if (room.stream) for (const t of room.stream.getTracks()) t.stop();
  if (room.ws) room.ws.close();
}

async function startCall() {
  $("call").hidden = false;
  if (room.role !== "supervisor") {
    room.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
    $("local").srcObject = room.stream;
  } else {
    $("local").parentElement.hidden = true;
  }
  await connect();
}

// For tests and the operator's own diagnostics: the state of each peer connection.
window.receptionStats = async () => {
  const out = [];
  for (const [peer, pc] of room.pcs) {
    let framesDecoded = 0;
    (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") framesDecoded += r.framesDecoded || 0; });
    out.push({ peer, connectionState: pc.connectionState, framesDecoded });
  }
  return { seat: room.seat, peers: out, uploaded: room.uploaded };
};

async function roomPage() {
  const s = await api(`sessions/${room.session}`);
  const names = { host: "乡镇接访室", officer: "接访人员", supervisor: "监督观看" };
  $("room-title").textContent = `视频接访 · ${names[room.role]}`;
  const when = s.walk_in ? `现场来访（${s.slot_label.slice(6)}发起）` : `预约 ${s.slot_label}`;
  $("room-sub").textContent = `${when} · ${s.township_name}接访室 · ${s.host_unit_name}接访`;
  if (s.status === "filed") { onFiled(s.case_no, null); return; }
  if (room.role === "officer") {
    $("officer-panel").hidden = false;
    if (s.minutes_text) $("minutes-text").value = s.minutes_text;
    onClick("minutes-save", async () => {
      await api(`sessions/${room.session}/minutes`, { minutes: $("minutes-text").value });
      showError("");
    });
    onClick("end", async () => {
      await api(`sessions/${room.session}/end`, { minutes: $("minutes-text").value });
      showError("");
      $("end").hidden = true;
      $("minutes-save").hidden = true;
      setState("接访已结束，等待群众确认笔录");
    });
  }
  if (room.role === "supervisor") {
    $("supervisor-panel").hidden = false;
    onClick("note-send", async () => {
      const text = $("note-text").value.trim();
      if (!text) { showError("请先填写提示内容。"); return; }
      send({ type: "note", text });
      $("note-text").value = "";
      $("note-sent").hidden = false;
    });
  }
  if (room.role === "host") {
    onClick("confirm", async () => {
      const filed = await api(`sessions/${room.session}/confirm`, {});
      showError("");
      $("confirm").hidden = true;
      onFiled(filed.case_no, filed.query_code);
    });
    if (s.status === "minutes") { $("call").hidden = false; onMinutes(s.minutes_text || ""); return; }
    if (!s.consent_at) {
      for (const a of s.attendees_planned) $("attendees").append(el("li", a));
      $("consent").hidden = false;
      onClick("consent-ok", async () => {
        if (!$("c-recorded").checked || !$("c-attendees").checked) { showError("请先勾选确认两项须知。"); return; }
        await api(`sessions/${room.session}/consent`, { recorded: true, attendees: true });
        showError("");
        $("consent").hidden = true;
        await startCall();
      });
      return;
    }
  }
  await startCall();
}

// --- oversight ------------------------------------------------------------------------------------

function seatsText(seats) {
  return seats.filter((x) => x.connected).map((x) => `${x.label}${x.who ? "（" + x.who + "）" : ""} ${duration(x.seconds)}`);
}

async function oversightPage(me) {
  const names = { host: "接访室屏幕", officer: "接入接访", supervisor: "监督观看" };
  async function refresh() {
    const doc = await api("oversight");
    $("today").textContent = doc.date;
    const live = $("live");
    live.replaceChildren();
    let fresh = false;
    for (const s of doc.sessions) {
      if (s.waiting && !alerted.has(s.id)) { alerted.add(s.id); fresh = true; }
      const tr = el("tr", null, { "data-session": s.id, "data-state": s.state });
      const kind = s.walk_in ? "现场来访" : "预约";
      const state = `${s.waiting ? "等待接入" : s.state_label}（${kind}）` + (s.seconds !== null ? " " + duration(s.seconds) : "");
      const seats = el("td");
      for (const line of seatsText(s.seats)) seats.append(el("div", line));
      const links = el("td");
      for (const role of s.roles) {
        links.append(el("a", names[role], { href: `/reception/room/${s.id}?as=${role}`, class: "join", "data-role": role }), " ");
      }
      tr.append(el("td", s.unit_name), el("td", s.host_unit_name), el("td", state), seats, links);
      live.append(tr);
    }
    $("live-none").hidden = doc.sessions.length > 0;
    if (fresh) beep();
    const grid = $("rooms");
    grid.replaceChildren();
    for (const r of doc.rooms) {
      const card = el("article", null, { class: "room", "data-state": r.state, "data-township": r.township });
      card.append(el("h3", r.name));
      card.append(el("p", r.state_label + (r.walk_in ? "（现场来访）" : "") + (r.state === "in_session" ? " · " + duration(r.seconds) : ""), { class: "state" }));
      const seats = el("ul", null, { class: "seats" });
      for (const line of seatsText(r.seats)) seats.append(el("li", line));
      card.append(seats);
      if (r.session && r.watchable) {
        card.append(el("a", "观看本场", { href: `/reception/room/${r.session}?as=supervisor`, class: "watch" }));
      }
      const list = el("ul");
      for (const s of r.schedule) list.append(el("li", `${s.slot_label} ${s.status_label}${s.case_no ? " " + s.case_no : ""}`));
      card.append(list, el("p", `今日已接访 ${r.held} 场`, { class: "hint held" }));
      grid.append(card);
    }
  }
  await refresh();
  setInterval(() => refresh().catch(() => {}), 2000);
}

// --- start ----------------------------------------------------------------------------------------

(async () => {
  let me;
  try {
    me = await api("me");
  } catch (e) {
    if (e.code !== "unauthorized") showError(e.message);
    return;
  }
  $("app").hidden = false;
  $("logout").hidden = false;
  const meBox = $("me");
  if (meBox) meBox.textContent = `${me.unit_name} ${me.username}`;
  try {
    if (page === "index") await indexPage(me);
    else if (page === "room") await roomPage();
    else if (page === "oversight") await oversightPage(me);
  } catch (e) { showError(e.message); }
})();
