// The smtp-harness web UI. Reads the control API with relative URLs from one
// base (the page's <meta name="smtp-harness-base">), so the same page works
// wherever the API is mounted. Data from the wire is only ever put in the
// page as text (textContent); the one HTML inserted, a session's diagram,
// is drawn and escaped by the server.
"use strict";

const BASE = document.querySelector('meta[name="smtp-harness-base"]').content;
const api = (path) => BASE + path;
const $ = (sel) => document.querySelector(sel);

/** An element with text and attributes. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

/**
 * A new request of kind `key`; the function returned says whether it is
 * still the newest one. Answers can arrive out of order (two searches typed
 * quickly): only the newest may be shown.
 */
const newestRequest = new Map();
function newest(key) {
  const n = (newestRequest.get(key) || 0) + 1;
  newestRequest.set(key, n);
  return () => newestRequest.get(key) === n;
}

async function getJSON(path) {
  const r = await fetch(api(path), { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

// ---- tabs ------------------------------------------------------------------

for (const b of document.querySelectorAll("nav button")) {
  b.addEventListener("click", () => showTab(b.dataset.tab));
}

function showTab(name) {
  for (const b of document.querySelectorAll("nav button")) {
    b.classList.toggle("active", b.dataset.tab === name);
  }
  for (const s of document.querySelectorAll(".tab")) {
    s.classList.toggle("active", s.id === name);
  }
  if (name === "messages") loadMessages();
  if (name === "setup") loadSetup();
}

// ---- sessions, live ----------------------------------------------------------

/** id → { id, peer, verbs: Set, codes: Set, text, ended, aborted, row } */
const sessions = new Map();
let selected = null;
let redraw = null;

function session(id) {
  let s = sessions.get(id);
  if (!s) {
    s = { id, peer: "", verbs: new Set(), codes: new Set(), text: "", ended: false, aborted: false, row: null };
    sessions.set(id, s);
  }
  return s;
}

function fromSummary(x) {
  const s = session(x.id);
  s.peer = x.peer || s.peer;
  for (const v of x.verbs || []) s.verbs.add(v);
  for (const c of x.codes || []) s.codes.add(String(c));
  if ((x.text || "").length > s.text.length) s.text = x.text;
  s.ended = s.ended || x.ended;
  s.aborted = s.aborted || x.aborted;
  render(s);
}

// How much of a session's text the filter searches: as much as the server's
// summary keeps (`Seen::TEXT` in src/control/stream.rs), so a session found
// live is still found after a reload.
const TEXT_MAX = 1024;

function fromEvent(e) {
  if (!e.session) return; // the control log (session 0)
  const s = session(e.session);
  switch (e.type) {
    case "connect": s.peer = e.peer; break;
    case "command":
      if (e.leg === "client") {
        const line = String(e.line);
        s.verbs.add(line.trim().split(/\s+/)[0].toUpperCase());
        if (s.text.length < TEXT_MAX) s.text += "\n" + line;
      }
      break;
    case "reply":
      if (e.leg === "client") {
        s.codes.add(String(e.code));
        if (s.text.length < TEXT_MAX) s.text += "\n" + (e.lines[0] || "");
      }
      break;
    case "close": s.ended = true; break;
    case "abort": s.ended = true; s.aborted = true; break;
  }
  render(s);
  if (selected === s.id) {
    // Redrawn once the burst of events is over, not on each of them.
    clearTimeout(redraw);
    redraw = setTimeout(() => showSession(s.id), 150);
  }
}

function render(s) {
  const cells = [
    el("td", { text: String(s.id) }),
    el("td", { text: s.peer }),
    el("td", { text: [...s.verbs].join(" ") }),
    el("td", { text: [...s.codes].join(" ") }),
    el("td", { class: "state", text: s.aborted ? "aborted" : s.ended ? "" : "live" }),
  ];
  if (!s.row) {
    s.row = el("tr", { "data-session": String(s.id), tabindex: "0" });
    s.row.addEventListener("click", () => showSession(s.id));
    s.row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") showSession(s.id); });
    const body = $("#session-table tbody");
    // Newest first.
    const after = [...body.children].find((r) => Number(r.dataset.session) < s.id);
    body.insertBefore(s.row, after || null);
  }
  s.row.replaceChildren(...cells);
  s.row.classList.toggle("selected", selected === s.id);
  applyFilter(s);
  $("#no-sessions").hidden = sessions.size > 0;
}

function applyFilter(s) {
  const words = $("#filter").value.toLowerCase().split(/\s+/).filter(Boolean);
  const hay = [s.id, s.peer, ...s.verbs, ...s.codes, s.text].join("\n").toLowerCase();
  s.row.hidden = !words.every((w) => hay.includes(w));
}

$("#filter").addEventListener("input", () => sessions.forEach(applyFilter));

async function showSession(id) {
  selected = id;
  for (const s of sessions.values()) if (s.row) s.row.classList.toggle("selected", s.id === id);
  const view = $("#session-view");
  const r = await fetch(api("sessions/" + id + "/diagram"));
  if (selected !== id) return;
  if (!r.ok) {
    view.replaceChildren(el("p", { class: "error", text: "session " + id + ": HTTP " + r.status }));
    return;
  }
  // Drawn and escaped by the server (crate::view).
  const html = await r.text();
  if (selected !== id) return;
  view.innerHTML = html;
  const wide = el("button", { type: "button", class: "wide", title: "hide the list (for a projector)" });
  const label = () => { wide.textContent = $("#sessions").classList.contains("wide") ? "⤡ show the list" : "⤢ full width"; };
  wide.addEventListener("click", () => { $("#sessions").classList.toggle("wide"); label(); });
  label();
  view.prepend(el("h2", {}, "Session " + id + " ",
    el("a", { href: api("sessions/" + id + "?format=text"), target: "_blank", text: "transcript" }), " ", wide));
}

function follow() {
  const live = $("#live");
  const source = new EventSource(api("events"));
  const types = ["connect", "command", "reply", "data", "message", "note", "tls", "divergence", "control", "close", "abort"];
  for (const t of types) {
    source.addEventListener(t, (m) => {
      try { fromEvent(JSON.parse(m.data)); } catch (err) { console.error(err); }
    });
  }
  source.onopen = () => {
    live.textContent = "● live";
    live.className = "live on";
    // Whatever happened while the stream was away.
    loadSessions();
  };
  source.onerror = () => { live.textContent = "○ reconnecting"; live.className = "live off"; };
}

async function loadSessions() {
  try {
    const list = await getJSON("sessions");
    for (const x of list.sessions) fromSummary(x);
  } catch (err) {
    console.error(err);
  }
}

// ---- messages ----------------------------------------------------------------

async function loadMessages() {
  const current = newest("messages");
  const q = new URLSearchParams(new FormData($("#search")));
  const body = $("#message-table tbody");
  let list;
  try {
    list = await getJSON("messages?" + q.toString());
  } catch (err) {
    if (!current()) return;
    body.replaceChildren();
    $("#no-messages").textContent = String(err);
    return;
  }
  if (!current()) return;
  body.replaceChildren(...list.messages.map((m) => {
    const row = el("tr", { "data-message": String(m.n), tabindex: "0" },
      el("td", { text: String(m.n) }),
      el("td", { text: (m.from && m.from.length ? m.from : [m.mail_from]).join(", ") }),
      el("td", { text: (m.to && m.to.length ? m.to : m.recipients.map(rcpt)).join(", ") }),
      el("td", { text: m.subject || "" }));
    row.addEventListener("click", () => showMessage(m.n));
    return row;
  }));
  $("#no-messages").hidden = list.messages.length > 0;
  $("#no-messages").textContent = "No messages.";
}

$("#search").addEventListener("submit", (ev) => { ev.preventDefault(); loadMessages(); });

/** A recipient as sent, and where it was delivered when that differs. */
function rcpt(r) {
  return r.delivered_to && r.delivered_to !== r.original ? r.original + " → " + r.delivered_to : r.original;
}

function table(rows) {
  return el("table", { class: "kv" }, ...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v }))));
}

