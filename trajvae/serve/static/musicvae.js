// MusicVAE page: sample, interpolate, attribute sliders, reconstruct; rolls drawn on canvases, played with Synth.
"use strict";

let INFO = null;
let samples = [];
let pathSeqs = [];

// A card: title, a piano roll, play and MIDI buttons. Returns {node, redraw(step)}.
function card(title, seq, { range, width = 300, height = 120 } = {}) {
  const canvas = el("canvas");
  const node = el("div", { class: "card" });
  const redraw = (step) => drawRoll(canvas, seq, { width, height, range, playStep: step });
  const play = el("button", { class: "small", title: "play", onclick: () => playCards([{ seq, node, redraw }]) }, "▶");
  const midi = el("button", { class: "small", title: "download MIDI", onclick: () => downloadMidi(seq, title) }, "MIDI");
  node.append(el("div", { class: "title" }, el("span", {}, title), play, midi), canvas);
  redraw();
  return { node, redraw, seq };
}

function playCards(cards) {
  Synth.play(cards.map((c) => c.seq), (i, step) => {
    cards.forEach((c, j) => { c.node.classList.toggle("playing", j === i); c.redraw(j === i ? step : undefined); });
  }, () => cards.forEach((c) => { c.node.classList.remove("playing"); c.redraw(); }));
}

