// Vigil status page. No library: graphql-transport-ws by hand, as docs/monitoring.md §7 describes.
//
// Order on every (re)connection: connection_init -> connection_ack -> subscribe to statusChanged and
// healthChecked -> query the current state. Events that arrive while the query runs are kept and
// applied afterwards; an event is applied only when its `seq` (the id of its check) is newer than
// what the page holds for that service, so nothing is missed and nothing is applied twice.

const GRAPHQL_URL = new URL("/graphql", location.href).href;
const WS_URL = GRAPHQL_URL.replace(/^http/, "ws");
const TOKEN_KEY = "vigil.token";
const NOTIFY_KEY = "vigil.notify";
const ALIASES_PER_QUERY = 25; // VIGIL_MAX_ALIASES is 30 by default
const PAGE_SIZE = 100; // VIGIL_MAX_PAGE_SIZE
const HISTORY_PAGES = 5; // the detail chart reads at most 500 checks
const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 10000;
const RELOAD_EVERY_MS = 5 * 60 * 1000; // uptime figures and registry changes
const TYPE_ORDER = ["MICHIGAN", "H3AFRICA", "GA4GH", "DNASTACK"];
const TYPE_NAMES = { MICHIGAN: "Michigan", H3AFRICA: "H3Africa", GA4GH: "GA4GH", DNASTACK: "DNAstack" };
const STATUS_WORDS = {
  HEALTHY: "Healthy", DEGRADED: "Degraded", UNHEALTHY: "Down", MAINTENANCE: "Maintenance", UNKNOWN: "Unknown",
};

const SERVICES_QUERY = `query StatusPageServices($after: String) {
  services(first: ${PAGE_SIZE}, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name type apiType location isActive status responseTimeMs lastCheckedAt statusChangedAt
      lastMessage lastFailureKind circuitState uptime(window: LAST_24_HOURS)
      maintenanceWindows { startsAt endsAt reason active }
    }
  }
}`;
const NEWEST_CHECK = "nodes { seq status responseTimeMs checkedAt message failureKind maintenanceMessage }";
const SUBSCRIPTIONS = {
  status: "subscription StatusPageChanges { statusChanged { seq serviceId previousStatus status changedAt " +
    "missedBefore check { responseTimeMs checkedAt message failureKind } } }",
  checks: "subscription StatusPageChecks { healthChecked { seq serviceId status rawStatus checkedAt " +
    "responseTimeMs failureKind message } }",
};

const $ = (id) => document.getElementById(id);
const page = {
  services: new Map(), // id -> service, with `seq` (newest check applied) and `changeSeq` (newest status change)
  loaded: false,
  early: [], // [kind, event] received before the first query of this connection finished
  ws: null,
  attempt: 0,
  reconnectTimer: null,
  pingTimer: null,
  pongTimer: null,
  reloadTimer: null,
  selected: null, // { id, checks: [...] } while the detail view is open
  cards: new Map(), // id -> <li>
  lastChange: "",
  trendsSupported: true, // false once the server says it has no `trends` query
};

class AuthError extends Error {}

// ---- token ------------------------------------------------------------------------------------

function token() {
  try { return localStorage.getItem(TOKEN_KEY) || null; } catch { return null; }
}

function authHeaders() {
  const value = token();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

function askForToken(reason) {
  $("token-reason").textContent = reason;
  $("token-form").hidden = false;
  $("token-input").focus();
  setConnection("refused", "Sign-in needed");
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  try { localStorage.setItem(TOKEN_KEY, value); } catch { /* private mode: this visit only */ }
  $("token-input").value = "";
  $("token-form").hidden = true;
  updateTokenButton();
  restart();
});

$("forget-token").addEventListener("click", () => {
  try { localStorage.removeItem(TOKEN_KEY); } catch { /* nothing stored */ }
  updateTokenButton();
  restart();
});

function updateTokenButton() {
  $("forget-token").hidden = !token();
}

// ---- HTTP queries -------------------------------------------------------------------------------

async function gql(query, variables = {}) {
  const response = await fetch(GRAPHQL_URL, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try { body = await response.json(); } catch { throw new Error(`HTTP ${response.status}`); }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const code = first.extensions && first.extensions.code;
    if (code === "UNAUTHENTICATED" || code === "FORBIDDEN") throw new AuthError(first.message);
    throw new Error(first.message);
  }
  return body.data;
}