/** The MIME tree from the flat list (part 0 is the message). */
function tree(parts, n, id = 0) {
  const p = parts[id];
  if (!p) return el("li", { text: "?" });
  const label = p.content_type + (p.filename ? " " + p.filename : "") + (p.size ? " (" + p.size + " octets)" : "");
  const item = el("li", {}, id === 0 ? el("span", { text: label }) :
    el("a", { href: api("messages/" + n + "/parts/" + id), text: "part " + id + ": " + label }));
  if (p.children && p.children.length) item.append(el("ul", {}, ...p.children.map((c) => tree(parts, n, c))));
  return item;
}

// The largest message whose source is shown inline (`INLINE_TEXT` in
// src/control/mime.rs bounds the text parts the same way).
const RAW_MAX = 1 << 20;

// What a message's HTML may do in its frame: nothing but show itself.
const FRAME_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

async function showMessage(n) {
  const current = newest("message");
  const view = $("#message-view");
  let m;
  try {
    m = await getJSON("messages/" + n);
  } catch (err) {
    if (!current()) return;
    view.replaceChildren(el("p", { class: "error", text: String(err) }));
    return;
  }
  const out = [el("h2", { text: m.subject || "(no subject)" }),
    el("p", {}, el("a", { href: api("messages/" + n + ".eml"), download: "message-" + n + ".eml", text: "download .eml" })),
    el("h3", { text: "Envelope" }),
    table([["MAIL FROM", m.mail_from], ["RCPT TO", m.recipients.map(rcpt).join(", ")], ["client", m.peer],
      ["HELO", m.helo || ""], ["session", String(m.session)], ["size", m.size + " octets"]])];
  if (m.parsed) {
    out.push(el("h3", { text: "Header fields" }), table(m.headers.map((h) => [h.name, h.value])));
    out.push(el("h3", { text: "MIME tree" }), el("ul", { class: "mime" }, tree(m.parts, n)));
    for (const t of m.text) out.push(el("h3", { text: "Text (part " + t.part + ")" }), el("pre", { class: "body", text: t.content }));
    for (const h of m.html) {
      // Sandboxed (no scripts, an origin of its own) and under a policy
      // that loads nothing, not even from here.
      const frame = el("iframe", { class: "html-part", sandbox: "", title: "HTML part " + h.part });
      frame.srcdoc = '<meta http-equiv="Content-Security-Policy" content="' + FRAME_POLICY + '">' + h.content;
      out.push(el("h3", { text: "HTML (part " + h.part + ")" }), frame);
    }
  }
  const raw = el("pre", { class: "raw" });
  out.push(el("h3", { text: "Source" }), raw);
  if (!current()) return;
  view.replaceChildren(...out);
  // The source inline up to the size the parsed view shows text (1 MiB);
  // beyond it, the download link.
  if (m.size > RAW_MAX) {
    raw.textContent = m.size + " octets: use “download .eml”";
    return;
  }
  const r = await fetch(api("messages/" + n + ".eml"));
  const text = r.ok ? await r.text() : "HTTP " + r.status;
  if (current()) raw.textContent = text;
}

