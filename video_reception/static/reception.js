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

async function api(path, body) {
  const init = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch("/reception/api/" + path, init);
  const doc = await res.json().catch(() => ({}));
  if (res.status === 401) {
    $("login").hidden = false;
    $("app").hidden = true;
  }
  if (!res.ok) {
    const err = new Error((doc.error && doc.error.message) || "请求失败");
    err.code = doc.error && doc.error.code;
    throw err;
  }
  return doc;
}

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

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("login", { username: $("username").value, password: $("password").value, totp: $("totp").value });
    location.reload();
  } catch (e) { showError(e.message); }
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

async function indexPage(me) {
  if (me.townships.length) {
    $("booking").hidden = false;
    for (const t of me.townships) $("township").append(el("option", t.name, { value: t.code }));
    $("township").addEventListener("change", () => loadSlots().catch((e) => showError(e.message)));
    await loadSlots();
    $("book-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("");
      try {
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
      } catch (e) { showError(e.message); }
    });
  }
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
    if (!(room.role === "supervisor" && msg.role === "supervisor")) await offer(msg.peer);
  } else if (msg.type === "peer-resumed") {
    const pc = room.pcs.get(msg.peer);
    if (!pc || ["failed", "closed", "disconnected"].includes(pc.connectionState)) await offer(msg.peer);
  } else if (msg.type === "peer-left") {
    const pc = room.pcs.get(msg.peer);
    if (pc) pc.close();
    room.pcs.delete(msg.peer);
    setState("对方已离开");
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
    setState("无法进入接访室：" + msg.reason);
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
  if (room.role === "host") startRecording();
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
  $("room-sub").textContent = `${s.slot_label} · ${s.township_name}接访室 · ${s.host_unit_name}接访 · ${s.status_label}`;
  if (s.status === "filed") { onFiled(s.case_no, null); return; }
  if (room.role === "officer") {
    $("officer-panel").hidden = false;
    if (s.minutes_text) $("minutes-text").value = s.minutes_text;
    $("minutes-save").addEventListener("click", () =>
      api(`sessions/${room.session}/minutes`, { minutes: $("minutes-text").value }).then(() => showError("")).catch((e) => showError(e.message)));
    $("end").addEventListener("click", async () => {
      try {
        await api(`sessions/${room.session}/end`, { minutes: $("minutes-text").value });
        $("end").disabled = true;
        setState("接访已结束，等待群众确认笔录");
      } catch (e) { showError(e.message); }
    });
  }
  if (room.role === "supervisor") {
    $("supervisor-panel").hidden = false;
    $("note-send").addEventListener("click", () => {
      const text = $("note-text").value.trim();
      if (!text) return;
      send({ type: "note", text });
      $("note-text").value = "";
      $("note-sent").hidden = false;
    });
  }
  if (room.role === "host") {
    $("confirm").addEventListener("click", async () => {
      try {
        $("confirm").disabled = true;
        const filed = await api(`sessions/${room.session}/confirm`, {});
        onFiled(filed.case_no, filed.query_code);
      } catch (e) { showError(e.message); $("confirm").disabled = false; }
    });
    if (s.status === "minutes") { $("call").hidden = false; onMinutes(s.minutes_text || ""); return; }
    if (!s.consent_at) {
      for (const a of s.attendees_planned) $("attendees").append(el("li", a));
      $("consent").hidden = false;
      $("consent-ok").addEventListener("click", async () => {
        if (!$("c-recorded").checked || !$("c-attendees").checked) { showError("请先勾选确认两项须知。"); return; }
        try {
          await api(`sessions/${room.session}/consent`, { recorded: true, attendees: true });
          showError("");
          $("consent").hidden = true;
          await startCall();
        } catch (e) { showError(e.message); }
      });
      return;
    }
  }
  await startCall();
}

// --- oversight ------------------------------------------------------------------------------------

async function oversightPage() {
  const labels = { idle: "空闲", waiting: "等待中", in_session: "接访中" };
  async function refresh() {
    const doc = await api("oversight");
    $("today").textContent = doc.date;
    const grid = $("rooms");
    grid.replaceChildren();
    for (const r of doc.rooms) {
      const card = el("article", null, { class: "room", "data-state": r.state, "data-township": r.township });
      card.append(el("h3", r.name));
      card.append(el("p", labels[r.state] + (r.state === "in_session" ? " · " + duration(r.seconds) : ""), { class: "state" }));
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
    else if (page === "oversight") await oversightPage();
  } catch (e) { showError(e.message); }
})();