async function loadState() {
  const fresh = new Map();
  let after = null;
  do {
    const { services } = await gql(SERVICES_QUERY, { after });
    for (const node of services.nodes) {
      fresh.set(node.id, { ...node, seq: 0, changeSeq: 0, maintenanceMessage: null });
    }
    after = services.pageInfo.hasNextPage ? services.pageInfo.endCursor : null;
  } while (after);
  const ids = [...fresh.keys()];
  for (let i = 0; i < ids.length; i += ALIASES_PER_QUERY) {
    const chunk = ids.slice(i, i + ALIASES_PER_QUERY);
    const fields = chunk.map((id) =>
      `s${id}: healthHistory(serviceId: ${JSON.stringify(id)}, first: 1) { ${NEWEST_CHECK} }`).join(" ");
    const data = await gql(`query StatusPageNewest { ${fields} }`);
    for (const id of chunk) {
      const newest = data[`s${id}`].nodes[0];
      if (newest) applyCheckFields(fresh.get(id), newest);
    }
  }
  await loadTrends(fresh, ids);
  // Events may have been applied while the query ran: keep whichever is newer, per service.
  for (const [id, service] of fresh) {
    const known = page.services.get(id);
    if (known && known.seq > service.seq) {
      for (const key of ["seq", "status", "responseTimeMs", "lastCheckedAt", "lastMessage", "lastFailureKind"]) {
        service[key] = known[key];
      }
    }
    service.changeSeq = Math.max(service.seq, known ? known.changeSeq : 0);
  }
  page.services = fresh;
}

// 24 h uptime bars, from the `trends` query where this Vigil has it (rollup buckets, oldest first).
async function loadTrends(fresh, ids) {
  if (!page.trendsSupported) return;
  for (let i = 0; i < ids.length; i += ALIASES_PER_QUERY) {
    const chunk = ids.slice(i, i + ALIASES_PER_QUERY);
    const fields = chunk.map((id) => `t${id}: trends(serviceId: ${JSON.stringify(id)}, window: LAST_24_HOURS) ` +
      "{ bucketSeconds buckets { start end checks uptime } }").join(" ");
    let data;
    try {
      data = await gql(`query StatusPageTrends { ${fields} }`);
    } catch (error) {
      if (error instanceof AuthError) throw error;
      console.warn("no uptime bars: this Vigil has no usable trends query", error.message);
      page.trendsSupported = false;
      return;
    }
    for (const id of chunk) fresh.get(id).trend = data[`t${id}`];
  }
}

function applyCheckFields(service, check) {
  service.seq = check.seq;
  service.status = check.status;
  service.responseTimeMs = check.responseTimeMs;
  service.lastCheckedAt = check.checkedAt;
  service.lastMessage = check.message;
  service.lastFailureKind = check.failureKind;
  if ("maintenanceMessage" in check) service.maintenanceMessage = check.maintenanceMessage;
}

// ---- WebSocket ------------------------------------------------------------------------------------

function send(ws, message) {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function connect() {
  clearTimeout(page.reconnectTimer);
  setConnection("connecting", "Connecting…");
  const ws = new WebSocket(WS_URL, "graphql-transport-ws");
  page.ws = ws;
  page.loaded = false;
  page.early = [];
  ws.onopen = () => send(ws, { type: "connection_init", payload: authHeaders() });
  ws.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    onMessage(ws, message).catch((error) => failed(ws, error));
  };
  ws.onclose = (event) => {
    if (page.ws !== ws) return; // replaced on purpose
    stopKeepAlive();
    page.ws = null;
    if (event.code === 4403) {
      askForToken(token() ? "The stored token was refused. Enter another one." :
        "This Vigil needs a token to read service status.");
      return;
    }
    scheduleReconnect();
  };
}

function failed(ws, error) {
  if (error instanceof AuthError) {
    page.ws = null;
    ws.close(1000, "unauthenticated");
    askForToken(`The token was refused: ${error.message}`);
    return;
  }
  console.warn("status page:", error);
  ws.close(4000, "reloading"); // onclose schedules a reconnection
}