// ---- scenario or profile, faults, expectations ---------------------------------

async function loadSetup() {
  const body = $("#setup-body");
  const parts = [];
  if (mode === "proxy") {
    $("#setup-title").textContent = "Profile";
    const p = await getJSON("profile");
    parts.push(el("p", {}, el("b", { text: p.name }), " " + (p.description || "")));
    parts.push(el("h3", { text: "Faults" }), list(p.faults, (f) => f.name + ": " + f.kind + " (" + f.direction + ", p=" + f.probability + ")"));
    // Each rule as /profile/replies gives it: which verbs and codes it
    // rewrites, and into what.
    parts.push(el("h3", { text: "Reply rules" }), list(p.replies, (r) =>
      r.name + ": " + [...(r.verbs || []), ...(r.codes || [])].join(" ") + (r.text ? " /" + r.text + "/" : "") + " → " + r.reply));
  } else {
    $("#setup-title").textContent = "Scenario";
    const s = await getJSON("scenario");
    parts.push(el("p", {}, el("b", { text: s.name }), " · " + s.rules.length + " rule(s) · " + s.expectations + " expectation(s) of its own"));
    parts.push(el("h3", { text: "Rules, in order" }), list(s.rules, (r) => r.index + ". " + (r.name || "(unnamed)")));
    const f = await getJSON("faults");
    parts.push(el("h3", { text: "Armed one-shot faults" }), list(f.armed, (a) => JSON.stringify(a)));
  }
  body.replaceChildren(...parts);
  const e = await getJSON("expectations");
  const items = e.results.map((r) => el("li", { class: r.met ? "met" : "unmet" },
    el("b", { text: r.met ? "met " : "UNMET " }), r.name + ": " + r.what + " (" + r.actual + " seen)"));
  $("#expectations").replaceChildren(
    el("p", { class: e.met ? "met" : "unmet", text: e.results.length === 0 ? "No expectations." : e.met ? "All met." : "Some are not met." }),
    el("ul", { class: "expectations" }, ...items),
    el("pre", { class: "report", text: e.text }));
}

function list(items, text) {
  if (!items || items.length === 0) return el("p", { class: "empty", text: "none" });
  return el("ul", {}, ...items.map((i) => el("li", { text: text(i) })));
}

// ---- start -------------------------------------------------------------------

let mode = "server";

async function start() {
  // The proxy serves /profile, the server /scenario.
  const r = await fetch(api("profile"));
  mode = r.ok ? "proxy" : "server";
  // Under /proxies/NAME/ (proxy --config), the proxy's name.
  const named = BASE.match(/^\/proxies\/([^/]+)\/$/);
  $("#mode").textContent = mode === "proxy" ? (named ? "proxy " + decodeURIComponent(named[1]) : "proxy") : "server";
  $("#messages-tab").hidden = mode === "proxy";
  follow();
}

start();
