// A small WebAudio synth: triangle voices for pitched notes, noise and click voices for General MIDI drums.
"use strict";

const Synth = (() => {
  let ctx = null;
  let noise = null;
  let current = null;

  function ensure() {
    if (!ctx) {
      ctx = new (window.AudioContext || window.webkitAudioContext)();
      noise = ctx.createBuffer(1, ctx.sampleRate, ctx.sampleRate);
      const data = noise.getChannelData(0);
      for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
    }
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }

  function envelope(out, t, peak, decay) {
    const g = ctx.createGain();
    g.gain.setValueAtTime(0.0001, t);
    g.gain.exponentialRampToValueAtTime(peak, t + 0.004);
    g.gain.exponentialRampToValueAtTime(0.0001, t + decay);
    g.connect(out);
    return g;
  }

  function noiseHit(out, t, peak, decay, type, freq) {
    const src = ctx.createBufferSource();
    src.buffer = noise;
    const filter = ctx.createBiquadFilter();
    filter.type = type;
    filter.frequency.value = freq;
    src.connect(filter);
    filter.connect(envelope(out, t, peak, decay));
    src.start(t);
    src.stop(t + decay + 0.02);
  }

  function tone(out, t, freq, endFreq, peak, decay, type = "sine") {
    const osc = ctx.createOscillator();
    osc.type = type;
    osc.frequency.setValueAtTime(freq, t);
    if (endFreq) osc.frequency.exponentialRampToValueAtTime(endFreq, t + decay * 0.6);
    osc.connect(envelope(out, t, peak, decay));
    osc.start(t);
    osc.stop(t + decay + 0.02);
  }

  // General MIDI drum pitch -> a voice.
  function drum(out, pitch, t, velocity) {
    const v = 0.25 + 0.75 * velocity / 127;
    if (pitch === 35 || pitch === 36) tone(out, t, 150, 45, 0.9 * v, 0.28);
    else if ([37, 38, 39, 40].includes(pitch)) { noiseHit(out, t, 0.5 * v, 0.16, "highpass", 1200); tone(out, t, 190, 0, 0.25 * v, 0.08, "triangle"); }
    else if ([42, 44, 22].includes(pitch)) noiseHit(out, t, 0.22 * v, 0.05, "highpass", 7000);
    else if ([46, 26].includes(pitch)) noiseHit(out, t, 0.2 * v, 0.3, "highpass", 6500);
    else if ([41, 43, 45, 47, 48, 50, 58].includes(pitch)) tone(out, t, 80 + (pitch - 41) * 12, 60 + (pitch - 41) * 8, 0.6 * v, 0.25);
    else if ([49, 52, 55, 57].includes(pitch)) noiseHit(out, t, 0.18 * v, 0.9, "highpass", 5000);
    else if ([51, 53, 59].includes(pitch)) noiseHit(out, t, 0.15 * v, 0.45, "bandpass", 8000);
    else tone(out, t, 1800, 0, 0.2 * v, 0.02, "square");  // a click for anything else
  }

  function note(out, pitch, t, duration, velocity) {
    const freq = 440 * Math.pow(2, (pitch - 69) / 12);
    const peak = 0.05 + 0.2 * velocity / 127;
    const osc = ctx.createOscillator();
    osc.type = "triangle";
    osc.frequency.value = freq;
    const g = ctx.createGain();
    const end = t + Math.max(duration, 0.06);
    g.gain.setValueAtTime(0.0001, t);
    g.gain.exponentialRampToValueAtTime(peak, t + 0.01);
    g.gain.exponentialRampToValueAtTime(peak * 0.55, t + 0.12);
    g.gain.setValueAtTime(peak * 0.55, end - 0.03);
    g.gain.exponentialRampToValueAtTime(0.0001, end + 0.08);
    osc.connect(g);
    g.connect(out);
    osc.start(t);
    osc.stop(end + 0.1);
  }

  function stop() {
    if (current) {
      current.master.gain.setTargetAtTime(0, ctx.currentTime, 0.02);
      cancelAnimationFrame(current.frame);
      if (current.onEnd) current.onEnd();
      current = null;
    }
  }

  // Play sequences back to back; onStep(sequenceIndex, step) follows the playhead (null at the end).
  function play(sequences, onStep, onEnd) {
    stop();
    ensure();
    const master = ctx.createGain();
    master.gain.value = 0.8;
    master.connect(ctx.destination);
    const start = ctx.currentTime + 0.08;
    let offset = 0;
    const spans = [];
    for (const seq of sequences) {
      const dt = 60 / (seq.qpm * seq.steps_per_quarter);
      for (const n of seq.notes) {
        const t = start + offset + n.start * dt;
        if (n.drum) drum(master, n.pitch, t, n.velocity);
        else note(master, n.pitch, t, (n.end - n.start) * dt, n.velocity);
      }
      spans.push({ begin: offset, dt, steps: seq.steps });
      offset += seq.steps * dt;
    }
    const playing = { master, onEnd, frame: 0 };
    current = playing;
    const tick = () => {
      if (current !== playing) return;
      const now = ctx.currentTime - start;
      if (now >= offset) { if (onStep) onStep(null, null); current = null; if (onEnd) onEnd(); return; }
      const i = Math.max(0, spans.findIndex((s) => now < s.begin + s.steps * s.dt));
      if (onStep) onStep(i, Math.max(0, (now - spans[i].begin) / spans[i].dt));
      playing.frame = requestAnimationFrame(tick);
    };
    playing.frame = requestAnimationFrame(tick);
  }

  return { play, stop };
})();