async function onMessage(ws, message) {
  switch (message.type) {
    case "connection_ack": {
      for (const [id, query] of Object.entries(SUBSCRIPTIONS)) {
        send(ws, { id, type: "subscribe", payload: { query } });
      }
      startKeepAlive(ws);
      await loadState(); // subscribed first, then queried
      if (page.ws !== ws) return;
      page.loaded = true;
      page.attempt = 0;
      for (const [kind, event] of page.early.splice(0)) apply(kind, event);
      setConnection("live", "Live");
      renderAll();
      if (page.selected) loadDetail(page.selected.id);
      break;
    }
    case "next": {
      const data = message.payload && message.payload.data;
      if (!data) {
        if (message.payload && message.payload.errors) subscriptionErrors(ws, message.payload.errors);
        break;
      }
      const kind = message.id;
      const event = kind === "status" ? data.statusChanged : data.healthChecked;
      if (!event) break;
      if (!page.loaded) { page.early.push([kind, event]); break; }
      if (kind === "status" && event.missedBefore > 0) {
        await loadState(); // this page fell behind: read again, then carry on
        renderAll();
      }
      apply(kind, event);
      break;
    }
    case "error":
      subscriptionErrors(ws, message.payload || []);
      break;
    case "complete":
      ws.close(4000, "subscription ended");
      break;
    case "ping":
      send(ws, { type: "pong" });
      break;
    case "pong":
      clearTimeout(page.pongTimer);
      break;
  }
}

function subscriptionErrors(ws, errors) {
  const first = errors[0] || {};
  const code = first.extensions && first.extensions.code;
  if (code === "UNAUTHENTICATED" || code === "FORBIDDEN") {
    failed(ws, new AuthError(first.message || code));
  } else {
    failed(ws, new Error(first.message || "subscription refused"));
  }
}

function startKeepAlive(ws) {
  stopKeepAlive();
  page.pingTimer = setInterval(() => {
    send(ws, { type: "ping" });
    clearTimeout(page.pongTimer);
    page.pongTimer = setTimeout(() => ws.close(4000, "no pong"), PONG_WITHIN_MS);
  }, PING_EVERY_MS);
}

function stopKeepAlive() {
  clearInterval(page.pingTimer);
  clearTimeout(page.pongTimer);
}

function scheduleReconnect() {
  const seconds = Math.min(30, 2 ** page.attempt) * (0.8 + Math.random() * 0.4);
  page.attempt += 1;
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    setConnection("retrying", `Connection lost: retrying in ${left} s`);
  };
  tick();
  const countdown = setInterval(tick, 1000);
  clearTimeout(page.reconnectTimer);
  page.reconnectTimer = setTimeout(() => { clearInterval(countdown); connect(); }, seconds * 1000);
}

function restart() {
  const old = page.ws;
  page.ws = null;
  if (old) old.close(1000, "restart");
  stopKeepAlive();
  page.attempt = 0;
  connect();
}

window.addEventListener("online", () => { if (!page.ws) restart(); });

// ---- applying events ------------------------------------------------------------------------------

function apply(kind, event) {
  const service = page.services.get(String(event.serviceId));
  if (!service) { scheduleReload(); return; } // registered after our query: read the registry again
  if (kind === "checks") {
    if (event.seq <= service.seq) return; // the query already showed it
    applyCheckFields(service, event);
    if (event.status !== "MAINTENANCE") service.maintenanceMessage = null;
    renderCard(service);
    renderSummary();
    if (page.selected && page.selected.id === service.id) addDetailCheck(event);
    return;
  }
  if (event.seq <= service.changeSeq) return;
  service.changeSeq = event.seq;
  if (event.seq >= service.seq) {
    service.seq = event.seq;
    service.status = event.status;
    service.statusChangedAt = event.changedAt;
    if (event.check) {
      service.responseTimeMs = event.check.responseTimeMs;
      service.lastMessage = event.check.message;
      service.lastFailureKind = event.check.failureKind;
      service.lastCheckedAt = event.check.checkedAt;
    }
  }
  const words = `${service.name}: ${STATUS_WORDS[event.previousStatus]} → ${STATUS_WORDS[event.status]}`;
  page.lastChange = `${words} at ${time(event.changedAt)}`;
  renderCard(service);
  renderSummary();
  renderMaintenance();
  notify(service, event);
  refreshUptime(service.id);
}

async function refreshUptime(id) {
  try {
    const { service } = await gql(
      "query StatusPageUptime($id: ID!) { service(id: $id) { uptime(window: LAST_24_HOURS) } }", { id });
    const known = page.services.get(id);
    if (!service || !known) return;
    known.uptime = service.uptime;
    if (page.trendsSupported) {
      const single = new Map([[id, known]]);
      await loadTrends(single, [id]);
    }
    renderCard(known);
    if (page.selected && page.selected.id === id) renderDetail();
  } catch (error) {
    console.warn("uptime refresh failed", error);
  }
}

