// The dashboard's script: live session lists, a session's live log and call
// timeline, and the buttons. Text from sessions and events is hostile: it only
// ever goes into textContent, never into markup.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function flash(text, bad) {
  const box = document.getElementById("flash");
  box.textContent = text;
  box.classList.toggle("bad", Boolean(bad));
  box.hidden = false;
}

// -- buttons: POST to the dashboard's data routes (the API's own handlers) ----------
async function press(button) {
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  try {
    const reply = await fetch(button.dataset.post, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
      body: button.dataset.body || "{}",
      credentials: "same-origin",
    });
    const answer = await reply.json().catch(() => ({}));
    if (!reply.ok) {
      flash(answer.error || `failed: HTTP ${reply.status}`, true);
      return;
    }
    const go = button.dataset.go;
    if (go === "session" && answer.session_id) window.location.assign(`/ui/sessions/${answer.session_id}`);
    else if (go === "event" && answer.event_id) window.location.assign(`/ui/events/${answer.event_id}`);
    else if (go === "reload") window.location.reload();
    else if (answer.stopping) flash("Stop requested: the session ends at its next durable point.");
    else if (answer.state) flash(`Session is ${answer.state}.`);
    else if ("ok" in answer) flash(answer.message || (answer.ok ? "OK." : "failed"), !answer.ok);
    else flash("Done.");
  } catch (err) {
    flash(`failed: ${err}`, true);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("click", (e) => {
  const button = e.target.closest("button.act");
  if (button) press(button);
  const copy = e.target.closest("button.copy");
  if (copy) navigator.clipboard.writeText(copy.dataset.copy).then(() => flash("Copied."));
});

// -- the sessions list: the first page follows new sessions --------------------------
function followList(table) {
  const body = table.tBodies[0];
  let last = body.innerHTML;
  const tick = async () => {
    try {
      const reply = await fetch(table.dataset.rowsUrl, { credentials: "same-origin" });
      if (reply.status === 401) { window.location.assign("/ui/login"); return; }
      if (reply.ok) {
        const rows = await reply.text();
        if (rows !== last) { body.innerHTML = rows; last = rows; }  // server-rendered, escaped
      }
    } catch (err) { /* the server restarts: try again */ }
    setTimeout(tick, 1500);
  };
  setTimeout(tick, 1500);
}

// -- a session: its log and timeline, live over SSE ----------------------------------
const seconds = (iso) => (iso ? Date.parse(iso) / 1000 : NaN);

function describe(r) {
  switch (r.type) {
    case "print": return r.text;
    case "state": return r.state + (r.error ? `: ${r.error}` : "");
    case "call_start": {
      // Arguments come as their repr, already text.
      const shown = (r.args ?? []).map(String);
      for (const [k, v] of Object.entries(r.kwargs ?? {})) shown.push(`${k}=${v}`);
      return `#${r.seq} ${r.function}(${shown.join(", ")})`;
    }
    case "call_end": {
      const what = "error" in r ? `error: ${r.error}` : `→ ${JSON.stringify(r.result ?? r.value ?? null)}`;
      const extra = [`${Math.round(r.duration_ms ?? 0)} ms`, `attempt ${r.attempt}`];
      if (r.note) extra.push(r.note);
      return `#${r.seq} ${what} (${extra.join(", ")})`;
    }
    // A saga's undo is a call like any other, logged under its own names.
    case "compensate_start": return `undo ${describe({ ...r, type: "call_start" })}`;
    case "compensate_end": return `undo ${describe({ ...r, type: "call_end" })}`;
    case "stop_request": return `stop requested: ${r.reason}`;
    default: return JSON.stringify(r);
  }
}

function followSession(section) {
  const body = document.querySelector("#log tbody");
  const timeline = document.getElementById("timeline");
  const stateBox = document.getElementById("state");
  const note = document.getElementById("live-note");
  const calls = new Map();  // seq → {fn, start, end, attempt, error}
  let origin = seconds(section.dataset.created);
  let ended = null;

  function addRow(r) {
    const tr = document.createElement("tr");
    const failed = (r.type.endsWith("_end") && "error" in r) || r.type === "compensation_failed";
    tr.className = `rec-${r.type}` + (failed ? " call-error" : "");
    for (const text of [r.n, (r.time || "").slice(11, 23), r.type, describe(r)]) {
      const td = document.createElement("td");
      td.textContent = String(text);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }

  function draw() {
    if (!calls.size) return;
    const now = ended ?? Date.now() / 1000;
    let first = origin, last = now;
    for (const c of calls.values()) {
      if (!(c.start >= first)) first = Math.min(first, c.start);
      last = Math.max(last, c.end ?? now);
    }
    const span = Math.max(last - first, 0.001);
    timeline.replaceChildren();
    for (const [seq, c] of calls) {
      const row = document.createElement("div");
      row.className = "tl-row";
      const label = document.createElement("span");
      label.className = "tl-label";
      label.textContent = `#${seq} ${c.undo ? "undo " : ""}${c.fn}`;
      label.title = label.textContent;
      const track = document.createElement("div");
      track.className = "tl-track";
      const bar = document.createElement("div");
      bar.className = "bar" + (c.error ? " error" : c.end === undefined ? " running" : c.undo ? " undo" : "");
      bar.dataset.seq = seq;
      const end = c.end ?? now;
      bar.style.left = `${((c.start - first) / span) * 100}%`;
      bar.style.width = `${(Math.max(end - c.start, 0) / span) * 100}%`;
      const took = c.end === undefined ? "running" : `${Math.round((c.end - c.start) * 1000)} ms`;
      bar.title = `#${seq} ${c.fn}: started +${(c.start - first).toFixed(3)} s, ${took}` +
        (c.attempt ? `, attempt ${c.attempt}` : "") + (c.error ? `, error: ${c.error}` : "");
      bar.setAttribute("role", "img");
      bar.setAttribute("aria-label", bar.title);
      track.appendChild(bar);
      row.append(label, track);
      timeline.appendChild(row);
    }
    const axis = document.createElement("div");
    axis.className = "tl-axis";
    const zero = document.createElement("span");
    zero.textContent = "0 s";
    const total = document.createElement("span");
    total.textContent = `${span.toFixed(span < 10 ? 2 : 0)} s`;
    axis.append(zero, total);
    timeline.appendChild(axis);
  }

  function take(r) {
    addRow(r);
    const at = seconds(r.time);
    if (r.type === "state" && r.state === "running" && Number.isFinite(at) && !Number.isFinite(origin)) origin = at;
    const undo = r.type.startsWith("compensate_");
    const kind = undo ? r.type.replace("compensate_", "call_") : r.type;
    if (kind === "call_start") {
      calls.set(r.seq, { fn: r.function, start: at, undo });
    } else if (kind === "call_end") {
      const c = calls.get(r.seq) ?? { fn: "?", start: at - (r.duration_ms ?? 0) / 1000 };
      c.end = Math.max(at, c.start);
      c.attempt = r.attempt;
      if ("error" in r) c.error = r.error;
      calls.set(r.seq, c);
    } else if (r.type === "state") {
      if (["completed", "error", "stopped"].includes(r.state)) document.getElementById("ended").textContent = r.time;
      stateBox.textContent = r.state;
      stateBox.className = `state state-${r.state}`;
    }
    draw();
  }

  const source = new EventSource(section.dataset.stream);
  note.textContent = "(live)";
  source.addEventListener("record", (e) => take(JSON.parse(e.data)));
  source.addEventListener("end", (e) => {
    const end = JSON.parse(e.data);
    source.close();  // or the browser would reconnect for ever
    stateBox.textContent = end.state;
    stateBox.className = `state state-${end.state}`;
    if (end.error) document.getElementById("error").textContent = end.error;
    document.getElementById("stop").hidden = true;
    document.getElementById("restart-failure").hidden = end.state !== "error";
    const ends = [...calls.values()].map((c) => c.end ?? c.start);
    ended = ends.length ? Math.max(...ends, origin) : Date.now() / 1000;
    note.textContent = "";
    draw();
  });
  // Reconnecting after a dropped connection is the browser's (with Last-Event-ID).
  source.onerror = () => { note.textContent = source.readyState === 2 ? "" : "(reconnecting…)"; };
  source.onopen = () => { note.textContent = "(live)"; };
  const timer = setInterval(() => { if (ended !== null) clearInterval(timer); else draw(); }, 500);
}

document.addEventListener("DOMContentLoaded", () => {
  const list = document.querySelector("table[data-rows-url]");
  if (list) followList(list);
  const live = document.getElementById("live");
  if (live) followSession(live);
});
