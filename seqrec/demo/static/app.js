// seqrec demo page: a Pointer Events drawing pad, live (debounced) recognition through
// POST /api/predict, and saving labelled samples through POST /api/save. No dependencies.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const el = {
    model: $("model"), undo: $("undo"), clear: $("clear"), file: $("file"), drop: $("drop"),
    preview: $("upload-preview"), hint: $("pad-hint"), prediction: $("prediction"),
    confidence: $("confidence"), latency: $("latency"), digits: $("digits"), meter: $("meter-fill"),
    error: $("error"), busy: $("busy"), strip: $("strip"), stripCaption: $("strip-caption"),
    form: $("save-form"), label: $("label"), save: $("save"), saveStatus: $("save-status"),
    saveDir: $("save-dir"), unsure: $("unsure"), unsureWhy: $("unsure-why"), modelHelp: $("model-help"),
  };
  const pctx = el.preview.getContext("2d");

  // The pen scales with the writing: its width is PEN_PER_HEIGHT of the ink's height so far
  // (MNIST strokes are ~1/8 of a digit), kept between these fractions of the canvas height.
  const PEN_PER_HEIGHT = 0.12;
  const PEN_MIN = 1 / 32;    // 5 px of a 168 px canvas: a dot stays visible
  const PEN_MAX = 1 / 12;    // 14 px of a 168 px canvas
  const PAD_W = 840;         // canvas pixels across; the height follows the layout's aspect
  const LOW_CONFIDENCE = 0.6; // below this the page says "not sure" instead of trusting the reading
  const PREVIEW_MAX_SIDE = 1680; // uploads are previewed from a copy decoded at most this large
  const DEBOUNCE_MS = 180; // wait this long after the last change ...
  const MAX_WAIT_MS = 600; // ... but read at least this often while drawing
  const LABEL_RE = /^[0-9]{1,32}$/;
  const PHONE = window.matchMedia("(max-width: 600px)");

  const state = {
    strokes: [],      // [{pts: [[x, y]], f: [pressure factor]}], replayed on undo and when the pen width changes
    pen: 0,           // current pen width in canvas pixels
    pointerId: null,  // the pointer drawing now; others are ignored
    upload: null,     // Blob of a dropped/uploaded image, shown instead of the pad
    version: 0,       // bumps on every change of the input
    seq: 0,           // request counter; only the latest answer is shown
    timer: null, firstPending: null, controller: null,
    result: null,     // {version, blob, data} of the answer on screen
    labelEdited: false,
    pointerTypes: new Set(), // mouse / pen / touch seen so far (shown as data-pointer-types)
    maxUpload: 5 * 1024 * 1024,
    maxPixels: 40e6,
    token: "",        // from GET /api/models; every POST sends it back
  };

  // ------------------------------------------------------------------ drawing
  function paintBackground() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
  }

  function paintSegment(a, b, w) {
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = w;
    if (a[0] === b[0] && a[1] === b[1]) {
      ctx.beginPath();
      ctx.arc(a[0], a[1], w / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }

  function paintStroke(s) {
    paintSegment(s.pts[0], s.pts[0], state.pen * s.f[0]);
    for (let i = 1; i < s.pts.length; i++) paintSegment(s.pts[i - 1], s.pts[i], state.pen * s.f[i]);
  }

  function penFor(strokes) {
    let lo = Infinity, hi = -Infinity;
    for (const s of strokes) for (const p of s.pts) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); }
    const h = hi >= lo ? hi - lo : 0;
    return Math.max(PEN_MIN * pad.height, Math.min(PEN_MAX * pad.height, PEN_PER_HEIGHT * h));
  }

  function redraw() {
    state.pen = penFor(state.strokes);
    pad.dataset.pen = state.pen.toFixed(1);
    paintBackground();
    state.strokes.forEach(paintStroke);
  }

  function fitPad() {
    // a taller pad on phones, so a finger has room; only resized while empty (strokes keep their pixels)
    const h = PHONE.matches ? PAD_W / 2.5 : PAD_W / 5;
    if (state.strokes.length || (pad.width === PAD_W && pad.height === h)) return;
    pad.width = el.preview.width = PAD_W;
    pad.height = el.preview.height = h;
    redraw();
  }

  function toPad(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
  }

  function pressureFor(e) {
    // a stylus reports real pressure; mouse and most touch screens report 0.5 or 0
    return e.pointerType === "pen" && e.pressure > 0 ? 0.6 + 0.8 * e.pressure : 1;
  }

  function changed(delay) {
    newVersion();
    updateControls();
    schedule(delay);
  }

  pad.addEventListener("pointerdown", (e) => {
    if (state.pointerId !== null) return;              // one pen at a time
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    if (state.upload) leaveUpload(false);
    if (!state.strokes.length) resetLabel(); // a new drawing: the old true number does not belong to it
    pad.setPointerCapture(e.pointerId);
    state.pointerId = e.pointerId;
    state.pointerTypes.add(e.pointerType);
    pad.dataset.pointerTypes = [...state.pointerTypes].sort().join(" ");
    const p = toPad(e);
    const s = { pts: [p], f: [pressureFor(e)] };
    state.strokes.push(s);
    if (penFor(state.strokes) !== state.pen) redraw();
    else paintSegment(p, p, state.pen * s.f[0]);
    changed();
  });

  pad.addEventListener("pointermove", (e) => {
    if (e.pointerId !== state.pointerId) return;
    e.preventDefault();
    const s = state.strokes[state.strokes.length - 1];
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const p = toPad(ev);
      const last = s.pts[s.pts.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) < 0.75) continue;
      s.pts.push(p);
      s.f.push(pressureFor(ev));
      if (Math.abs(penFor(state.strokes) - state.pen) > 0.25) redraw(); // the writing grew: repaint with a wider pen
      else paintSegment(last, p, state.pen * s.f[s.f.length - 1]);
    }
    changed();
  });

  function endStroke(e) {
    if (e.pointerId !== state.pointerId) return;
    state.pointerId = null;
    if (pad.hasPointerCapture(e.pointerId)) pad.releasePointerCapture(e.pointerId);
    changed(60);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("contextmenu", (e) => e.preventDefault());

  function undo() {
    if (state.upload) return leaveUpload(true);
    if (!state.strokes.length || state.pointerId !== null) return;
    state.strokes.pop();
    redraw();
    changed(0);
  }

  function resetLabel() {
    state.labelEdited = false;
    el.label.value = "";
  }

  function clearAll() {
    // empty at once: no pending or in-flight read may bring the old answer back after Clear
    state.upload = null;
    el.preview.hidden = true;
    state.strokes = [];
    state.pointerId = null;
    resetLabel();
    fitPad();
    redraw();
    newVersion();
    dropPendingReads();
    updateControls();
    showEmpty(state.version);
  }

  function newVersion() {
    state.version += 1;
    pad.dataset.version = String(state.version);
  }

  function dropPendingReads() {
    clearTimeout(state.timer);
    state.timer = state.firstPending = null;
    state.seq += 1;
    if (state.controller) state.controller.abort();
  }

  el.undo.addEventListener("click", undo);
  el.clear.addEventListener("click", clearAll);
  document.addEventListener("keydown", (e) => {
    if (e.target === el.label) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); undo(); }
    else if (e.key === "Escape") clearAll();
  });

  // ------------------------------------------------------------------ uploads
  function imageSize(file) {
    // width and height from the header: an <img> that is never shown is not decoded
    return new Promise((resolve) => {
      const url = URL.createObjectURL(file);
      const img = new Image();
      img.onload = () => { URL.revokeObjectURL(url); resolve([img.naturalWidth, img.naturalHeight]); };
      img.onerror = () => { URL.revokeObjectURL(url); resolve(null); };
      img.src = url;
    });
  }

  async function showPreview(file, size) {
    // a downscaled copy, decoded off the main thread: a huge photo cannot freeze the page
    el.preview.hidden = true;
    if (!size) return; // the browser cannot read it; the server says why, and no broken-image icon shows
    const s = Math.min(1, PREVIEW_MAX_SIDE / Math.max(size[0], size[1]));
    try {
      const bmp = await createImageBitmap(file, {
        resizeWidth: Math.max(1, Math.round(size[0] * s)), resizeHeight: Math.max(1, Math.round(size[1] * s)),
        resizeQuality: "medium",
      });
      if (state.upload !== file) return bmp.close(); // replaced meanwhile
      const k = Math.min(el.preview.width / bmp.width, el.preview.height / bmp.height);
      const w = bmp.width * k, h = bmp.height * k;
      pctx.fillStyle = "#111";
      pctx.fillRect(0, 0, el.preview.width, el.preview.height);
      pctx.drawImage(bmp, (el.preview.width - w) / 2, (el.preview.height - h) / 2, w, h);
      bmp.close();
      el.preview.hidden = false;
    } catch (err) { /* no preview; the reading still comes */ }
  }

  function refuseUpload(message) {
    // nothing old stays on screen next to the error, and no read is left pending to hide it
    state.upload = null;
    el.preview.hidden = true;
    state.strokes = [];
    resetLabel();
    fitPad();
    redraw();
    newVersion();
    dropPendingReads();
    showError(message, state.version);
  }

  async function useFile(file) {
    if (!file) return;
    const mb = (n) => (n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 1);
    if (file.size > state.maxUpload) {
      return refuseUpload(`That file is ${mb(file.size)} MB; the limit is ${mb(state.maxUpload)} MB.`);
    }
    const size = await imageSize(file);
    if (size && size[0] * size[1] > state.maxPixels) {
      return refuseUpload(`That image is ${size[0]} × ${size[1]} = ${(size[0] * size[1] / 1e6).toFixed(0)} ` +
        `megapixels; the limit is ${(state.maxPixels / 1e6).toFixed(0)} megapixels. Send a smaller copy.`);
    }
    state.upload = file;
    state.strokes = [];
    resetLabel();
    redraw();
    changed(0);
    showPreview(file, size);
  }

  function leaveUpload(repredict) {
    state.upload = null;
    el.preview.hidden = true;
    if (repredict) changed(0);
  }

  el.file.addEventListener("change", () => { useFile(el.file.files[0]); el.file.value = ""; });
  $("file-label").addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); el.file.click(); }
  });
  ["dragenter", "dragover"].forEach((t) => el.drop.addEventListener(t, (e) => {
    e.preventDefault();
    el.drop.classList.add("dragging");
  }));
  ["dragleave", "dragend"].forEach((t) => el.drop.addEventListener(t, () => el.drop.classList.remove("dragging")));
  el.drop.addEventListener("drop", (e) => {
    e.preventDefault();
    el.drop.classList.remove("dragging");
    const f = [...(e.dataTransfer?.files || [])].find((x) => x.type.startsWith("image/")) || e.dataTransfer?.files[0];
    useFile(f);
  });
  document.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) { e.preventDefault(); useFile(item.getAsFile()); }
  });

  // ------------------------------------------------------------------ recognition
  function schedule(delay = DEBOUNCE_MS) {
    clearTimeout(state.timer);
    const now = performance.now();
    if (state.firstPending === null) state.firstPending = now;
    const wait = Math.max(0, Math.min(delay, state.firstPending + MAX_WAIT_MS - now));
    state.timer = setTimeout(read, wait);
  }

  function padBlob() {
    return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  }

  async function read() {
    state.firstPending = null;
    state.timer = null;
    const seq = ++state.seq;
    const version = state.version;
    if (state.controller) state.controller.abort();
    if (!state.upload && !state.strokes.length) {
      showEmpty(version);
      return;
    }
    const blob = state.upload || (await padBlob());
    if (seq !== state.seq) return;
    const ctl = new AbortController();
    state.controller = ctl;
    setBusy(true);
    try {
      const res = await fetch(`/api/predict?model=${encodeURIComponent(el.model.value)}`, {
        method: "POST",
        body: blob,
        headers: postHeaders(blob),
        signal: ctl.signal,
      });
      const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
      if (seq !== state.seq) return;
      if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
      showResult(data, blob, version);
    } catch (err) {
      if (err.name === "AbortError" || seq !== state.seq) return;
      showError(err.message, version);
    } finally {
      if (seq === state.seq) setBusy(false);
    }
  }

  function postHeaders(blob) {
    return { "Content-Type": blob.type || "application/octet-stream", "X-Seqrec-Token": state.token };
  }

  function setBusy(on) {
    el.busy.hidden = !on;
    if (on) el.prediction.dataset.status = "busy";
  }

  function pct(x) {
    return x === null || x === undefined ? "–" : `${(100 * x).toFixed(x >= 0.995 && x < 1 ? 1 : 0)}%`;
  }

  function hue(x) { // red (0) to green (1)
    return Math.round(120 * Math.max(0, Math.min(1, x ?? 0)));
  }

  function showUnsure(why) {
    el.unsure.hidden = !why;
    el.unsureWhy.textContent = why || "";
    el.prediction.dataset.sure = why ? "0" : "1";
    el.prediction.classList.toggle("unsure", !!why);
    el.digits.classList.toggle("unsure", !!why);
  }

  function unsureReason(data) {
    const w = data.warning;
    if (w && w.message) return w.message.charAt(0).toUpperCase() + w.message.slice(1);
    if (!data.text) return "It read no digits here.";
    if (data.confidence < LOW_CONFIDENCE) {
      return `The confidence is only ${pct(data.confidence)}; check the number, or write it again more clearly.`;
    }
    return "";
  }

  function showResult(data, blob, version) {
    state.result = { version, blob, data };
    el.error.hidden = true;
    el.prediction.textContent = data.text || "∅";
    el.prediction.title = data.text ? "" : "the model read no digits";
    el.prediction.dataset.text = data.text;
    el.prediction.dataset.status = "done";
    el.prediction.dataset.version = String(version);
    el.prediction.dataset.warning = data.warning ? data.warning.code : "";
    el.prediction.classList.toggle("empty", !data.text);
    el.confidence.textContent = `confidence ${pct(data.confidence)}`;
    el.latency.textContent = `${data.model} · ${Math.round(data.elapsed_ms)} ms`;
    el.meter.style.width = `${Math.round(100 * data.confidence)}%`;
    el.meter.style.background = `hsl(${hue(data.confidence)} 70% 48%)`;
    const why = unsureReason(data);
    showUnsure(why);
    if (why) el.meter.style.background = `hsl(${Math.min(40, hue(data.confidence))} 70% 48%)`; // never green
    el.digits.replaceChildren(...data.digits.map((d, i) => {
      const chip = document.createElement("div");
      chip.className = "digit";
      chip.title = `digit ${i + 1}: ${d.digit}, confidence ${pct(d.confidence)}`;
      const big = document.createElement("span");
      big.className = "d";
      big.textContent = d.digit;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${Math.round(100 * (d.confidence ?? 0))}%`;
      fill.style.background = `hsl(${hue(d.confidence)} 70% 48%)`;
      bar.append(fill);
      const p = document.createElement("span");
      p.className = "p";
      p.textContent = pct(d.confidence);
      chip.append(big, bar, p);
      return chip;
    }));
    el.strip.src = data.strip;
    el.strip.hidden = false;
    const [h, w] = data.input_size;
    el.stripCaption.textContent =
      `${w} × ${h} px, white ink on black${data.inverted ? " (input was dark-on-light, so it was inverted)" : ""}: exactly what ${data.model} received.`;
    if (!state.labelEdited) el.label.value = data.text;
    updateControls();
  }

  function showEmpty(version) {
    state.result = null;
    setBusy(false);
    el.error.hidden = true;
    el.prediction.textContent = "\u00a0";
    el.prediction.dataset.text = "";
    el.prediction.dataset.status = "idle";
    el.prediction.dataset.version = String(version);
    el.prediction.classList.remove("empty");
    el.confidence.textContent = "Draw something to start.";
    el.latency.textContent = "";
    el.meter.style.width = "0";
    el.digits.replaceChildren();
    el.strip.hidden = true;
    el.stripCaption.textContent = "The preprocessed strip appears here.";
    if (!state.labelEdited) el.label.value = "";
    el.prediction.dataset.warning = "";
    showUnsure("");
    delete el.prediction.dataset.sure;
    updateControls();
  }

  function showError(message, version) {
    if (version !== undefined) {  // an answer for this input failed: do not leave an old one up
      showEmpty(version);
      el.confidence.textContent = "";
    }
    el.error.textContent = message;
    el.error.hidden = false;
    el.prediction.dataset.status = "error";
    if (version !== undefined) el.prediction.dataset.version = String(version);
  }

  // ------------------------------------------------------------------ saving
  function updateControls() {
    const hasInput = !!state.upload || state.strokes.length > 0;
    el.undo.disabled = !hasInput;
    el.clear.disabled = !hasInput;
    el.hint.hidden = hasInput;
    const valid = LABEL_RE.test(el.label.value.trim());
    el.label.classList.toggle("invalid", el.label.value !== "" && !valid);
    el.save.disabled = !(valid && state.result && state.result.version === state.version);
  }

  el.label.addEventListener("input", () => {
    state.labelEdited = el.label.value !== "";
    updateControls();
  });

  el.form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const label = el.label.value.trim();
    if (!LABEL_RE.test(label) || !state.result) return;
    el.save.disabled = true;
    el.saveStatus.classList.remove("bad");
    el.saveStatus.textContent = "Saving…";
    try {
      const q = new URLSearchParams({ model: el.model.value, label });
      const blob = state.result.blob;
      const res = await fetch(`/api/save?${q}`, { method: "POST", body: blob, headers: postHeaders(blob) });
      const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
      if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
      el.saveStatus.textContent = `Saved “${data.label}” as ${data.path} (${data.count} sample${data.count === 1 ? "" : "s"} so far). Ready for the next one.`;
      el.saveStatus.dataset.saved = data.filename;
      clearAll();
    } catch (err) {
      el.saveStatus.textContent = `Not saved: ${err.message}`;
      el.saveStatus.classList.add("bad");
      updateControls();
    }
  });

  // ------------------------------------------------------------------ start
  function showModelHelp() {
    for (const li of el.modelHelp.children) li.classList.toggle("current", li.dataset.model === el.model.value);
  }
  el.model.addEventListener("change", () => { showModelHelp(); changed(0); });
  PHONE.addEventListener("change", fitPad);
  ["dragenter", "dragover"].forEach((t) => el.drop.addEventListener(t, () => { el.hint.hidden = true; }));
  ["dragleave", "dragend", "drop"].forEach((t) => el.drop.addEventListener(t, () => updateControls()));

  async function init() {
    fitPad();
    redraw();
    showEmpty(state.version);
    try {
      const info = await (await fetch("/api/models")).json();
      for (const m of info.models) {
        const o = document.createElement("option");
        o.value = m.name;
        const kind = { pretrained: " (pretrained)", custom: "" }[m.source] ?? " (checkpoint)";
        o.textContent = m.name + kind + (m.available === false ? ` - ${m.note || "unavailable"}` : "");
        o.disabled = m.available === false;
        o.title = m.source;
        el.model.append(o);
      }
      el.model.value = info.default;
      showModelHelp();
      state.maxUpload = info.max_upload_bytes;
      state.maxPixels = info.max_pixels || state.maxPixels;
      state.token = info.token || "";
      el.saveDir.textContent = info.save_dir;
      document.body.dataset.ready = "1";
    } catch (err) {
      showError(`Cannot reach the seqrec server: ${err.message}`);
    }
  }
  init();
})();
