// robot_rl operator panel: renders the state the label node pushes over a WebSocket and sends
// commands back. No framework, no build step; docs/panel.md describes the API.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const withToken = (path) => token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
const $ = (id) => document.getElementById(id);

let state = null;          // last state from the server
let receivedAt = 0;        // performance.now() when it arrived: the timer runs on from there
let ws = null;
let nextId = 1;
let localError = "";       // the refusal of this page's own last command
const pendingCommands = new Map();
const cams = {};           // name -> {img, loading, want}

const KEYS = { s: "start", y: "success", n: "failure", d: "accept", a: "abort", k: "skip", u: "undo", e: "estop", " ": "estop" };

const operatorInput = $("operator");
operatorInput.value = localStorage.getItem("robot_rl.operator") || "";
operatorInput.addEventListener("change", () => localStorage.setItem("robot_rl.operator", operatorInput.value.trim()));

function send(command) {
  const body = { command, operator: operatorInput.value.trim() };
  // Name the episode this page shows, so a label never lands on a different one.
  if (state && ["success", "failure", "abort", "accept"].includes(command) && state.episode.active) body.episode_id = state.episode.episode_id;
  if (state && command === "undo" && state.last_label && state.last_label.pending) body.episode_id = state.last_label.episode_id;
  if (ws && ws.readyState === WebSocket.OPEN) {
    const id = nextId++;
    pendingCommands.set(id, command);
    ws.send(JSON.stringify({ type: "command", id, ...body }));
  } else {
    fetch(withToken("/api/command"), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then((r) => r.json()).then((reply) => { showResult(command, reply.ok, reply.error); if (reply.state) setState(reply.state); })
      .catch((err) => showResult(command, false, String(err)));
  }
}

function showResult(command, ok, error) {
  localError = ok ? "" : `${command} refused: ${error}`;
  renderError();
}

function renderError() {
  const text = localError || (state && state.error) || "";
  $("error").hidden = !text;
  $("error").textContent = text;
}

function setState(s) {
  if (state && s.revision < state.revision && s.now <= state.now) return;  // an older reply
  if (!state || s.error !== state.error) localError = "";  // the server's newer error (or none) wins
  state = s;
  receivedAt = performance.now();
  render();
}

function ensureCameras(names) {
  for (const name of names) {
    if (cams[name]) continue;
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = `camera ${name}: no frame yet`;
    img.dataset.testid = `camera-${name}`;
    img.id = `camera-${name}`;
    const cap = document.createElement("figcaption");
    cap.textContent = name;
    fig.append(img, cap);
    $("cameras").append(fig);
    const cam = { img, loading: false, want: 0, shown: 0 };
    img.addEventListener("load", () => {
      cam.loading = false;
      img.dataset.frames = String(++cam.shown);   // frames shown so far, and their size (tests read both)
      img.dataset.size = `${img.naturalWidth}x${img.naturalHeight}`;
      refresh(name);
    });
    img.addEventListener("error", () => { cam.loading = false; });
    cams[name] = cam;
  }
}

function refresh(name) {
  const cam = cams[name];
  if (!cam || cam.loading || !cam.want || cam.img.dataset.seq === String(cam.want)) return;
  cam.loading = true;
  cam.img.dataset.seq = String(cam.want);
  cam.img.src = withToken(`/camera/${encodeURIComponent(name)}.jpg?n=${cam.want}`);
}

function fmt(seconds) {
  const s = Math.max(0, seconds);
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;
}

function render() {
  if (!state) return;
  ensureCameras(state.cameras);
  $("policy-version").textContent = state.policy_version >= 0 ? state.policy_version : "none";
  $("instruction").textContent = state.instruction || "—";
  $("progress").textContent = state.progress_text;
  $("context").textContent = state.context_id || "—";
  $("group").textContent = state.group_id || "—";
  $("episode-id").textContent = state.episode.active ? state.episode.episode_id : "none";
  $("estop-banner").hidden = !state.estop;
  if (!operatorInput.value && document.activeElement !== operatorInput) operatorInput.placeholder = state.operator;
  const ref = $("reference");
  const refSrc = state.reference ? withToken(state.reference) : "";
  if (ref.dataset.src !== refSrc) { ref.dataset.src = refSrc; if (refSrc) ref.src = refSrc; else ref.removeAttribute("src"); }
  const active = state.episode.active;
  const pending = state.last_label && state.last_label.pending;
  renderRecording();
  $("btn-start").disabled = active || state.estop;
  // A label is offered only for an episode policy_node confirmed it records; Abort always ends one.
  for (const id of ["btn-success", "btn-failure"]) $(id).disabled = !(active && state.episode.recording);
  // Accept: only a confident proposal (success/failure) for a recorded episode; "unsure" waits for Y/N.
  const det = active ? state.episode.detector : null;
  $("btn-accept").disabled = !(det && det.proposal !== "unsure" && state.episode.recording);
  renderDetector(det);
  $("btn-abort").disabled = !active;
  $("btn-undo").disabled = !pending;
  $("btn-skip").disabled = active;
  renderError();
  tick();
}

const ACK_TEXT = {
  waiting: () => "starting: waiting for policy_node to confirm…",
  recording: () => "recording",
  acting: (ep) => `NOT recorded: ${ep.ack_reason}`,
  no_answer: (ep) => `NOT confirmed: ${ep.ack_reason}`,
};

function renderDetector(det) {
  const el = $("detector");
  el.dataset.proposal = det ? det.proposal : "none";
  el.className = det ? (det.proposal === "success" ? "ok" : det.proposal === "failure" ? "bad" : "") : "";
  el.textContent = det ? `${det.proposal} (p ${det.p.toFixed(2)}, confidence ${det.confidence.toFixed(2)})` : "—";
  // Automatic mode: say who labels this episode (a spot check or an unsure proposal waits for the operator).
  if (state.auto && state.auto.enabled && state.episode.active) {
    el.textContent += state.episode.spot_check ? " · spot check: you label this one" : " · automatic";
  }
}

function renderRecording() {
  const ep = state.episode;
  const el = $("episode-status");
  let text = "—", kind = "";
  if (ep.active) {
    text = (ACK_TEXT[ep.ack] || (() => ep.ack))(ep);
    kind = ep.recording ? "ok" : ep.ack === "waiting" ? "" : "bad";
  } else if (state.refused) {
    text = `REFUSED: start of ${state.refused.episode_id} — ${state.refused.reason}`;
    kind = "bad";
  }
  el.textContent = text;
  el.dataset.ack = ep.active ? ep.ack : (state.refused ? "refused" : "none");
  el.className = kind;
}

function tick() {
  if (!state) return;
  const dt = (performance.now() - receivedAt) / 1000;
  const ep = state.episode;
  const timer = $("timer");
  if (ep.active) {
    const elapsed = ep.elapsed_s + dt;
    timer.textContent = fmt(elapsed) + (ep.time_limit_s > 0 ? ` / ${fmt(ep.time_limit_s)}` : "");
    timer.classList.toggle("late", ep.time_limit_s > 0 && elapsed > 0.8 * ep.time_limit_s);
  } else {
    timer.textContent = "—";
    timer.classList.remove("late");
  }
  const last = state.last_label;
  let text = "—";
  if (last) {
    text = `${last.label}${last.timeout ? " (time limit)" : ""} · ${last.episode_id}${last.operator ? " · " + last.operator : ""}`
      + (last.label_source && last.label_source !== "operator" ? ` · ${last.label_source}` : "");
    if (last.pending) {
      const left = last.undo_until - state.now - dt;
      text += left > 0 ? ` · publishing in ${left.toFixed(1)} s (U undoes)` : " · publishing…";
    }
  }
  $("last-label").textContent = text;
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(withToken(`${proto}://${location.host}/ws`));
  ws.onopen = () => { $("conn").textContent = "connected"; $("conn").className = "conn up"; };
  ws.onclose = () => {
    $("conn").textContent = "disconnected: reconnecting…";
    $("conn").className = "conn down";
    setTimeout(connect, 1000);
  };
  ws.onmessage = (msg) => {
    const m = JSON.parse(msg.data);
    if (m.type === "state") setState(m.state);
    else if (m.type === "frames") {
      for (const [name, seq] of Object.entries(m.seq)) { if (cams[name]) { cams[name].want = seq; refresh(name); } }
    } else if (m.type === "result") {
      const command = pendingCommands.get(m.id) || "command";
      pendingCommands.delete(m.id);
      showResult(command, m.ok, m.error);
    }
  };
}

document.addEventListener("keydown", (ev) => {
  if (ev.target === operatorInput || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
  const command = KEYS[ev.key.toLowerCase()];
  if (!command) return;
  ev.preventDefault();
  send(command);
});
for (const button of document.querySelectorAll("button[data-cmd]")) {
  button.addEventListener("click", () => { button.blur(); send(button.dataset.cmd); });
}
$("btn-estop").addEventListener("click", () => send("estop"));
setInterval(tick, 100);
connect();