let reloadPending = null;
function scheduleReload() {
  if (reloadPending) return;
  reloadPending = setTimeout(async () => {
    reloadPending = null;
    try { await loadState(); renderAll(); } catch (error) { if (page.ws) failed(page.ws, error); }
  }, 500);
}

// ---- notifications --------------------------------------------------------------------------------

function notificationsOn() {
  try { return localStorage.getItem(NOTIFY_KEY) === "1" && Notification.permission === "granted"; }
  catch { return false; }
}

function updateNotifyButton() {
  const button = $("notify");
  if (!("Notification" in window)) { button.hidden = true; return; }
  button.hidden = false;
  const on = notificationsOn();
  button.setAttribute("aria-pressed", String(on));
  button.textContent = on ? "Notifications on" : "Enable notifications";
}

$("notify").addEventListener("click", async () => {
  if (notificationsOn()) {
    localStorage.setItem(NOTIFY_KEY, "0");
  } else {
    const permission = await Notification.requestPermission();
    localStorage.setItem(NOTIFY_KEY, permission === "granted" ? "1" : "0");
  }
  updateNotifyButton();
});

function notify(service, event) {
  if (!notificationsOn()) return;
  const body = [`Was ${STATUS_WORDS[event.previousStatus]}.`, event.check && event.check.message]
    .filter(Boolean).join(" ");
  try {
    new Notification(`${service.name}: ${STATUS_WORDS[event.status]}`, { body, tag: `vigil-${service.id}` });
  } catch (error) {
    console.warn("notification failed", error);
  }
}

// ---- rendering ------------------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function time(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "never";
}

function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function ms(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value)} ms`;
}

function percent(value) {
  return value === null || value === undefined ? "no data" : `${(value * 100).toFixed(value >= 0.999 ? 1 : 2)} %`;
}

function setConnection(state, text) {
  const node = $("connection");
  node.dataset.state = state;
  node.textContent = text;
}

function setBadge(badge, status) {
  badge.dataset.status = status;
  badge.textContent = STATUS_WORDS[status] || status;
}

function renderAll() {
  const groups = $("groups");
  const byType = new Map();
  for (const service of page.services.values()) {
    if (!byType.has(service.type)) byType.set(service.type, []);
    byType.get(service.type).push(service);
  }
  const types = [...byType.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const sections = [];
  for (const type of types) {
    const list = el("ul", { class: "cards", role: "list" });
    for (const service of byType.get(type).sort((a, b) => a.name.localeCompare(b.name))) {
      list.append(card(service));
    }
    const titleId = `group-${type}`;
    sections.push(el("section", { class: "group", "aria-labelledby": titleId },
      el("h2", { id: titleId }, TYPE_NAMES[type] || type), list));
  }
  for (const id of [...page.cards.keys()]) if (!page.services.has(id)) page.cards.delete(id);
  groups.replaceChildren(...sections);
  $("empty").hidden = page.services.size > 0;
  renderSummary();
  renderMaintenance();
}

function rank(type) {
  const index = TYPE_ORDER.indexOf(type);
  return index < 0 ? TYPE_ORDER.length : index;
}

function card(service) {
  let item = page.cards.get(service.id);
  if (!item) {
    const link = el("a", { href: `#service/${service.id}` });
    const badge = el("span", { class: "badge" });
    item = el("li", { class: "card", "data-service-id": service.id },
      el("h3", {}, link),
      el("p", { class: "card-line" }, badge, el("span", { class: "response" }), el("span", { class: "uptime" }),
        el("span", { class: "checked" })),
      el("div", { class: "bars", role: "img", hidden: "" }),
      el("p", { class: "message" }));
    page.cards.set(service.id, item);
  }
  renderCard(service, item);
  return item;
}

function renderCard(service, item = page.cards.get(service.id)) {
  if (!item) return;
  item.dataset.status = service.status;
  const link = item.querySelector("h3 a");
  link.textContent = service.name;
  setBadge(item.querySelector(".badge"), service.status);
  item.querySelector(".response").textContent = `Response ${ms(service.responseTimeMs)}`;
  item.querySelector(".uptime").textContent = `24 h uptime ${percent(service.uptime)}`;
  item.querySelector(".checked").textContent = `Checked ${time(service.lastCheckedAt)}`;
  renderBars(item.querySelector(".bars"), service.trend);
  const message = item.querySelector(".message");
  const text = service.status === "MAINTENANCE"
    ? service.maintenanceMessage || service.lastMessage
    : service.status === "HEALTHY" ? "" : service.lastMessage;
  message.textContent = service.isActive ? text || "" : "Not watched (inactive)";
  message.hidden = !message.textContent;
}

