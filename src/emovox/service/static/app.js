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

const state = { labels: [], history: [], socket: null, audio: null, updates: 0 };
const $ = (id) => document.getElementById(id);

function emojiFor(label) {
  return EMOJI[String(label).toLowerCase()] || "🎙️";
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
  const bars = $(`${prefix}-bars`);
  const labels = result.labels || state.labels;
  if (bars.children.length !== labels.length) {
    bars.replaceChildren(...labels.map((label, i) => {
      const row = document.createElement("div");
      row.className = "bar";
      row.dataset.label = label;
      row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span>` +
        `<span class="value"></span>`;
      row.querySelector(".name").textContent = `${emojiFor(label)} ${label}`;
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
    item.append(`${emojiFor(label)} ${label}`);
    return item;
  }));
}

async function loadModel() {
  try {
    const response = await fetch("/v1/models");
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
  const response = await fetch(path, { method: "POST", body: form });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function renderTimeline(result) {
  const bar = $("timeline-bar");
  const end = result.segments.reduce((t, s) => Math.max(t, s.end), 0) || 1;
  bar.replaceChildren(...result.segments.map((segment) => {
    const piece = document.createElement("div");
    piece.className = "segment";
    piece.style.left = `${(100 * segment.start) / end}%`;
    piece.style.width = `${(100 * (segment.end - segment.start)) / end}%`;
    piece.style.background = colourFor(segment.class);
    piece.textContent = emojiFor(segment.label);
    piece.title = `${segment.start.toFixed(1)}-${segment.end.toFixed(1)} s: ${segment.label}`;
    return piece;
  }));
  $("timeline").hidden = false;
  renderLegend("timeline-legend");
}

async function handleFile(file) {
  showError("file-error", "");
  $("file-label").textContent = "…";
  try {
    renderResult("file", await postAudio("/v1/predict", file));
    if ($("timeline-toggle").checked) renderTimeline(await postAudio("/v1/timeline", file));
  } catch (error) {
    $("file-result").hidden = true;
    showError("file-error", `Could not read that file: ${error.message}`);
  }
}

function setUpFileInput() {
  const zone = $("drop-zone");
  $("file-input").addEventListener("change", (event) => {
    if (event.target.files.length) handleFile(event.target.files[0]);
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

function drawChart() {
  const canvas = $("live-chart");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  if (!state.history.length) return;
  const now = state.history[state.history.length - 1].t;
  const x = (t) => width - ((now - t) / CHART_SECONDS) * width;
  state.labels.forEach((_, k) => {
    context.beginPath();
    context.strokeStyle = colourFor(k);
    context.lineWidth = 2;
    state.history.forEach((point, i) => {
      const y = height - 4 - point.confidence[k] * (height - 8);
      if (i === 0) context.moveTo(x(point.t), y); else context.lineTo(x(point.t), y);
    });
    context.stroke();
  });
}

function onLiveMessage(event) {
  const message = JSON.parse(event.data);
  if (message.error) { showError("live-error", message.error); return; }
  if (message.final) {
    if (message.label) renderResult("live", message);
    $("live-status").textContent = `finished after ${message.t.toFixed(1)} s`;
    return;
  }
  state.updates += 1;
  document.body.dataset.liveUpdates = String(state.updates);
  state.history.push(message);
  while (state.history.length && message.t - state.history[0].t > CHART_SECONDS) state.history.shift();
  renderResult("live", { ...message, labels: state.labels });
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
  const socket = new WebSocket(`${scheme}://${location.host}/v1/stream`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    socket.send(JSON.stringify({ sample_rate: context.sampleRate, format: "pcm_f32le" }));
    collector.port.onmessage = (event) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(event.data.buffer);
    };
  };
  socket.onmessage = onLiveMessage;
  socket.onclose = (event) => {
    if (event.code !== 1000 && event.code !== 1005) showError("live-error", `stream closed: ${event.reason || event.code}`);
    stopAudio();
  };
  source.connect(collector);
  state.socket = socket;
  state.audio = { stream, context };
  state.history = [];
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
