"use strict";
// The emovox page: a file -> its emotion (and timeline); the microphone -> live emotions over
// the service's WebSocket. Plain JS, no build step, no network beyond this service.

const EMOJI = {
  neutral: "😐", calm: "😌", happy: "😊", sad: "😢", angry: "😠", fearful: "😨", fear: "😨",
  disgust: "🤢", surprised: "😲", surprise: "😲", boredom: "🥱", anxiety: "😰", excited: "🤩",
  frustrated: "😤", contempt: "😒", other: "❔",
};
const COLOURS = {
  neutral: "#7d8590", calm: "#5fb3a1", happy: "#f2b134", sad: "#4a78c2", angry: "#d64541",
  fearful: "#8e5cc4", fear: "#8e5cc4", disgust: "#6a994e", surprised: "#e07b39", surprise: "#e07b39",
  boredom: "#a0826d",
};
const PALETTE = ["#3aa6c9", "#c2577f", "#9c6b30", "#2f4858", "#b5a642"];  // labels without a colour of their own
const CHART_SECONDS = 10;
const SHOW_AFTER_SECONDS = 0.75;  // how long a new smoothed top emotion leads before the page shows it

const state = { labels: [], history: [], socket: null, audio: null, updates: 0, shown: null, raw: null,
  changes: 0, rawChanges: 0, file: null };
const $ = (id) => document.getElementById(id);

function emojiFor(label) {
  return EMOJI[String(label).toLowerCase()] || "🎙️";
}

// An emoji in its own span, so the colour emoji font applies to it and not to the text beside it.
function glyph(label) {
  const span = document.createElement("span");
  span.className = "glyph";
  span.textContent = emojiFor(label);
  return span;
}

function colourFor(index) {
  const label = String(state.labels[index] || "").toLowerCase();
  return COLOURS[label] || PALETTE[index % PALETTE.length];
}

function showError(id, message) {
  const element = $(id);
  element.textContent = message;
  element.hidden = !message;
}