function renderBars(container, trend) {
  if (!trend || !trend.buckets.length) { container.hidden = true; return; }
  const hours = trend.bucketSeconds >= 3600 ? `${trend.bucketSeconds / 3600} h` : `${trend.bucketSeconds / 60} min`;
  let full = 0, counted = 0;
  const bars = trend.buckets.map((bucket) => {
    let up = null;
    if (bucket.uptime !== null && bucket.uptime !== undefined) {
      counted += 1;
      if (bucket.uptime >= 1) full += 1;
      up = bucket.uptime >= 1 ? "1" : bucket.uptime <= 0 ? "0" : "partial";
    }
    const text = `${time(bucket.start)}–${time(bucket.end)}: ` +
      (up === null ? "no data" : `${percent(bucket.uptime)} up over ${bucket.checks} checks`);
    return el("span", { "data-up": up, title: text });
  });
  container.replaceChildren(...bars);
  container.setAttribute("aria-label",
    `Uptime over the last 24 hours in ${hours} bars: ${full} of ${counted} bars with data fully up`);
  container.hidden = false;
}

function renderSummary() {
  const counts = {};
  for (const service of page.services.values()) counts[service.status] = (counts[service.status] || 0) + 1;
  const total = page.services.size;
  const parts = Object.keys(STATUS_WORDS).filter((s) => counts[s])
    .map((s) => `${counts[s]} ${STATUS_WORDS[s].toLowerCase()}`);
  const head = total === 1 ? "1 service" : `${total} services`;
  $("summary-text").textContent = `${head}${parts.length ? `: ${parts.join(", ")}` : ""}.` +
    (page.lastChange ? ` Last change: ${page.lastChange}.` : "");
}

function renderMaintenance() {
  const items = [];
  for (const service of page.services.values()) {
    const windows = service.maintenanceWindows || [];
    if (service.status === "MAINTENANCE" && !windows.some((w) => w.active)) {
      items.push(el("li", {}, `${service.name}: in maintenance now`,
        service.maintenanceMessage ? ` (${service.maintenanceMessage})` : ""));
    }
    for (const w of windows) {
      const when = w.active ? `now, until ${dateTime(w.endsAt)}` : `${dateTime(w.startsAt)} to ${dateTime(w.endsAt)}`;
      items.push(el("li", {}, `${service.name}: ${when}`, w.reason ? ` (${w.reason})` : ""));
    }
  }
  $("maintenance-list").replaceChildren(...items);
  $("maintenance").hidden = items.length === 0;
}

// ---- detail view ----------------------------------------------------------------------------------

const HISTORY_QUERY = `query StatusPageHistory($id: ID!, $since: DateTime!, $after: String) {
  healthHistory(serviceId: $id, since: $since, first: ${PAGE_SIZE}, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { seq checkedAt status rawStatus responseTimeMs failureKind message }
  }
}`;

async function loadDetail(id) {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const checks = [];
  let after = null;
  let total = 0;
  for (let pageNo = 0; pageNo < HISTORY_PAGES; pageNo += 1) {
    const { healthHistory } = await gql(HISTORY_QUERY, { id, since, after });
    total = healthHistory.totalCount;
    checks.push(...healthHistory.nodes);
    if (!healthHistory.pageInfo.hasNextPage) break;
    after = healthHistory.pageInfo.endCursor;
  }
  if (!page.selected || page.selected.id !== id) return;
  page.selected.checks = checks.reverse(); // oldest first
  page.selected.total = total;
  renderDetail();
}

function addDetailCheck(event) {
  const checks = page.selected.checks;
  if (checks.length && checks[checks.length - 1].seq >= event.seq) return;
  checks.push(event);
  page.selected.total += 1;
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  while (checks.length && Date.parse(checks[0].checkedAt) < dayAgo) checks.shift();
  renderDetail();
}

