// Shared by every page: the run's name from the URL, JSON calls with errors shown on the page, small helpers.
"use strict";

const RUN = decodeURIComponent((location.pathname.match(/\/runs\/([^/]+)/) || [])[1] || "");

function showError(message) {
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = message;
  box.classList.toggle("shown", Boolean(message));
}

// POST (form fields / files) or GET (query) to /api/runs/RUN/ACTION; returns the JSON or throws after showing it.
async function api(action, fields = null, { method = "POST", raw = false } = {}) {
  let url = `/api/runs/${encodeURIComponent(RUN)}${action ? "/" + action : ""}`;
  const options = { method };
  if (fields && method === "GET") {
    url += "?" + new URLSearchParams(fields).toString();
  } else if (fields) {
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || value === null) continue;
      form.append(key, value instanceof Blob ? value : (typeof value === "object" ? JSON.stringify(value) : String(value)));
    }
    options.body = form;
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (e) {
    showError(`the server did not answer (${e.message})`);
    throw e;
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    showError(message);
    throw new Error(message);
  }
  showError("");
  return raw ? response : response.json();
}

async function runInfo() {
  const info = await api("", null, { method: "GET" });
  document.title = `${info.name} · trajvae explorer`;
  const meta = document.getElementById("meta");
  if (meta) meta.textContent = `${info.model} · run ${info.name} · step ${info.step}`;
  return info;
}

// A range input with its value shown in the <output> beside it.
function slider(id, onChange) {
  const input = document.getElementById(id);
  const out = document.querySelector(`output[for="${id}"]`);
  const show = () => { if (out) out.textContent = input.value; };
  input.addEventListener("input", () => { show(); if (onChange) onChange(); });
  show();
  return input;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// Mark a drawing as finished (the browser test waits for these).
function drawn(name) {
  const done = new Set((document.body.dataset.drawn || "").split(" ").filter(Boolean));
  done.add(name);
  document.body.dataset.drawn = [...done].join(" ");
}

// A canvas sized in CSS pixels, drawn at the device's pixel ratio.
function sizeCanvas(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

const PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d", "#ff9da6", "#79706e"];
