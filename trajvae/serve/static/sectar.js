// SeCTAR page: an MPC episode on its task map (goals, path, predicted and planned segments), and one latent's
// decoded path beside its executed rollout.
"use strict";

const MAP = 520;
let INFO = null;
let episode = null;
let clicked = null;
let lastConsistency = null;
let animation = null;

// World -> canvas over bounds that hold the goals and paths (at least [-3, 3]^2), square.
function frame(points) {
  let lo = -3, hi = 3;
  for (const [x, y] of points) { lo = Math.min(lo, x, y); hi = Math.max(hi, x, y); }
  const pad = 0.04 * (hi - lo);
  lo -= pad; hi += pad;
  const f = (p) => [(p[0] - lo) / (hi - lo) * MAP, MAP - (p[1] - lo) / (hi - lo) * MAP];
  f.inverse = (px, py) => [lo + px / MAP * (hi - lo), lo + (MAP - py) / MAP * (hi - lo)];
  return f;
}

function path(ctx, f, points, colour, width, dash = []) {
  if (!points.length) return;
  ctx.strokeStyle = colour;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  points.forEach((p, i) => { const [x, y] = f(p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
  ctx.stroke();
  ctx.setLineDash([]);
}

function dot(ctx, f, p, colour, r) {
  const [x, y] = f(p);
  ctx.fillStyle = colour;
  ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill();
}

function star(ctx, f, p, r) {
  const [x, y] = f(p);
  ctx.beginPath();
  for (let k = 0; k < 10; k++) {
    const a = -Math.PI / 2 + k * Math.PI / 5, rr = k % 2 ? r * 0.45 : r;
    ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
  }
  ctx.closePath();
  ctx.fillStyle = "#f2b705"; ctx.fill();
  ctx.strokeStyle = "#5c4500"; ctx.lineWidth = 0.8; ctx.stroke();
}

function drawArena(ctx, f, map) {
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, MAP, MAP);
  ctx.strokeStyle = "#eef1f5";
  ctx.lineWidth = 1;
  const [l] = f.inverse(0, 0), [r] = f.inverse(MAP, 0);
  for (let v = Math.ceil(l); v <= Math.floor(r); v++) {
    const [px] = f([v, 0]), [, py] = f([0, v]);
    ctx.beginPath(); ctx.moveTo(px + 0.5, 0); ctx.lineTo(px + 0.5, MAP); ctx.moveTo(0, py + 0.5); ctx.lineTo(MAP, py + 0.5); ctx.stroke();
  }
  ctx.font = "10px system-ui, sans-serif";
  if (map.kind === "goals") {
    map.goals.forEach((g, i) => {
      if (map.paid.includes(i)) star(ctx, f, g, 8);
      else dot(ctx, f, g, "#c3c9d4", 3.5);
      const [x, y] = f(g);
      ctx.fillStyle = "#98a2b3";
      ctx.fillText(String(i + 1), x + 6, y - 5);
    });
  } else {
    map.goals.forEach((g, i) => {
      const [x, y] = f(g);
      ctx.fillStyle = PALETTE[(i + 1) % PALETTE.length] + "33";
      ctx.beginPath(); ctx.arc(x, y, Math.abs(f([0.8, 0])[0] - f([0, 0])[0]), 0, 2 * Math.PI); ctx.fill();
      ctx.fillStyle = "#475467";
      ctx.fillText(`goal ${i}`, x - 14, y + 3);
    });
  }
  ctx.strokeStyle = "#c9cfda";
  ctx.strokeRect(0.5, 0.5, MAP - 1, MAP - 1);
}

function drawObjects(ctx, f, objects, upto) {
  if (!objects) return;
  for (let k = 0; k < 4; k++) {
    const track = objects.slice(0, upto).map((o) => o[k]);
    path(ctx, f, track, PALETTE[(k + 1) % PALETTE.length], 3);
    dot(ctx, f, track[track.length - 1], PALETTE[(k + 1) % PALETTE.length], 5);
  }
}

function drawEpisode(segmentIndex, upto) {
  const canvas = document.getElementById("map");
  const ctx = sizeCanvas(canvas, MAP, MAP);
  const ep = episode;
  const all = [...ep.map.goals, ...ep.executed.xy, ...ep.segments.flatMap((s) => [...s.predicted.xy, ...s.plan.xy])];
  const f = frame(all);
  drawArena(ctx, f, ep.map);
  const end = upto === undefined ? ep.executed.xy.length : upto;
  ep.segments.forEach((s) => { if (s.start_step < end) path(ctx, f, s.predicted.xy, "#1f77b4", 1.2, [5, 3]); });
  const seg = ep.segments[segmentIndex];
  if (seg) path(ctx, f, seg.plan.xy, "#2ca02c", 1.6, [2, 3]);
  path(ctx, f, ep.executed.xy.slice(0, end), "#d62728", 2);
  drawObjects(ctx, f, ep.executed.objects, end);
  ep.reward_steps.filter((t) => t + 1 < end).forEach((t) => dot(ctx, f, ep.executed.xy[t + 1], "#d62728", 5));
  const [sx, sy] = f(ep.executed.xy[0]);
  ctx.fillStyle = "#111827"; ctx.fillRect(sx - 5, sy - 5, 10, 10);
  dot(ctx, f, ep.executed.xy[end - 1], "#d62728", 4);
  if (seg) { const [x, y] = f(seg.plan.xy[0]); ctx.strokeStyle = "#2ca02c"; ctx.lineWidth = 2; ctx.strokeRect(x - 6, y - 6, 12, 12); }
  drawn("episode");
}

async function replay() {
  stopAnimation();
  episode = await api("episode", { task: document.getElementById("task").value, seed: document.getElementById("seed").value });
  const seg = document.getElementById("segment");
  seg.max = episode.segments.length - 1;
  seg.value = 0;
  seg.dispatchEvent(new Event("input"));
  document.getElementById("episode-note").textContent =
      `task reward ${episode.reward} · ${episode.executed.xy.length - 1} steps · ${episode.segments.length} latents of ${episode.segment_len} steps`;
}

function stopAnimation() { if (animation) { clearInterval(animation); animation = null; } }

function animate() {
  if (!episode) return;
  stopAnimation();
  let t = 1;
  const total = episode.executed.xy.length;
  animation = setInterval(() => {
    t = Math.min(total, t + 2);
    const segment = Math.min(episode.segments.length - 1, Math.floor((t - 1) / episode.segment_len));
    document.getElementById("segment").value = segment;
    document.querySelector('output[for="segment"]').textContent = segment;
    drawEpisode(segment, t);
    if (t >= total) stopAnimation();
  }, 40);
}

function zValues() {
  return Array.from({ length: INFO.latent_dim }, (_, k) => +document.getElementById(`z${k}`).value);
}

async function consistency(fields) {
  const start = document.getElementById("start").value;
  const body = { task: document.getElementById("task").value, seed: document.getElementById("z-seed").value, start, ...fields };
  if (!fields.z_mode) { body.z_mode = "given"; body.z = zValues(); }
  if (start === "xy") {
    if (!clicked) { showError("click on the map below to choose the start position"); return; }
    [body.x, body.y] = clicked;
  }
  const out = await api("consistency", body);
  lastConsistency = out;
  out.z.forEach((v, k) => {
    const s = document.getElementById(`z${k}`);
    s.value = v;
    document.querySelector(`output[for="z${k}"]`).textContent = (+v).toFixed(2);
  });
  drawConsistency();
}

let consistencyFrame = null;
function drawConsistency() {
  const out = lastConsistency;
  const canvas = document.getElementById("consistency");
  const ctx = sizeCanvas(canvas, MAP, MAP);
  const f = frame([...out.map.goals, ...out.decoded.xy, ...out.executed.xy]);
  consistencyFrame = f;
  drawArena(ctx, f, out.map);
  path(ctx, f, out.decoded.xy, "#1f77b4", 2, [6, 4]);
  path(ctx, f, out.executed.xy, "#d62728", 2);
  out.decoded.xy.forEach((p) => dot(ctx, f, p, "#1f77b4", 2.5));
  out.executed.xy.forEach((p) => dot(ctx, f, p, "#d62728", 2.5));
  if (out.executed.objects) drawObjects(ctx, f, out.executed.objects, out.executed.objects.length);
  const [sx, sy] = f(out.start);
  ctx.fillStyle = "#111827"; ctx.fillRect(sx - 5, sy - 5, 10, 10);
  document.getElementById("gap").textContent = `mean distance between the two paths: ${out.mean_gap.toFixed(3)}`;
  drawn("consistency");
}

let zTimer = null;
async function main() {
  INFO = await runInfo();
  document.getElementById("meta").textContent +=
      ` · ${INFO.env}, z=${INFO.latent_dim}, T=${INFO.segment_len}, MPC K=${INFO.num_sequences}, H=${INFO.horizon}`;
  document.getElementById("task").replaceChildren(...INFO.tasks.map((t) => el("option", { value: t }, `task ${t}`)));
  document.getElementById("task").onchange = () => { replay().catch(() => {}); consistency({}).catch(() => {}); };
  const sliders = document.getElementById("z-sliders");
  const [lo, hi] = INFO.latent_range;
  for (let k = 0; k < INFO.latent_dim; k++) {
    const input = el("input", { type: "range", id: `z${k}`, min: lo, max: hi, step: 0.05, value: 0 });
    sliders.append(el("label", {}, `z${k}`, input, el("output", { for: `z${k}` }, "0")));
    slider(`z${k}`, () => { clearTimeout(zTimer); zTimer = setTimeout(() => consistency({}).catch(() => {}), 120); });
  }
  if (!INFO.clickable_start) document.querySelector('#start option[value="xy"]').disabled = true;
  document.getElementById("start-note").textContent = INFO.clickable_start ? "click the map to choose a start position" : "";
  document.getElementById("start").onchange = () => consistency({}).catch(() => {});
  document.getElementById("consistency").addEventListener("click", (e) => {
    if (!INFO.clickable_start || !consistencyFrame) return;
    const rect = e.target.getBoundingClientRect();
    clicked = consistencyFrame.inverse(e.clientX - rect.left, e.clientY - rect.top).map((v) => Math.max(-3, Math.min(3, v)));
    document.getElementById("start").value = "xy";
    consistency({}).catch(() => {});
  });
  document.getElementById("replay").onclick = () => replay().catch(() => {});
  document.getElementById("animate").onclick = animate;
  slider("segment", () => { stopAnimation(); if (episode) drawEpisode(+document.getElementById("segment").value); });
  document.getElementById("sample-z").onclick = () => consistency({ z_mode: "sample" }).catch(() => {});
  drawn("info");
  await consistency({ z_mode: "sample" });
}

main().catch(() => {});