function renderDetail() {
  const selected = page.selected;
  const service = page.services.get(selected.id);
  if (!service) return;
  $("detail-title").textContent = service.name;
  const facts = [
    ["Status", el("span", { class: "badge", "data-status": service.status }, STATUS_WORDS[service.status])],
    ["Type", `${TYPE_NAMES[service.type] || service.type} · ${service.apiType}`],
    ["Location", service.location || "—"],
    ["Response time", ms(service.responseTimeMs)],
    ["24 h uptime", percent(service.uptime)],
    ["Last check", dateTime(service.lastCheckedAt)],
    ["Status since", dateTime(service.statusChangedAt)],
    ["Circuit", service.circuitState],
    ["Last message", service.lastMessage || "—"],
  ];
  $("detail-facts").replaceChildren(...facts.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
  $("chart").replaceChildren(chart(selected.checks));
  const shown = selected.checks.length;
  $("chart-caption").textContent = shown < selected.total
    ? `The newest ${shown} of ${selected.total} checks in the last 24 hours.`
    : `${shown} checks in the last 24 hours.`;
  const rows = selected.checks.slice(-20).reverse().map((check) => el("tr", {},
    el("td", {}, dateTime(check.checkedAt)),
    el("td", {}, el("span", { class: "badge", "data-status": check.status }, STATUS_WORDS[check.status])),
    el("td", {}, ms(check.responseTimeMs)),
    el("td", {}, check.message || "")));
  $("detail-checks").replaceChildren(...rows);
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function chart(checks) {
  const width = 800, height = 240, left = 56, right = 12, top = 12, bottom = 28;
  const timed = checks.filter((c) => c.responseTimeMs !== null && c.responseTimeMs !== undefined);
  const failed = checks.filter((c) => c.status === "UNHEALTHY" || c.rawStatus === "UNHEALTHY");
  const values = timed.map((c) => c.responseTimeMs).sort((a, b) => a - b);
  const median = values.length ? values[Math.floor(values.length / 2)] : null;
  const max = values.length ? values[values.length - 1] : 0;
  const summary = checks.length
    ? `Response time over ${checks.length} checks: median ${ms(median)}, highest ${ms(max)}, ${failed.length} failed.`
    : "No checks in the last 24 hours.";
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": summary });
  root.append(svg("title", {}, summary));
  const end = Date.now();
  const start = checks.length ? Math.min(Date.parse(checks[0].checkedAt), end - 60000) : end - 3600000;
  const yMax = Math.max(1, max * 1.1);
  const x = (iso) => left + ((Date.parse(iso) - start) / (end - start)) * (width - left - right);
  const y = (value) => top + (1 - value / yMax) * (height - top - bottom);
  root.append(svg("line", { class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }));
  root.append(svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }));
  root.append(svg("text", { class: "label", x: left - 6, y: top + 10, "text-anchor": "end" }, `${Math.round(yMax)} ms`));
  root.append(svg("text", { class: "label", x: left - 6, y: height - bottom, "text-anchor": "end" }, "0"));
  root.append(svg("text", { class: "label", x: left, y: height - 8 }, new Date(start).toLocaleTimeString()));
  root.append(svg("text", { class: "label", x: width - right, y: height - 8, "text-anchor": "end" }, "now"));
  if (timed.length) {
    const points = timed.map((c) => `${x(c.checkedAt).toFixed(1)},${y(c.responseTimeMs).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { class: "line", points }));
  }
  for (const check of failed) {
    root.append(svg("rect", { class: "fail", x: (x(check.checkedAt) - 1.5).toFixed(1), y: height - bottom - 8,
      width: 3, height: 8 }));
  }
  return root;
}

function route() {
  const match = location.hash.match(/^#service\/(\d+)$/);
  const detail = $("detail");
  if (!match) {
    page.selected = null;
    detail.hidden = true;
    $("services").hidden = false;
    return;
  }
  page.selected = { id: match[1], checks: [], total: 0 };
  $("services").hidden = true;
  detail.hidden = false;
  detail.focus();
  if (page.services.has(match[1])) renderDetail();
  loadDetail(match[1]).catch((error) => {
    $("chart-caption").textContent = `Could not load the history: ${error.message}`;
  });
}

$("detail-close").addEventListener("click", (event) => {
  event.preventDefault();
  history.pushState(null, "", location.pathname);
  route();
});
window.addEventListener("hashchange", route);

// ---- start ------------------------------------------------------------------------------------------

updateTokenButton();
updateNotifyButton();
route();
connect();
page.reloadTimer = setInterval(() => {
  if (page.loaded && page.ws) scheduleReload();
}, RELOAD_EVERY_MS);
