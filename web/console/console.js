// The metaids analyst's console: recent alerts (filters by class and host), alerts over time,
// the flows behind an alert, labelling selected flows (POST /v1/adapt), the model's versions
// and history with rollback. Plain JavaScript, no build step, no third-party code; every value
// from the service is put on the page as text (textContent), never as HTML.
"use strict";

const state = { token: sessionStorage.getItem("metaids-token") || "", alerts: [], selected: new Set(), model: null, chosen: null };
const palette = ["#2458c6", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6cab", "#e07a5f", "#3d405b", "#81b29a", "#f2cc8f"];
const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

class AuthError extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) throw new AuthError((body && body.error) || "the token was refused");
  if (!response.ok) throw new Error((body && body.error) || ("HTTP " + response.status));
  return body;
}

function classColor(name) {
  if (!state.model) return palette[0];
  if (name === "unknown") return "#555";
  const i = state.model.classes.findIndex((c) => c.name === name);
  return palette[(i < 0 ? 0 : i) % palette.length];
}

function showLogin(message) {
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

function forgetToken(message) {
  state.token = "";
  sessionStorage.removeItem("metaids-token");
  showLogin(message);
}

async function loadModel() {
  const model = await api("/v1/model");
  state.model = model;
  $("model-version").textContent = model.version;
  const classes = $("classes");
  classes.replaceChildren();
  for (const c of model.classes) {
    const tag = el("span", { class: "tag", text: c.name, title: `${c.category}, severity ${c.severity}, ${c.support} support flows` });
    tag.style.background = classColor(c.name);
    classes.append(tag, " ");
  }
  const select = $("filter-class");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "any" }));
  for (const name of model.classes.slice(1).map((c) => c.name).concat(["unknown"]))
    select.append(el("option", { value: name, text: name }));
  select.value = chosen;
  const versions = $("versions").tBodies[0];
  versions.replaceChildren();
  for (const v of model.versions) {
    const row = el("tr", { class: v.current ? "current" : "" },
      el("td", { text: String(v.seq) }),
      el("td", { class: "mono", text: v.version }),
      el("td", { text: v.created.replace("T", " ").replace("Z", "") }),
      el("td", { text: v.event + (v.label ? ": " + v.label : "") }));
    const action = el("td");
    if (v.current) action.append(el("span", { class: "muted", text: "in use" }));
    else if (v.pruned) action.append(el("span", { class: "muted", text: "removed" }));
    else action.append(el("button", { type: "button", class: "small", text: "Roll back", "data-version": v.version, onclick: () => rollback(v.version) }));
    row.append(action);
    versions.append(row);
  }
  const history = $("history");
  history.replaceChildren();
  for (const h of model.history.slice().reverse()) {
    const what = [h.event, h.label ? `"${h.label}"` : "", h.flows ? `${h.flows} flows` : "", h.k ? `K=${h.k}` : "", h.source && typeof h.source === "string" ? h.source : ""].filter(Boolean).join(" ");
    history.append(el("li", { text: `${(h.time || "").replace("T", " ").replace("Z", "")} ${what}` }));
  }
}

function alertRow(a) {
  const box = el("input", { type: "checkbox", "data-id": String(a.flow_id), title: "select for labelling" });
  box.checked = state.selected.has(a.flow_id);
  box.addEventListener("click", (e) => {
    e.stopPropagation();
    if (box.checked) state.selected.add(a.flow_id); else state.selected.delete(a.flow_id);
    updateSelection();
  });
  const tag = el("span", { class: "tag", text: a.class });
  tag.style.background = classColor(a.class);
  const time = (a.timestamp || a.scored_at || "").replace("T", " ").slice(0, 23);
  const row = el("tr", { "data-id": String(a.flow_id) },
    el("td", {}, box), el("td", { class: "mono", text: time }), el("td", {}, tag),
    el("td", { class: "mono", text: a.src_ip ? `${a.src_ip}:${a.src_port}` : "—" }),
    el("td", { class: "mono", text: a.dest_ip ? `${a.dest_ip}:${a.dest_port}` : "—" }),
    el("td", { text: a.proto || "" }),
    el("td", { text: Number(a.score).toFixed(2) }),
    el("td", { class: "mono", text: a.version }));
  if (state.chosen === a.flow_id) row.classList.add("chosen");
  row.addEventListener("click", () => showFlow(a));
  return row;
}

