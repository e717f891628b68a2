// hierbert dashboard: polls /api/status every 2 s (and /api/result once for
// a finished job) and draws the jobs, the selected job's timeline, charts
// and result, the workers and the store. Plain DOM and inline SVG; every
// text from the coordinator goes in as a text node, never as markup.
"use strict";

const POLL_MS = 2000;
const SPARK_N = 40; // recent rates kept per worker (this page's own history)
const SVGNS = "http://www.w3.org/2000/svg";
const PHASES = ["QUEUED", "INGEST", "TRAIN", "EMBED", "HEAD"];
const FINAL = { DONE: 1, FAILED: 1, CANCELLED: 1 };

// ?job=N (or #job=N) selects a job; otherwise the running one, else the latest
const want = new URLSearchParams(location.search || location.hash.slice(1)).get("job");
const st = { status: null, results: {}, selected: want ? Number(want) : null, rates: {}, polls: 0 };

// ---------------------------------------------------------------- helpers
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const c of kids) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}
function s(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of kids) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const $ = (q) => document.querySelector(q);
function fill(el, ...kids) { el.replaceChildren(...kids.filter((k) => k !== null && k !== undefined)); }
const num = (v) => typeof v === "number" && isFinite(v);
const pct = (v) => (num(v) ? (100 * v).toFixed(2) + "%" : "-");
function dur(sec) {
  if (!num(sec) || sec < 0) return "-";
  if (sec < 60) return sec.toFixed(sec < 10 ? 1 : 0) + " s";
  if (sec < 3600) return Math.floor(sec / 60) + " min " + Math.round(sec % 60) + " s";
  return Math.floor(sec / 3600) + " h " + Math.round((sec % 3600) / 60) + " min";
}
function bytes(b) {
  if (!num(b)) return "-";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return b.toFixed(i ? 1 : 0) + " " + u[i];
}
function ago(unix) {
  if (!num(unix) || unix <= 0) return "-";
  const d = new Date(unix * 1000), s2 = Date.now() / 1000 - unix;
  const t = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return t + " (" + (s2 < 90 ? Math.max(0, Math.round(s2)) + " s" : dur(s2)) + " ago)";
}
function median(a) {
  const b = a.slice().sort((x, y) => x - y), m = b.length >> 1;
  return !b.length ? 0 : b.length % 2 ? b[m] : (b[m - 1] + b[m]) / 2;
}

