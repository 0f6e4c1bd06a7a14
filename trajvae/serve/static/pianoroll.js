// Piano rolls on a canvas: pitched notes on a pitch axis, drums on one row per General MIDI drum class.
"use strict";

const DRUM_ROWS = [
  ["kick", [35, 36]], ["snare", [37, 38, 39, 40]], ["closed hat", [22, 42, 44]], ["open hat", [26, 46]],
  ["low tom", [41, 43, 45, 58]], ["mid tom", [47, 48]], ["high tom", [50]], ["crash", [49, 52, 55, 57]],
  ["ride", [51, 53, 59]],
];
const INSTRUMENT_COLOURS = ["#2f6fde", "#e07b22", "#3a9d4f", "#b0459e"];

function drumRow(pitch) {
  const i = DRUM_ROWS.findIndex(([, pitches]) => pitches.includes(pitch));
  return i < 0 ? DRUM_ROWS.length - 1 : i;
}

// seq: {notes, steps, steps_per_bar}; options: {width, height, playStep, range: [lo, hi]}.
function drawRoll(canvas, seq, options = {}) {
  const width = options.width || 320;
  const height = options.height || 130;
  const ctx = sizeCanvas(canvas, width, height);
  const pitched = seq.notes.filter((n) => !n.drum);
  const drums = seq.notes.filter((n) => n.drum);
  const drumHeight = drums.length ? (pitched.length ? Math.round(height * 0.4) : height) : 0;
  const pitchHeight = height - drumHeight;
  const stepW = width / seq.steps;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);

  let lo = 60, hi = 72;
  if (options.range) [lo, hi] = options.range;
  else if (pitched.length) {
    lo = Math.min(...pitched.map((n) => n.pitch)) - 2;
    hi = Math.max(...pitched.map((n) => n.pitch)) + 2;
    if (hi - lo < 14) { const mid = (hi + lo) / 2; lo = Math.floor(mid - 7); hi = Math.ceil(mid + 7); }
  }
  const rowH = pitchHeight / (hi - lo + 1);
  if (pitchHeight > 0) {
    for (let p = lo; p <= hi; p++) {
      if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) {
        ctx.fillStyle = "#f1f3f7";
        ctx.fillRect(0, pitchHeight - (p - lo + 1) * rowH, width, rowH);
      }
    }
  }
  if (drumHeight) {
    ctx.fillStyle = "#f7f5ef";
    ctx.fillRect(0, pitchHeight, width, drumHeight);
  }
  for (let s = 0; s <= seq.steps; s++) {
    const bar = s % seq.steps_per_bar === 0;
    if (!bar && s % 4) continue;
    ctx.strokeStyle = bar ? "#9aa3b2" : "#e1e5ec";
    ctx.lineWidth = bar ? 1 : 0.6;
    ctx.beginPath();
    ctx.moveTo(Math.round(s * stepW) + 0.5, 0);
    ctx.lineTo(Math.round(s * stepW) + 0.5, height);
    ctx.stroke();
  }
  for (const n of pitched) {
    const y = pitchHeight - (n.pitch - lo + 1) * rowH;
    ctx.fillStyle = INSTRUMENT_COLOURS[n.instrument % INSTRUMENT_COLOURS.length];
    ctx.globalAlpha = 0.45 + 0.55 * n.velocity / 127;
    ctx.fillRect(n.start * stepW + 0.5, y + 0.5, Math.max(2, (n.end - n.start) * stepW - 1), Math.max(2, rowH - 1));
  }
  ctx.globalAlpha = 1;
  const drumRowH = drumHeight / DRUM_ROWS.length;
  for (const n of drums) {
    const y = pitchHeight + drumRow(n.pitch) * drumRowH;
    ctx.fillStyle = "#7a5c2e";
    ctx.fillRect(n.start * stepW + 0.5, y + 0.5, Math.max(2, stepW - 1), Math.max(2, drumRowH - 1));
  }
  if (options.playStep !== undefined && options.playStep !== null) {
    ctx.strokeStyle = "#e5484d";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(options.playStep * stepW, 0);
    ctx.lineTo(options.playStep * stepW, height);
    ctx.stroke();
  }
  ctx.strokeStyle = "#c9cfda";
  ctx.lineWidth = 1;
  ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
}

// A shared pitch range for rolls drawn side by side.
function commonRange(seqs) {
  const pitches = seqs.flatMap((s) => s.notes.filter((n) => !n.drum).map((n) => n.pitch));
  if (!pitches.length) return undefined;
  let lo = Math.min(...pitches) - 2, hi = Math.max(...pitches) + 2;
  if (hi - lo < 14) { const mid = (hi + lo) / 2; lo = Math.floor(mid - 7); hi = Math.ceil(mid + 7); }
  return [lo, hi];
}