function renderResult(prefix, result) {
  $(`${prefix}-result`).hidden = false;
  $(`${prefix}-emoji`).textContent = emojiFor(result.label);
  $(`${prefix}-label`).textContent = result.label;
  $(`${prefix}-uncertain`).hidden = !result.uncertain;
  const bars = $(`${prefix}-bars`);
  const labels = result.labels || state.labels;
  if (bars.children.length !== labels.length) {
    bars.replaceChildren(...labels.map((label, i) => {
      const row = document.createElement("div");
      row.className = "bar";
      row.dataset.label = label;
      row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span>` +
        `<span class="value"></span>`;
      row.querySelector(".name").append(glyph(label), ` ${label}`);
      row.querySelector(".fill").style.background = colourFor(i);
      return row;
    }));
  }
  result.confidence.forEach((p, i) => {
    const row = bars.children[i];
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".value").textContent = `${(100 * p).toFixed(1)}%`;
  });
}

function renderLegend(id) {
  $(id).replaceChildren(...state.labels.map((label, i) => {
    const item = document.createElement("span");
    item.innerHTML = `<span class="swatch" style="background:${colourFor(i)}"></span>`;
    item.append(glyph(label), ` ${label}`);
    return item;
  }));
}

// A service started with an access token is opened as /#token=...: the fragment never leaves
// the browser; the page sends the token with each request and offers it to the live stream.
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const authorised = token ? { Authorization: `Bearer ${token}` } : {};

// Why the service closed a live stream, in plain words (close codes of the WebSocket protocol).
const CLOSED = {
  1003: "the service could not use what the page sent",
  1008: "the stream was closed: audio arrived far slower than real time (a slow or interrupted connection?)",
  1009: "the page sent more audio at once than the service takes",
  1011: "the service met an error; try again",
  1013: "the service is busy: it is serving as many live streams as it can. Try again in a moment.",
  4401: "this service needs its access token: add #token=... to the page's address",
  4403: "this page is not allowed to use the service",
};

async function loadModel() {
  try {
    const response = await fetch("/v1/models", { headers: authorised });
    if (!response.ok) throw new Error((await response.json()).error || `HTTP ${response.status}`);
    const info = await response.json();
    state.labels = info.labels;
    const uar = info.metrics && info.metrics.uar_mean;
    $("model-info").textContent = `model: ${info.model} · ${info.labels.length} emotions` +
      (uar ? ` · speaker-independent UAR ${(100 * uar).toFixed(1)}%` : "");
    renderLegend("live-legend");
  } catch (error) {
    $("model-info").textContent = `cannot reach the service: ${error}`;
  }
}

// -- a recording ------------------------------------------------------------------------------

async function postAudio(path, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const response = await fetch(path, { method: "POST", body: form, headers: authorised });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

// A step of 1, 2 or 5 x 10^k seconds giving at most about eight ticks over `seconds`.
function tickStep(seconds) {
  const rough = seconds / 8;
  const power = 10 ** Math.floor(Math.log10(rough || 1));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough);
}

function renderAxis(element, seconds) {
  const step = tickStep(seconds);
  const ticks = [];
  for (let t = 0; t <= seconds + 1e-9; t += step) {
    const tick = document.createElement("span");
    tick.className = "tick";
    tick.style.left = `${(100 * t) / seconds}%`;
    tick.textContent = `${Number(t.toFixed(3))} s`;
    ticks.push(tick);
  }
  element.replaceChildren(...ticks);
}

function segmentsBar(bar, segments, end) {
  bar.replaceChildren(...segments.map((segment) => {
    const piece = document.createElement("div");
    piece.className = "segment glyph";
    piece.style.left = `${(100 * segment.start) / end}%`;
    piece.style.width = `${(100 * (segment.end - segment.start)) / end}%`;
    piece.style.background = colourFor(segment.class);
    piece.textContent = emojiFor(segment.label);
    const who = segment.speaker ? `${segment.speaker}, ` : "";
    piece.title = `${who}${segment.start.toFixed(1)}-${segment.end.toFixed(1)} s: ${segment.label}`;
    return piece;
  }));
}

// One lane per speaker (their segments on the shared time axis, headed by their seconds of
// speech and emotion shares), or one bar for the whole recording when speakers were not asked.
function renderTimeline(result) {
  const end = Math.max(result.duration || 0, ...result.segments.map((s) => s.end)) || 1;
  const speakers = result.speakers || {};
  const lanes = Object.entries(speakers).map(([speaker, summary]) => {
    const lane = document.createElement("div");
    lane.className = "lane";
    const name = document.createElement("div");
    name.className = "lane-name";
    const shares = Object.entries(summary.emotions).filter(([, share]) => share > 0)
      .sort((a, b) => b[1] - a[1]).map(([label, share]) => `${label} ${Math.round(100 * share)} %`);
    const title = document.createElement("b");
    title.textContent = speaker;
    name.append(title, ` · ${summary.seconds.toFixed(1)} s · ${shares.join(", ")}`);
    const bar = document.createElement("div");
    bar.className = "timeline-bar";
    segmentsBar(bar, result.segments.filter((s) => s.speaker === speaker), end);
    lane.append(name, bar);
    return lane;
  });
  $("timeline-lanes").replaceChildren(...lanes);
  $("timeline-bar").hidden = lanes.length > 0;
  segmentsBar($("timeline-bar"), lanes.length ? [] : result.segments, end);
  renderAxis($("timeline-axis"), end);
  $("timeline").hidden = false;
  renderLegend("timeline-legend");
}

function timelinePath() {
  const speakers = $("speakers-choice").value;
  return speakers ? `/v1/timeline?speakers=${encodeURIComponent(speakers)}` : "/v1/timeline";
}

// The timeline of the file on screen, when asked for (the toggle, or a choice of speakers).
async function showTimeline(file) {
  $("timeline").hidden = true;
  if ($("timeline-toggle").checked || $("speakers-choice").value) renderTimeline(await postAudio(timelinePath(), file));
}

async function handleFile(file) {
  state.file = file;
  showError("file-error", "");
  $("file-result").hidden = true;  // nothing of the previous file stays on screen
  $("timeline").hidden = true;
  $("file-name").textContent = "";
  try {
    const result = await postAudio("/v1/predict", file);
    $("file-name").textContent = `Result for ${file.name}`;
    renderResult("file", result);
    await showTimeline(file);
  } catch (error) {
    $("file-result").hidden = true;
    $("timeline").hidden = true;
    showError("file-error", `Could not read ${file.name}: ${error.message}`);
  }
}

function setUpFileInput() {
  const zone = $("drop-zone");
  $("file-input").addEventListener("change", (event) => {
    if (event.target.files.length) handleFile(event.target.files[0]);
  });
  $("speakers-choice").addEventListener("change", () => {  // the same file's timeline again, not its emotion
    if (!state.file || $("file-result").hidden) return;
    showTimeline(state.file).catch((error) => showError("file-error", `Could not read ${state.file.name}: ${error.message}`));
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer.files.length) handleFile(event.dataTransfer.files[0]);
  });
}

// -- live microphone --------------------------------------------------------------------------

const MARGIN = { left: 44, right: 20, top: 12, bottom: 24 };

function drawChart() {
  const canvas = $("live-chart");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  context.clearRect(0, 0, width, height);
  const now = state.history.length ? state.history[state.history.length - 1].t : CHART_SECONDS;
  const start = Math.max(0, now - CHART_SECONDS);
  const x = (t) => MARGIN.left + ((t - start) / CHART_SECONDS) * plotWidth;
  const y = (p) => MARGIN.top + (1 - p) * plotHeight;
  // axes: probability on the left, stream time below
  context.font = "12px system-ui, sans-serif";
  context.fillStyle = "#66707d";
  context.strokeStyle = "#d7dbe2";
  context.lineWidth = 1;
  context.textAlign = "right";
  context.textBaseline = "middle";
  [0, 0.5, 1].forEach((p) => {
    context.beginPath();
    context.moveTo(MARGIN.left, y(p));
    context.lineTo(width - MARGIN.right, y(p));
    context.stroke();
    context.fillText(`${100 * p}%`, MARGIN.left - 6, y(p));
  });
  context.textAlign = "center";
  context.textBaseline = "top";
  let ticks = 0;
  for (let t = Math.ceil(start / 2) * 2; t <= start + CHART_SECONDS + 1e-9; t += 2) {
    context.fillText(`${t} s`, x(t), height - MARGIN.bottom + 6);
    ticks += 1;
  }
  canvas.dataset.timeTicks = String(ticks);
  state.labels.forEach((_, k) => {
    context.beginPath();
    context.strokeStyle = colourFor(k);
    context.lineWidth = 2;
    state.history.forEach((point, i) => {
      if (i === 0) context.moveTo(x(point.t), y(point.confidence[k]));
      else context.lineTo(x(point.t), y(point.confidence[k]));
    });
    context.stroke();
  });
}

function onLiveMessage(event) {
  const message = JSON.parse(event.data);
  if (message.error) { showError("live-error", message.error); return; }
  if (message.final) {
    if (message.label) renderResult("live", message);
    $("live-held").textContent = "";
    $("live-status").textContent = `finished after ${message.t.toFixed(1)} s`;
    return;
  }
  const smoothed = message.smoothed || message;  // a moving average over about a second
  // a new top emotion is shown once it has held SHOW_AFTER_SECONDS, so a brief lead does not flicker
  const settled = state.shown === null || smoothed.label === state.shown
    || message.held === undefined || message.held >= SHOW_AFTER_SECONDS;
  state.updates += 1;
  if (state.raw !== null && message.label !== state.raw) state.rawChanges += 1;
  state.raw = message.label;
  if (settled) {
    if (state.shown !== null && smoothed.label !== state.shown) state.changes += 1;
    state.shown = smoothed.label;
    renderResult("live", { ...smoothed, labels: state.labels });
    $("live-held").textContent = message.held === undefined ? "" : `for ${message.held.toFixed(1)} s`;
  }
  Object.assign(document.body.dataset, {
    liveUpdates: String(state.updates), liveChanges: String(state.changes), liveRawChanges: String(state.rawChanges),
  });
  state.history.push({ t: message.t, confidence: smoothed.confidence });
  while (state.history.length && message.t - state.history[0].t > CHART_SECONDS) state.history.shift();
  $("live-status").textContent = `listening · ${message.t.toFixed(1)} s`;
  drawChart();
}

async function startRecording() {
  showError("live-error", "");
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/recorder-worklet.js");
  const source = context.createMediaStreamSource(stream);
  const collector = new AudioWorkletNode(context, "pcm-collector");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const protocols = token ? ["emovox", `emovox.token.${token}`] : ["emovox"];
  const socket = new WebSocket(`${scheme}://${location.host}/v1/stream`, protocols);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    socket.send(JSON.stringify({ sample_rate: context.sampleRate, format: "pcm_f32le" }));
    collector.port.onmessage = (event) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(event.data.buffer);
    };
  };
  socket.onmessage = onLiveMessage;
  socket.onclose = (event) => {
    if (event.code !== 1000 && event.code !== 1005) {
      showError("live-error", CLOSED[event.code] || `stream closed: ${event.reason || event.code}`);
    }
    stopAudio();
  };
  source.connect(collector);
  state.socket = socket;
  state.audio = { stream, context };
  Object.assign(state, { history: [], shown: null, raw: null, changes: 0, rawChanges: 0 });
  $("record-button").textContent = "Stop";
  $("record-button").classList.add("recording");
  $("live-status").textContent = "listening…";
}

function stopAudio() {
  if (state.audio) {
    state.audio.stream.getTracks().forEach((track) => track.stop());
    state.audio.context.close();
    state.audio = null;
  }
  $("record-button").textContent = "Record";
  $("record-button").classList.remove("recording");
}

function stopRecording() {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify({ event: "end" }));
  stopAudio();
}

$("record-button").addEventListener("click", async () => {
  if (state.audio) { stopRecording(); return; }
  try {
    await startRecording();
  } catch (error) {
    showError("live-error", `Microphone unavailable: ${error.message}`);
    stopAudio();
  }
});

setUpFileInput();
loadModel();
drawChart();

// With a token the card is fetched with it (a plain link cannot send it), then shown as text.
$("card-link").addEventListener("click", async (event) => {
  if (!token) return;
  event.preventDefault();
  const response = await fetch("/v1/models/card", { headers: authorised });
  const text = await response.text();
  window.open(URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" })), "_blank");
});