async function loadAlerts() {
  const params = new URLSearchParams({ limit: "2000" });
  if ($("filter-class").value) params.set("class", $("filter-class").value);
  if ($("filter-host").value.trim()) params.set("host", $("filter-host").value.trim());
  const body = await api("/v1/alerts?" + params);
  state.alerts = body.alerts;
  const tbody = $("alerts").tBodies[0];
  tbody.replaceChildren(...state.alerts.slice(0, 500).map(alertRow));
  $("alert-count").textContent = `(${state.alerts.length}${state.alerts.length > 500 ? ", newest 500 shown" : ""})`;
  drawChart();
  updateSelection();
}

function updateSelection() {
  $("selected-count").textContent = String(state.selected.size);
  $("label-selected").disabled = state.selected.size === 0;
}

// Alerts per time bucket (by the flow's own time), stacked by class.
function drawChart() {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 1100, height = canvas.clientHeight || 180;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const points = state.alerts.map((a) => ({ t: Date.parse((a.timestamp || a.scored_at).replace("+0000", "Z")), c: a.class })).filter((p) => !isNaN(p.t));
  const legend = $("legend");
  legend.replaceChildren();
  g.fillStyle = "#6b7280";
  g.font = "12px system-ui, sans-serif";
  if (points.length === 0) {
    g.fillText("no alerts yet", 10, 20);
    return;
  }
  const t0 = Math.min(...points.map((p) => p.t)), t1 = Math.max(...points.map((p) => p.t));
  const buckets = 60, span = Math.max(t1 - t0, 1000), step = span / buckets;
  const classes = [...new Set(points.map((p) => p.c))];
  const counts = Array.from({ length: buckets }, () => Object.fromEntries(classes.map((c) => [c, 0])));
  for (const p of points) counts[Math.min(buckets - 1, Math.floor((p.t - t0) / step))][p.c]++;
  const max = Math.max(...counts.map((b) => Object.values(b).reduce((x, y) => x + y, 0)));
  const left = 40, bottom = height - 20, plot = bottom - 10, barWidth = (width - left - 10) / buckets;
  g.strokeStyle = "#e3e6eb";
  g.beginPath(); g.moveTo(left, bottom + 0.5); g.lineTo(width - 10, bottom + 0.5); g.stroke();
  g.fillText(String(max), 4, bottom - plot + 10);
  g.fillText("0", 4, bottom);
  counts.forEach((bucket, i) => {
    let y = bottom;
    for (const c of classes) {
      const h = (bucket[c] / max) * plot;
      if (h <= 0) continue;
      g.fillStyle = classColor(c);
      g.fillRect(left + i * barWidth + 1, y - h, Math.max(barWidth - 2, 1), h);
      y -= h;
    }
  });
  g.fillStyle = "#6b7280";
  const fmt = (t) => new Date(t).toISOString().replace("T", " ").slice(0, 19);
  g.fillText(fmt(t0), left, height - 4);
  const end = fmt(t0 + span);
  g.fillText(end, width - 10 - g.measureText(end).width, height - 4);
  for (const c of classes) {
    const n = points.filter((p) => p.c === c).length;
    const item = el("span", { text: `${c} (${n})` });
    item.style.setProperty("--swatch", classColor(c));
    legend.append(item);
  }
}

function fields(pairs) {
  const dl = el("dl", { class: "fields" });
  for (const [k, v] of pairs) if (v !== undefined && v !== null && v !== "") dl.append(el("dt", { text: k }), el("dd", { text: String(v) }));
  return dl;
}

