// The status page: the job list (polled every second) and one job's page (live over
// server-sent events). Data is only ever put in the page as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const STATES = { done: "#43a047", pending: "#1e88e5", undelivered: "#bdbdbd", dead: "#e53935" };
let taskFilter = "";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function row(cells) {
  const tr = el("tr");
  for (const cell of cells) {
    const td = el("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell ?? "";
    tr.appendChild(td);
  }
  return tr;
}

const size = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : n >= 1e3 ? (n / 1e3).toFixed(1) + " kB" : n + " B");
const when = (ms) => (ms ? new Date(ms).toLocaleTimeString() : "");
const ago = (ms) => (ms === null || ms === undefined ? "" : (ms / 1000).toFixed(1) + " s");
const pct = (a, b) => (b > 0 ? Math.min(100, (100 * a) / b) : 0);

function live(text, cls) {
  const node = $("live");
  node.textContent = text;
  node.className = "live " + (cls || "");
}

function progressBar(job) {
  const bar = el("div", null, "bar");
  const fill = el("div");
  fill.style.width = pct(job.tasks_done + job.tasks_failed, job.tasks_total) + "%";
  bar.appendChild(fill);
  return bar;
}

// --- the job list ------------------------------------------------------------------

async function showJobs() {
  $("jobs-view").hidden = false;
  for (;;) {
    try {
      const answer = await fetch("/jobs");
      const body = await answer.json();
      if (!answer.ok) throw new Error(body.detail);
      const rows = body.jobs.map((job) => {
        const link = el("a", job.id);
        link.href = "/?job=" + encodeURIComponent(job.id);
        return row([link, el("span", job.state, "state " + job.state), progressBar(job),
          `${job.tasks_done}/${job.tasks_total}` + (job.tasks_failed ? ` (${job.tasks_failed} failed)` : ""),
          `${size(job.bytes_done)} of ${size(job.bytes_total)}`, when(job.started_ms), when(job.finished_ms)]);
      });
      $("jobs").replaceChildren(...rows);
      $("no-jobs").hidden = rows.length > 0;
      live("live", "ok");
    } catch (err) {
      live("cannot read the jobs: " + err.message + "; retrying", "bad");
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// --- one job ---------------------------------------------------------------------------

function renderDetail(d) {
  const job = d.job;
  $("job-id").textContent = job.id;
  $("job-state").textContent = job.state;
  $("job-state").className = "state " + job.state;
  document.title = `${job.id} ${job.state} - wordcount`;
  const total = Math.max(job.tasks_total, 1);
  const parts = { done: job.tasks_done, dead: job.tasks_failed, pending: d.pending || 0 };
  const segments = Object.entries(parts).map(([state, n]) => {
    const seg = el("div", null, state);
    seg.style.width = pct(n, total) + "%";
    return seg;
  });
  $("task-bar").replaceChildren(...segments);
  $("task-text").textContent = `${job.tasks_done + job.tasks_failed} of ${job.tasks_total} tasks`;
  $("byte-fill").style.width = pct(job.bytes_done, job.bytes_total) + "%";
  $("byte-text").textContent = `${size(job.bytes_done)} of ${size(job.bytes_total)}`;
  const s = d.settings;
  $("settings").textContent = `split on ${s.split_on}${s.lower ? ", lower-cased" : ""}; ` +
    `claim after ${s.claim_timeout_ms} ms idle; dead after ${s.max_attempts} deliveries; ` +
    `started ${when(job.started_ms)}` + (job.finished_ms ? `, finished ${when(job.finished_ms)}` : "");
  renderStates({ undelivered: d.undelivered ?? 0, pending: d.pending ?? 0, done: job.tasks_done, dead: d.dead });
  $("workers").replaceChildren(...d.workers.map((w) => row([w.name, w.pending, ago(w.idle_ms),
    w.tasks_done, size(w.bytes_done), w.bytes_per_s === null ? "" : size(w.bytes_per_s) + "/s"])));
  $("timeline").replaceChildren(...d.timeline.slice(-200).map((e) => {
    const li = el("li", null, "ev-" + e.kind);
    li.append(el("span", new Date(e.t_ms).toLocaleTimeString(), "t"), e.text);
    return li;
  }));
}

function renderStates(counts) {
  const spans = [["", "all", null]].concat(Object.keys(STATES).map((s) => [s, `${s} ${counts[s]}`, STATES[s]]));
  $("task-states").replaceChildren(...spans.map(([state, label, color]) => {
    const span = el("span", null, state === taskFilter ? "on" : "");
    if (color) { const dot = el("span", null, "dot"); dot.style.background = color; span.appendChild(dot); }
    span.append(label);
    span.dataset.state = state;
    span.onclick = () => { taskFilter = state; refreshTables(currentJob); };
    return span;
  }));
}

async function refreshTables(id) {
  const q = taskFilter ? `&state=${taskFilter}` : "";
  const [tasks, top] = await Promise.all([
    fetch(`/jobs/${encodeURIComponent(id)}/tasks?limit=15${q}`).then((r) => r.json()),
    fetch(`/jobs/${encodeURIComponent(id)}/top?k=20`).then((r) => r.json()),
  ]);
  for (const span of $("task-states").children) span.className = span.dataset.state === taskFilter ? "on" : "";
  $("tasks").replaceChildren(...(tasks.tasks || []).map((t) => {
    const name = t.path.split("/").pop() + (t.end >= 0 ? ` [${t.start}:${t.end}]` : "");
    const state = el("span", t.state);
    state.style.color = STATES[t.state];
    if (t.error) state.title = t.error;
    return row([t.index, name, t.size, state, t.owner || t.error, ago(t.idle_ms), t.deliveries]);
  }));
  const words = top.words || [];
  const most = words.length ? words[0].count : 1;
  $("top").replaceChildren(...words.map((w) => {
    const bar = el("span", null, "wordbar");
    bar.style.width = (8 * w.count / most).toFixed(2) + "em";
    return row([w.word, el("span", w.count), bar]);
  }));
}

let currentJob = "";

function showJob(id) {
  currentJob = id;
  $("job-view").hidden = false;
  $("job-id").textContent = id;
  let lastTables = 0;
  const source = new EventSource(`/jobs/${encodeURIComponent(id)}/events`);
  source.addEventListener("progress", (ev) => {
    renderDetail(JSON.parse(ev.data));
    live("live", "ok");
    if (Date.now() - lastTables > 400) { lastTables = Date.now(); refreshTables(id); }
  });
  source.addEventListener("unreachable", (ev) => live("Redis unreachable: " + JSON.parse(ev.data).detail, "bad"));
  source.addEventListener("gone", () => { source.close(); live(`no job ${id} in this Redis`, "bad"); });
  source.addEventListener("end", (ev) => {
    source.close();
    refreshTables(id);
    live("finished: " + JSON.parse(ev.data).state, "ok");
    document.body.dataset.finished = "1";
  });
  source.onerror = async () => {
    const answer = await fetch(`/jobs/${encodeURIComponent(id)}`).catch(() => null);
    if (answer && answer.status === 404) { source.close(); live(`no job ${id} in this Redis`, "bad"); }
    else if (source.readyState !== EventSource.CLOSED) live("reconnecting…", "bad");
  };
}

const params = new URLSearchParams(location.search);
if (params.get("job")) showJob(params.get("job")); else showJobs();