async function downloadMidi(seq, name) {
  const response = await api("midi", { tokens: seq.tokens, name: name.replace(/\W+/g, "_") }, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const a = el("a", { href: url, download: `${name.replace(/\W+/g, "_")}.mid` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// The fields naming a melody for `name`: an uploaded file wins, then a chosen sample, then the held-out index.
function melodyFields(name, fileId, indexId, sampleSelect) {
  const file = document.getElementById(fileId).files[0];
  if (file) return { [name]: file };
  if (sampleSelect && sampleSelect.value !== "") return { [`${name}_tokens`]: samples[+sampleSelect.value].tokens };
  if (!INFO.held_out) throw new Error("this run has no held-out windows: choose a MIDI file");
  return { [`${name}_index`]: document.getElementById(indexId).value };
}

let sampleCards = [];
async function sample() {
  const out = await api("sample", { num: num.value, temperature: temperature.value, seed: seed.value });
  samples = out.sequences;
  const box = document.getElementById("samples");
  box.replaceChildren();
  const range = commonRange(samples);
  sampleCards = samples.map((s, i) => card(`sample ${i + 1} · T=${out.temperature}`, s, { range }));
  sampleCards.forEach((c) => box.append(c.node));
  const select = document.getElementById("attr-sample");
  select.replaceChildren(el("option", { value: "" }, "–"), ...samples.map((_, i) => el("option", { value: i }, `sample ${i + 1}`)));
  drawn("sample");
}

let pathCards = [];
async function interpolate() {
  let fields;
  try {
    fields = { ...melodyFields("start", "start-file", "start-index"), ...melodyFields("end", "end-file", "end-index"),
               steps: steps.value, temperature: document.getElementById("interp-temperature").value };
  } catch (e) { showError(e.message); return; }
  const out = await api("interpolate", fields);
  pathSeqs = out.path;
  const range = commonRange(pathSeqs);
  const width = Math.max(150, Math.min(260, Math.floor(1180 / Math.min(pathSeqs.length, 6)) - 26));
  pathCards = pathSeqs.map((s, i) => card(i === 0 ? "start" : i === pathSeqs.length - 1 ? "end" : `t=${out.t[i].toFixed(2)}`,
                                          s, { range, width, height: 100 }));
  document.getElementById("path").replaceChildren(...pathCards.map((c) => c.node));
  drawn("interpolate");
}

let attrTimer = null;
async function applyAttributes() {
  let fields;
  try { fields = melodyFields("melody", "attr-file", "attr-index", document.getElementById("attr-sample")); }
  catch (e) { showError(e.message); return; }
  for (const name of INFO.attributes) fields[`attr_${name}`] = document.getElementById(`attr-${slug(name)}`).value;
  const out = await api("attributes", fields);
  const range = commonRange([out.base, out.result]);
  const moved = Object.entries(out.amounts).filter(([, a]) => a).map(([n, a]) => `${a > 0 ? "+" : ""}${a} ${n}`).join(", ");
  document.getElementById("attr-result").replaceChildren(
      card("melody (decoded)", out.base, { range }).node, card(moved || "no change", out.result, { range }).node);
  drawn("attributes");
}

function slug(name) { return name.replace(/\W+/g, "-"); }

async function reconstruct() {
  let fields;
  try { fields = melodyFields("melody", "recon-file", "recon-index"); } catch (e) { showError(e.message); return; }
  const out = await api("reconstruct", fields);
  const range = commonRange([out.original, out.reconstruction]);
  document.getElementById("recon").replaceChildren(card("original", out.original, { range }).node,
      card(`reconstruction · ${(100 * out.accuracy).toFixed(0)}% of steps equal`, out.reconstruction, { range }).node);
  drawn("reconstruct");
}

function dropZone(zoneId, inputId) {
  const zone = document.getElementById(zoneId);
  const input = document.getElementById(inputId);
  if (!zone) return;
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) input.files = e.dataTransfer.files;
  });
}

const num = slider("num");
const temperature = slider("temperature");
const steps = slider("steps");
slider("interp-temperature");
const seed = document.getElementById("seed");

async function main() {
  INFO = await runInfo();
  document.getElementById("meta").textContent +=
      ` · ${INFO.encoding}, ${INFO.num_bars} bars, ${INFO.decoder} decoder, z=${INFO.z_size}`;
  document.getElementById("held-out-note").textContent = INFO.held_out_note;
  for (const id of ["start-index", "end-index", "attr-index", "recon-index"]) {
    const input = document.getElementById(id);
    input.max = Math.max(0, INFO.held_out - 1);
    input.value = Math.min(+input.value, Math.max(0, INFO.held_out - 1));
    input.disabled = !INFO.held_out;
  }
  const sliders = document.getElementById("attr-sliders");
  const [lo, hi] = INFO.limits.attribute;
  for (const name of INFO.attributes) {
    const id = `attr-${slug(name)}`;
    const input = el("input", { type: "range", id, min: lo, max: hi, step: 0.25, value: 0 });
    sliders.append(el("label", {}, name, input, el("output", { for: id }, "0")));
    slider(id, () => { clearTimeout(attrTimer); attrTimer = setTimeout(() => applyAttributes().catch(() => {}), 250); });
  }
  if (!INFO.attributes.length) sliders.append(el("span", { class: "note" }, "No attribute vectors: this run has too few held-out windows."));
  document.getElementById("attr-reset").onclick = () => {
    for (const name of INFO.attributes) { const s = document.getElementById(`attr-${slug(name)}`); s.value = 0; s.dispatchEvent(new Event("input")); }
  };
  for (const id of ["attr-index", "attr-sample", "attr-file"]) {
    document.getElementById(id).addEventListener("change", () => INFO.attributes.length && applyAttributes().catch(() => {}));
  }
  document.getElementById("sample").onclick = () => sample().catch(() => {});
  document.getElementById("play-all").onclick = () => sampleCards.length && playCards(sampleCards);
  document.getElementById("stop").onclick = () => Synth.stop();
  document.getElementById("interpolate").onclick = () => interpolate().catch(() => {});
  document.getElementById("play-path").onclick = () => pathCards.length && playCards(pathCards);
  document.getElementById("reconstruct").onclick = () => reconstruct().catch(() => {});
  dropZone("start-drop", "start-file");
  dropZone("end-drop", "end-file");
  dropZone("recon-drop", "recon-file");
  drawn("info");
}

main().catch(() => {});