async function showFlow(a) {
  state.chosen = a.flow_id;
  for (const tr of $("alerts").tBodies[0].rows) tr.classList.toggle("chosen", tr.dataset.id === String(a.flow_id));
  const detail = $("detail");
  detail.replaceChildren(el("span", { class: "muted", text: "loading…" }));
  try {
    const flow = await api("/v1/flows/" + a.flow_id);
    const host = flow.src_ip || "";
    const related = host ? (await api("/v1/flows?" + new URLSearchParams({ host, limit: "50" }))).flows : [];
    const features = el("details", {}, el("summary", { text: `${Object.keys(flow.features).length} features` }),
      fields(Object.entries(flow.features).map(([k, v]) => [k, Number(v).toPrecision(6)])));
    const table = el("table", {}, el("thead", {}, el("tr", {}, ...["flow", "class", "source", "destination", "score"].map((h) => el("th", { text: h })))));
    const body = el("tbody");
    for (const f of related)
      body.append(el("tr", {}, el("td", { class: "mono", text: String(f.flow_id) }), el("td", { text: f.class }),
        el("td", { class: "mono", text: `${f.src_ip}:${f.src_port}` }), el("td", { class: "mono", text: `${f.dest_ip}:${f.dest_port}` }),
        el("td", { text: Number(f.score).toFixed(2) })));
    table.append(body);
    detail.replaceChildren(
      fields([["flow id", flow.flow_id], ["class", flow.class], ["most likely", flow.predicted], ["score", flow.score],
              ["probability", flow.probability], ["novelty", flow.novelty], ["time", flow.timestamp],
              ["source", flow.src_ip ? `${flow.src_ip}:${flow.src_port}` : ""], ["destination", flow.dest_ip ? `${flow.dest_ip}:${flow.dest_port}` : ""],
              ["protocol", flow.proto], ["scored by", flow.version], ["CSV line", flow.line]]),
      features,
      el("h3", { text: host ? `Recent flows of ${host} (${related.length})` : "No addresses" }),
      el("div", { class: "scroll short" }, table));
  } catch (e) {
    handle(e, detail);
  }
}

async function labelSelected() {
  const label = $("label").value.trim();
  const result = $("adapt-result");
  result.className = "note";
  if (!label) { result.textContent = "Give the class a name first."; return; }
  const ids = [...state.selected];
  result.textContent = `Teaching the model "${label}" from ${ids.length} flows…`;
  try {
    const r = await api("/v1/adapt", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ label, flow_ids: ids }) });
    result.className = "note ok";
    result.textContent = `New version ${r.version} (from ${r.previous}): ${r.added.length ? "new class" : "more flows of"} "${label}", ${r.flows} flows, ${r.elapsed_ms.toFixed(1)} ms.`;
    state.selected.clear();
    await refresh();
  } catch (e) {
    handle(e, result);
  }
}

async function rollback(version) {
  const result = $("adapt-result");
  try {
    const r = await api("/v1/rollback", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ version }) });
    result.className = "note ok";
    result.textContent = `Rolled back to ${r.version} (was ${r.previous}).`;
    await refresh();
  } catch (e) {
    handle(e, result);
  }
}

function handle(error, where) {
  if (error instanceof AuthError) { forgetToken(error.message); return; }
  where.className = "note error";
  where.textContent = error.message;
}

async function refresh() {
  try {
    const health = await api("/healthz");
    $("status").textContent = `model ${health.version} · ${health.flows_scored} flows scored`;
    await loadModel();
    await loadAlerts();
  } catch (e) {
    handle(e, $("adapt-result"));
  }
}

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    try {
      await api("/v1/alerts?limit=1");  // checks the token before keeping it
      sessionStorage.setItem("metaids-token", state.token);
      $("token").value = "";
      await start();
    } catch (err) {
      forgetToken(err.message);
    }
  });
  $("logout").addEventListener("click", () => forgetToken(""));
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); loadAlerts().catch((err) => handle(err, $("adapt-result"))); });
  $("refresh").addEventListener("click", () => refresh());
  $("label-selected").addEventListener("click", () => labelSelected());
  $("select-all").addEventListener("change", (e) => {
    for (const box of $("alerts").querySelectorAll("tbody input[type=checkbox]")) {
      box.checked = e.target.checked;
      const id = Number(box.dataset.id);
      if (box.checked) state.selected.add(id); else state.selected.delete(id);
    }
    updateSelection();
  });
  window.addEventListener("resize", () => drawChart());
  setInterval(() => { if (state.token && !document.hidden) loadAlerts().catch(() => {}); }, 10000);
  if (state.token) start(); else showLogin("");
});
