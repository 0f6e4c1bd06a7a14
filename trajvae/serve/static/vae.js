// VAE page: a scatter of test posterior means on a latent plane; the pointer's position is decoded to an image.
"use strict";

const SIZE = 460;
const IMAGE = 300;
let INFO = null;
let plane = null;
let pointer = null;
let inFlight = false;
let pending = null;

function planeFields() {
  const fields = { mode: document.getElementById("mode").value };
  if (fields.mode === "dims") {
    fields.i = document.getElementById("dim-i").value;
    fields.j = document.getElementById("dim-j").value;
  }
  return fields;
}

function toCanvas([x, y]) {
  const [x0, x1, y0, y1] = plane.extent;
  return [(x - x0) / (x1 - x0) * SIZE, SIZE - (y - y0) / (y1 - y0) * SIZE];
}

function fromCanvas(px, py) {
  const [x0, x1, y0, y1] = plane.extent;
  return [x0 + px / SIZE * (x1 - x0), y0 + (SIZE - py) / SIZE * (y1 - y0)];
}

function drawPlane() {
  const ctx = sizeCanvas(document.getElementById("plane"), SIZE, SIZE);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, SIZE, SIZE);
  const [x0, x1, y0, y1] = plane.extent;
  ctx.strokeStyle = "#eceff4";
  ctx.lineWidth = 1;
  ctx.fillStyle = "#98a2b3";
  ctx.font = "11px system-ui, sans-serif";
  for (let v = Math.ceil(x0); v <= Math.floor(x1); v++) {
    const [px] = toCanvas([v, 0]);
    ctx.beginPath(); ctx.moveTo(px + 0.5, 0); ctx.lineTo(px + 0.5, SIZE); ctx.stroke();
    ctx.fillText(String(v), px + 3, SIZE - 4);
  }
  for (let v = Math.ceil(y0); v <= Math.floor(y1); v++) {
    const [, py] = toCanvas([0, v]);
    ctx.beginPath(); ctx.moveTo(0, py + 0.5); ctx.lineTo(SIZE, py + 0.5); ctx.stroke();
    ctx.fillText(String(v), 3, py - 3);
  }
  ctx.strokeStyle = "#c5ccd8";
  const [ox, oy] = toCanvas([0, 0]);
  ctx.beginPath(); ctx.moveTo(ox + 0.5, 0); ctx.lineTo(ox + 0.5, SIZE); ctx.moveTo(0, oy + 0.5); ctx.lineTo(SIZE, oy + 0.5); ctx.stroke();
  plane.points.forEach((p, k) => {
    const [px, py] = toCanvas(p);
    ctx.fillStyle = PALETTE[plane.labels[k] % PALETTE.length];
    ctx.globalAlpha = 0.75;
    ctx.beginPath(); ctx.arc(px, py, 3, 0, 2 * Math.PI); ctx.fill();
  });
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#475467";
  ctx.fillText(plane.axes[0] + " →", SIZE - 52, oy - 6);
  ctx.save(); ctx.translate(ox + 12, 14); ctx.fillText("↑ " + plane.axes[1], 0, 0); ctx.restore();
  if (pointer) {
    const [px, py] = toCanvas(pointer);
    ctx.strokeStyle = "#111827";
    ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI); ctx.moveTo(px - 11, py); ctx.lineTo(px + 11, py);
    ctx.moveTo(px, py - 11); ctx.lineTo(px, py + 11); ctx.stroke();
  }
  ctx.strokeStyle = "#c9cfda";
  ctx.strokeRect(0.5, 0.5, SIZE - 1, SIZE - 1);
}

function drawImage(image) {
  const ctx = sizeCanvas(document.getElementById("image"), IMAGE, IMAGE);
  const h = image.length, w = image[0].length;
  const cell = IMAGE / Math.max(h, w);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const v = Math.round(255 * (1 - Math.min(1, Math.max(0, image[r][c]))));
      ctx.fillStyle = `rgb(${v},${v},${v})`;
      ctx.fillRect(c * cell, r * cell, Math.ceil(cell), Math.ceil(cell));
    }
  }
  ctx.strokeStyle = "#c9cfda";
  ctx.strokeRect(0.5, 0.5, IMAGE - 1, IMAGE - 1);
}

// At most one decode in flight; the latest pointer position wins.
async function decodeAt(point) {
  pending = point;
  if (inFlight) return;
  inFlight = true;
  try {
    while (pending) {
      const [x, y] = pending;
      pending = null;
      const out = await api("decode", { ...planeFields(), x: x.toFixed(4), y: y.toFixed(4) }, { method: "GET" });
      drawImage(out.image);
      document.getElementById("zread").textContent = "z = [" + out.z.map((v) => v.toFixed(2)).join(", ") + "]";
      drawn("decode");
    }
  } catch (e) { /* shown by api() */ } finally { inFlight = false; }
}

async function loadPlane() {
  plane = await api("plane", planeFields(), { method: "GET" });
  pointer = pointer || [0, 0];
  drawPlane();
  drawn("plane");
  await decodeAt(pointer);
}

async function main() {
  INFO = await runInfo();
  drawn("info");
  document.getElementById("meta").textContent += ` · z=${INFO.latent_dim}, ${INFO.likelihood} decoder`;
  document.getElementById("data-note").textContent = `scatter: posterior means of ${INFO.data}, coloured by class`;
  const mode = document.getElementById("mode");
  const names = { latent: "the latent itself (z = 2)", pca: "top-2 PCA plane of posterior means", dims: "two latent dimensions" };
  mode.replaceChildren(...INFO.modes.map((m) => el("option", { value: m }, names[m])));
  for (const [id, v] of [["dim-i", 0], ["dim-j", 1]]) {
    const select = document.getElementById(id);
    select.replaceChildren(...Array.from({ length: INFO.latent_dim }, (_, k) => el("option", { value: k }, `z${k}`)));
    select.value = v;
    select.onchange = () => loadPlane().catch(() => {});
  }
  const showDims = () => { document.getElementById("dims-label").style.display = mode.value === "dims" ? "" : "none"; };
  mode.onchange = () => { showDims(); loadPlane().catch(() => {}); };
  showDims();
  document.getElementById("mode-label").style.display = INFO.modes.length > 1 ? "" : "none";
  const canvas = document.getElementById("plane");
  canvas.addEventListener("mousemove", (e) => {
    const rect = canvas.getBoundingClientRect();
    pointer = fromCanvas(e.clientX - rect.left, e.clientY - rect.top);
    drawPlane();
    decodeAt(pointer);
  });
  await loadPlane();
  const classes = [...new Set(plane.labels)].sort((a, b) => a - b);
  document.getElementById("legend").replaceChildren(...classes.map((c) =>
      el("span", {}, el("i", { style: `background:${PALETTE[c % PALETTE.length]}` }), String(c))));
}

main().catch(() => {});