// ----------------------------------------------------------------- charts
// a line chart of ys (null: no point) over epochs 1..n; id names its series
function chart(id, ys, opts) {
  const W = 300, H = 150, L = 38, R = 8, T = 8, B = 22;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, id: "svg-" + id, "data-points": 0 });
  const pts = ys.map((y, i) => [i + 1, y]).filter((p) => num(p[1]));
  svg.setAttribute("data-points", pts.length);
  if (!pts.length) {
    svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, opts.empty || "no epochs yet"));
    return svg;
  }
  let lo = opts.min !== undefined ? opts.min : Math.min(...pts.map((p) => p[1]));
  let hi = opts.max !== undefined ? opts.max : Math.max(...pts.map((p) => p[1]));
  if (opts.min === undefined) lo = Math.max(0, lo - 0.1 * (hi - lo || 1));
  if (hi - lo < 1e-9) hi = lo + 1;
  const n = Math.max(ys.length, 2);
  const x = (e) => L + ((e - 1) / (n - 1)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  for (let k = 0; k <= 4; k++) {
    const v = lo + (k / 4) * (hi - lo);
    svg.append(s("line", { class: "gridl", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.append(s("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, opts.fmt ? opts.fmt(v) : v.toFixed(2)));
  }
  svg.append(s("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  svg.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const step = Math.max(1, Math.ceil(ys.length / 10));
  for (let e = 1; e <= ys.length; e += step)
    svg.append(s("text", { x: x(e), y: H - B + 13, "text-anchor": "middle" }, e));
  svg.append(s("polyline", { points: pts.map((p) => x(p[0]) + "," + y(p[1])).join(" "), stroke: opts.color }));
  for (const p of pts) {
    const c = s("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, fill: opts.color, "data-series": id, "data-epoch": p[0], "data-value": p[1] });
    c.append(s("title", {}, `epoch ${p[0]}: ${opts.fmt ? opts.fmt(p[1]) : p[1].toFixed(4)}`));
    svg.append(c);
  }
  return svg;
}

function spark(vals) {
  const W = 110, H = 22;
  const svg = s("svg", { class: "spark", viewBox: `0 0 ${W} ${H}`, "data-points": vals.length });
  if (vals.length < 2) return svg;
  const hi = Math.max(...vals, 1e-9);
  const pts = vals.map((v, i) => (i / (SPARK_N - 1)) * W + "," + (H - 1 - (v / hi) * (H - 3))).join(" ");
  svg.append(s("polyline", { points: pts }));
  return svg;
}

// ------------------------------------------------------------------- jobs
function phaseText(j) {
  if (j.state === "TRAIN") return `epoch ${j.epoch}/${j.epochs} · step ${j.step}/${j.total_steps}`;
  if (j.state === "EMBED" && j.embed) return `${j.embed.docs_stored}/${j.embed.docs_total} documents`;
  if (j.state === "HEAD" && j.head) return `head epoch ${j.head.epoch}/${j.head.epochs}`;
  if (j.state === "DONE") return `${j.epochs} epochs · ${j.num_classes ?? "?"} classes`;
  return j.error || j.note || "";
}

function renderJobs(jobs) {
  const tb = $("#jobs tbody");
  $("#jobs-empty").hidden = jobs.length > 0;
  fill(tb, ...jobs.slice().reverse().map((j) => {
    const p = Math.max(0, Math.min(1, j.progress || 0));
    const rate = j.state === "TRAIN" || j.state === "EMBED" ? (num(j.samples_per_s) ? j.samples_per_s.toFixed(1) + " chunks/s" : "-") : "-";
    const tr = h("tr", { "data-job": j.id, class: j.id === st.selected ? "sel" : "" },
      h("td", { "data-col": "id" }, j.id),
      h("td", { "data-col": "name" }, j.name || ""),
      h("td", { "data-col": "state" }, h("span", { class: "badge st-" + j.state, "data-state": j.state }, j.state)),
      h("td", { "data-col": "phase" }, phaseText(j)),
      h("td", { class: "prog" }, h("div", { class: "bar" }, h("div", { style: `width:${(100 * p).toFixed(1)}%` }), h("span", {}, (100 * p).toFixed(0) + "%"))),
      h("td", { "data-col": "eta" }, FINAL[j.state] ? "-" : dur(j.eta_s)),
      h("td", { "data-col": "rate" }, rate),
      h("td", { "data-col": "submitted" }, ago(j.submitted)));
    tr.addEventListener("click", () => { st.selected = j.id; render(); });
    return tr;
  }));
}

function timeline(j) {
  const pt = j.phase_t || {}, now = Date.now() / 1000;
  const end = pt.DONE || pt.FAILED || pt.CANCELLED || now;
  const segs = [];
  for (let i = 1; i < PHASES.length; i++) {
    const ph = PHASES[i], t0 = pt[ph];
    if (!num(t0) || t0 <= 0) continue;
    const later = PHASES.slice(i + 1).map((q) => pt[q]).filter((t) => num(t) && t > 0);
    const t1 = later.length ? Math.min(...later) : end;
    segs.push({ ph, t0, t1: Math.max(t0, t1), running: !later.length && !FINAL[j.state] });
  }
  const el = $("#timeline");
  if (!segs.length) { fill(el, h("div", { class: "muted" }, "no phase times recorded")); return; }
  const total = segs.reduce((a, g) => a + (g.t1 - g.t0), 0) || 1;
  fill(el, ...segs.map((g) => h("div", {
    class: "ph-" + g.ph + (g.running ? " running" : ""), "data-phase": g.ph,
    style: `flex:${Math.max(0.02, (g.t1 - g.t0) / total)}`, title: `${g.ph}: ${dur(g.t1 - g.t0)}`,
  }, h("b", {}, g.ph), dur(g.t1 - g.t0))));
}

function renderJob(j) {
  $("#job-card").hidden = !j;
  if (!j) return;
  fill($("#job-title"), `Job ${j.id} · ${j.name || ""} · `, h("span", { class: "badge st-" + j.state }, j.state));
  const facts = [];
  if (num(j.train_docs)) facts.push(`${j.train_docs} train / ${j.val_docs} val${j.test_docs ? " / " + j.test_docs + " test" : ""} documents (${j.train_chunks} train chunks)`);
  if (num(j.num_classes)) facts.push(`${j.num_classes} classes`);
  if (j.parameters) facts.push(`${j.parameters.toLocaleString()} parameters, ${j.precision}`);
  if (j.optim) facts.push(`${j.optim.optimizer} lr ${j.optim.lr.toPrecision(2)} ${j.optim.schedule}`);
  if (j.reduce) facts.push(`reduce ${j.reduce}${j.train_rollbacks ? ", " + j.train_rollbacks + " rollbacks" : ""}`);
  if (j.state === "TRAIN") facts.push(`loss ${num(j.loss) ? j.loss.toFixed(4) : "-"} (this epoch)`, `${num(j.samples_per_s) ? j.samples_per_s.toFixed(1) : "-"} chunks/s`);
  if (num(j.train_s) && j.train_s > 0) facts.push(`TRAIN ${dur(j.train_s)}`);
  fill($("#job-facts"), facts.join(" · "));
  const note = $("#job-note");
  note.hidden = !(j.error || j.note);
  note.textContent = j.error || j.note || "";
  timeline(j);
  const r = st.results[j.id];
  const he = r && r.head_epochs ? r.head_epochs : null;
  const headLoss = he ? he.map((e) => e.loss) : (j.head ? j.head.loss : []);
  const headAcc = he ? he.map((e) => e.val_doc_accuracy) : (j.head ? j.head.val_doc_accuracy : []);
  const epochs = Array.from({ length: j.epochs || 0 }, (_, i) => i);
  const tl = epochs.map((i) => (j.train_loss || [])[i] ?? null);
  const va = epochs.map((i) => (j.val_chunk_accuracy || [])[i] ?? null);
  fill($("#chart-train-loss"), chart("train-loss", tl, { color: "#2563eb", fmt: (v) => v.toFixed(3) }));
  fill($("#chart-val-acc"), chart("val-acc", va, { color: "#16a34a", min: 0, max: 1, fmt: (v) => (100 * v).toFixed(0) + "%" }));
  fill($("#chart-head-loss"), chart("head-loss", headLoss, { color: "#0d9488", fmt: (v) => v.toFixed(3), empty: "HEAD not started" }));
  fill($("#chart-head-acc"), chart("head-acc", headAcc, { color: "#7c3aed", min: 0, max: 1, fmt: (v) => (100 * v).toFixed(0) + "%", empty: "HEAD not started" }));
  renderResult(j, r);
}

function renderResult(j, r) {
  const box = $("#result");
  box.hidden = !(r && r.state === "DONE" && r.metrics);
  if (box.hidden) return;
  const test = r.test && typeof r.test === "object" && r.test.docs > 0 ? r.test : null;
  const rows = [["chunk accuracy (chunk classifier)", "chunk_accuracy"], ["vote accuracy (mean chunk probs)", "vote_accuracy"],
    ["document accuracy (LSTM head)", "doc_accuracy"], ["baseline (TF-IDF + linear SVM)", "baseline_accuracy"]];
  fill($("#acc-table"),
    h("thead", {}, h("tr", {}, h("th", {}, `${r.val_docs} validation documents`), h("th", {}, "validation"), test ? h("th", {}, "test") : null)),
    h("tbody", {}, ...rows.map(([label, k]) => h("tr", {}, h("td", {}, label),
      h("td", { "data-acc": k + ":val" }, pct(r[k])), test ? h("td", { "data-acc": k + ":test" }, pct(test[k])) : null))));
  const warn = $("#acc-warn");
  warn.hidden = !(num(r.doc_accuracy) && num(r.baseline_accuracy) && r.doc_accuracy < r.baseline_accuracy);
  warn.textContent = "the LSTM head is below the bag-of-words baseline";
  const m = r.metrics, cls = m.classes || [];
  fill($("#class-table"),
    h("thead", {}, h("tr", {}, ...["class", "precision", "recall", "F1", "support"].map((t) => h("th", {}, t)))),
    h("tbody", {}, ...cls.map((c, i) => h("tr", { "data-class": i }, h("td", {}, c.name),
      h("td", {}, c.precision.toFixed(3)), h("td", {}, c.recall.toFixed(3)), h("td", { "data-f1": i }, c.f1.toFixed(3)), h("td", {}, c.support))),
    h("tr", {}, h("td", {}, h("b", {}, "macro")), h("td", {}, num(m.macro_precision) ? m.macro_precision.toFixed(3) : "-"),
      h("td", {}, num(m.macro_recall) ? m.macro_recall.toFixed(3) : "-"), h("td", {}, num(m.macro_f1) ? m.macro_f1.toFixed(3) : "-"), h("td", {}, m.total))));
  const conf = m.confusion || [];
  const head = h("tr", {}, h("th", {}), ...cls.map((c) => h("th", { title: c.name }, c.name)));
  const body = conf.map((row, t) => {
    const rs = row.reduce((a, b) => a + b, 0) || 1;
    return h("tr", {}, h("th", { class: "row", title: cls[t] ? cls[t].name : "" }, cls[t] ? cls[t].name : t),
      ...row.map((n, p) => {
        const f = n / rs, light = 96 - 56 * f; // row-normalised: the share of class t predicted as p
        const hue = t === p ? 212 : 0;
        return h("td", { "data-cm": t + "," + p, title: `true ${cls[t] ? cls[t].name : t}, predicted ${cls[p] ? cls[p].name : p}: ${n} (${(100 * f).toFixed(1)}%)`,
          style: `background:hsl(${hue},${n ? 70 : 0}%,${light}%);color:${light < 60 ? "#fff" : "#111"}` }, n);
      }));
  });
  fill($("#confusion"), h("thead", {}, head), h("tbody", {}, ...body));
}

// ---------------------------------------------------------------- workers
function renderWorkers(ws, jobs) {
  $("#workers-empty").hidden = ws.length > 0;
  const active = jobs.find((j) => !FINAL[j.state] && j.state !== "QUEUED");
  const busyRates = ws.filter((w) => w.busy && w.samples_per_s > 0).map((w) => w.samples_per_s);
  const med = median(busyRates);
  fill($("#workers tbody"), ...ws.map((w) => {
    const hist = st.rates[w.id] || [];
    const strag = busyRates.length > 1 && w.busy && w.samples_per_s < 0.75 * med;
    const hb = w.last_heartbeat_ms;
    return h("tr", { "data-worker": w.id },
      h("td", {}, w.id), h("td", {}, w.host), h("td", {}, w.threads),
      h("td", { class: hb > 3000 ? "late" : "" }, hb < 1000 ? hb + " ms ago" : (hb / 1000).toFixed(1) + " s ago"),
      h("td", {}, num(w.samples_per_s) && w.samples_per_s > 0 ? w.samples_per_s.toFixed(1) + "/s" : "-"),
      h("td", {}, w.busy ? (active ? `${active.state} job ${active.id}` : "busy") : "idle"),
      h("td", {}, spark(hist)),
      h("td", {}, strag ? h("span", { class: "strag", "data-straggler": "1", title: `below 75% of the median rate ${med.toFixed(1)}/s` }, "straggler") : ""));
  }));
}

function renderStore(co) {
  const used = num(co.disk_total_bytes) && num(co.disk_free_bytes) ? co.disk_total_bytes - co.disk_free_bytes : null;
  const kv = [["data directory", co.data_dir], ["size on disk", bytes(co.store_bytes)],
    ["documents", co.store_docs ?? "-"], ["embeddings", co.store_embeddings ?? "-"],
    ["free disk", num(co.disk_free_bytes) ? bytes(co.disk_free_bytes) + (used !== null ? ` of ${bytes(co.disk_total_bytes)}` : "") : "-"]];
  fill($("#store"), ...kv.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { "data-store": k }, v)]));
}

// ------------------------------------------------------------------- loop
function render() {
  const d = st.status;
  if (!d) return;
  const co = d.coordinator || {}, jobs = d.jobs || [], ws = d.workers || [];
  fill($("#coord"), `protocol ${co.protocol} · up ${dur(co.uptime_s)} · ${ws.length} worker${ws.length === 1 ? "" : "s"} · ${jobs.length} job${jobs.length === 1 ? "" : "s"}`);
  if (st.selected === null || !jobs.find((j) => j.id === st.selected)) {
    const live = jobs.filter((j) => !FINAL[j.state]);
    const pick = live.length ? live[0] : jobs[jobs.length - 1];
    st.selected = pick ? pick.id : null;
  }
  renderJobs(jobs);
  renderJob(jobs.find((j) => j.id === st.selected));
  renderWorkers(ws, jobs);
  renderStore(co);
  document.body.dataset.polls = String(st.polls);
  const sel = jobs.find((j) => j.id === st.selected);
  document.body.dataset.ready = sel && sel.state === "DONE" ? (st.results[sel.id] ? "result" : "status") : "status";
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(url + ": HTTP " + r.status);
  return r.json();
}

async function poll() {
  try {
    const d = await getJSON("/api/status");
    st.status = d;
    st.polls++;
    for (const w of d.workers || []) {
      const a = (st.rates[w.id] = st.rates[w.id] || []);
      a.push(w.samples_per_s || 0);
      if (a.length > SPARK_N) a.shift();
    }
    const sel = (d.jobs || []).find((j) => j.id === st.selected) || (d.jobs || []).slice(-1)[0];
    for (const j of d.jobs || [])
      if (j.state === "DONE" && !st.results[j.id] && (j === sel || j.id === st.selected)) st.results[j.id] = await getJSON("/api/result?job=" + j.id);
    const c = $("#conn");
    c.className = "conn";
    c.textContent = "updated " + new Date().toLocaleTimeString();
    render();
    if (st.selected !== null && !st.results[st.selected]) {
      const j = (d.jobs || []).find((x) => x.id === st.selected);
      if (j && j.state === "DONE") { st.results[j.id] = await getJSON("/api/result?job=" + j.id); render(); }
    }
  } catch (e) {
    const c = $("#conn");
    c.className = "conn down";
    c.textContent = "coordinator not answering (" + e.message + ")";
  }
  setTimeout(poll, POLL_MS);
}

poll();
