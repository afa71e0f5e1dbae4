/// The status page at `/`: one self-contained HTML document (inline CSS, JavaScript and SVG,
/// nothing from the network) that polls `status.json` and draws what it gets. Every value from
/// the process (servant names, routing strings, reasons) is set as text, never as markup.
enum StatusPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MServe status</title>
<style>
  :root { --fg:#1d2330; --muted:#5d6678; --line:#d9dee8; --bg:#f6f7fa; --card:#fff;
          --ok:#1f8a4c; --warn:#b7791f; --bad:#c53030; --a:#2b6cb0; --b:#d69e2e; --c:#9f3ac0; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; align-items:center; gap:12px; padding:12px 20px; background:#1d2330; color:#fff; }
  header h1 { font-size:18px; margin:0; font-weight:600; }
  header .where { color:#b8c2d6; font-family:ui-monospace, monospace; font-size:13px; }
  .badge { padding:2px 10px; border-radius:10px; font-size:12px; font-weight:600; background:var(--muted); color:#fff; }
  .badge.ok { background:var(--ok); } .badge.bad { background:var(--bad); }
  main { padding:16px 20px; display:grid; gap:16px; }
  .cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(140px, 1fr)); gap:12px; }
  .card, section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  .card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
  .card .value { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
  section h2 { font-size:14px; margin:0 0 8px; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--muted); font-weight:500; font-size:12px; }
  td.num, th.num { text-align:right; }
  td.mono { font-family:ui-monospace, monospace; font-size:12px; max-width:320px; overflow:hidden; text-overflow:ellipsis; }
  .state-ready, .state-up { color:var(--ok); font-weight:600; }
  .state-connecting, .state-draining, .state-unconfirmed { color:var(--warn); font-weight:600; }
  .state-left { color:var(--muted); font-weight:600; }
  .state-lost { color:var(--bad); font-weight:600; }
  .charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(360px, 1fr)); gap:16px; }
  svg { width:100%; height:170px; display:block; }
  svg .grid { stroke:var(--line); stroke-width:1; }
  svg text { fill:var(--muted); font-size:10px; }
  .legend span { display:inline-block; margin-right:12px; font-size:12px; color:var(--muted); }
  .legend i { display:inline-block; width:10px; height:3px; margin-right:4px; vertical-align:middle; }
  .empty { color:var(--muted); font-style:italic; }
  footer { padding:0 20px 16px; color:var(--muted); font-size:12px; }
  [hidden] { display:none !important; }
</style>
</head>
<body>
<header>
  <h1 id="title">MServe</h1>
  <span class="where" id="endpoint"></span>
  <span class="badge" id="readiness">loading</span>
</header>
<main>
  <div id="broker" hidden>
    <div class="cards">
      <div class="card"><div class="label">Servants ready</div><div class="value" id="servants-ready">–</div></div>
      <div class="card"><div class="label">Queued</div><div class="value" id="queued">–</div></div>
      <div class="card"><div class="label">In flight</div><div class="value" id="in-flight">–</div></div>
      <div class="card"><div class="label">Answered</div><div class="value" id="answered">–</div></div>
      <div class="card"><div class="label">Queries/s</div><div class="value" id="throughput">–</div></div>
      <div class="card"><div class="label">p99 latency</div><div class="value" id="p99">–</div></div>
    </div>
    <div class="charts" style="margin-top:16px">
      <section><h2>Throughput (queries/s)</h2><svg id="chart-throughput" viewBox="0 0 400 170" preserveAspectRatio="none"></svg>
        <div class="legend"><span><i style="background:var(--a)"></i>answered/s</span></div></section>
      <section><h2>Latency (ms, elapsed at the broker)</h2><svg id="chart-latency" viewBox="0 0 400 170" preserveAspectRatio="none"></svg>
        <div class="legend"><span><i style="background:var(--a)"></i>p50</span><span><i style="background:var(--b)"></i>p90</span><span><i style="background:var(--c)"></i>p99</span></div></section>
    </div>
    <section style="margin-top:16px">
      <h2>Servants</h2>
      <table id="servants"><thead><tr><th>Servant</th><th>State</th><th class="num">In flight</th><th class="num">Capacity</th>
        <th class="num">Served</th><th class="num">Lost</th><th class="num">Mean exec (ms)</th><th>Last routing</th></tr></thead><tbody></tbody></table>
      <p class="empty" id="no-servants" hidden>No servants yet.</p>
    </section>
  </div>
  <div id="hub" hidden>
    <section>
      <h2>Spokes</h2>
      <table id="spokes"><thead><tr><th class="num">Id</th><th>Service</th><th>Role</th><th>Endpoint</th><th>Host</th>
        <th class="num">Pid</th><th>State</th></tr></thead><tbody></tbody></table>
      <p class="empty" id="no-spokes" hidden>No spokes registered.</p>
    </section>
    <section style="margin-top:16px">
      <h2>Recent crash reports (<span id="crashes-held">0</span> held)</h2>
      <table id="crashes"><thead><tr><th>When</th><th class="num">Spoke</th><th>Service</th><th>Role</th><th>Endpoint</th>
        <th class="num">Pid</th><th>Reason</th></tr></thead><tbody></tbody></table>
      <p class="empty" id="no-crashes" hidden>No crash reports.</p>
    </section>
  </div>
</main>
<footer>Refreshes every <span id="every"></span> s · last update <span id="updated">never</span> · <a href="metrics">/metrics</a> · <a href="status.json">status.json</a></footer>
<script>
"use strict";
const every = Math.max(250, Number(new URLSearchParams(location.search).get("refresh")) || 2000);
document.getElementById("every").textContent = (every / 1000).toString();
const $ = (id) => document.getElementById(id);
const fmt = (n, digits) => n == null ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits ?? 0 });

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tableId, emptyId, items, render) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  for (const item of items) {
    const row = document.createElement("tr");
    render(row, item);
    body.appendChild(row);
  }
  $(emptyId).hidden = items.length > 0;
}

const NS = "http://www.w3.org/2000/svg";
function svgElement(name, attributes, text) {
  const element = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text != null) element.textContent = text;
  return element;
}

// A line chart of `series` ([{key, color}]) over `points` ({time, ...}).
function chart(svgId, points, series) {
  const svg = $(svgId);
  svg.replaceChildren();
  const width = 400, height = 170, left = 34, right = 6, top = 8, bottom = 18;
  let max = 0;
  for (const point of points) for (const s of series) if (point[s.key] != null) max = Math.max(max, point[s.key]);
  max = max > 0 ? max * 1.1 : 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + (height - top - bottom) * i / 4;
    svg.appendChild(svgElement("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid" }));
    svg.appendChild(svgElement("text", { x: 2, y: y + 3 }, fmt(max * (1 - i / 4), max < 10 ? 2 : 0)));
  }
  if (points.length === 0) {
    svg.appendChild(svgElement("text", { x: left + 8, y: height / 2 }, "collecting…"));
    return;
  }
  const t0 = points[0].time, t1 = Math.max(points[points.length - 1].time, t0 + 1);
  svg.appendChild(svgElement("text", { x: left, y: height - 4 }, new Date(t0 * 1000).toLocaleTimeString()));
  svg.appendChild(svgElement("text", { x: width - right, y: height - 4, "text-anchor": "end" }, new Date(t1 * 1000).toLocaleTimeString()));
  for (const s of series) {
    const xy = points.filter((p) => p[s.key] != null).map((p) =>
      [left + (width - left - right) * (p.time - t0) / (t1 - t0), top + (height - top - bottom) * (1 - p[s.key] / max)]);
    if (xy.length === 0) continue;
    svg.appendChild(svgElement("polyline", {
      points: xy.map(([x, y]) => x.toFixed(1) + "," + y.toFixed(1)).join(" "),
      fill: "none", stroke: s.color, "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
  }
}

function showBroker(s) {
  $("title").textContent = "MServe broker · " + s.service;
  $("broker").hidden = false;
  const ready = s.servants.filter((v) => v.state === "ready").length;
  $("servants-ready").textContent = ready + " / " + s.servants.length;
  $("queued").textContent = fmt(s.queued);
  $("in-flight").textContent = fmt(s.inFlight);
  $("answered").textContent = fmt(s.answered);
  const last = s.history[s.history.length - 1];
  $("throughput").textContent = last ? fmt(last.perSecond, 1) : "–";
  $("p99").textContent = last && last.p99Milliseconds != null ? fmt(last.p99Milliseconds, 2) + " ms" : "–";
  fill("servants", "no-servants", s.servants, (row, v) => {
    row.className = "servant";
    row.dataset.name = v.name;
    row.dataset.state = v.state;
    cell(row, v.name, "mono");
    cell(row, v.state, "state-" + v.state);
    cell(row, fmt(v.inFlight), "num");
    cell(row, fmt(v.capacity), "num");
    cell(row, fmt(v.served), "num");
    cell(row, fmt(v.lost), "num");
    cell(row, fmt(v.meanExecutionMilliseconds, 3), "num");
    cell(row, v.lastRouting, "mono");
  });
  chart("chart-throughput", s.history, [{ key: "perSecond", color: "var(--a)" }]);
  chart("chart-latency", s.history, [
    { key: "p50Milliseconds", color: "var(--a)" }, { key: "p90Milliseconds", color: "var(--b)" },
    { key: "p99Milliseconds", color: "var(--c)" }]);
}

function showHub(s) {
  $("hub").hidden = false;
  fill("spokes", "no-spokes", s.spokes, (row, v) => {
    row.className = "spoke";
    row.dataset.role = v.role;
    cell(row, String(v.id), "num");
    cell(row, v.service);
    cell(row, v.role);
    cell(row, v.endpoint, "mono");
    cell(row, v.host);
    cell(row, String(v.pid), "num");
    cell(row, v.state, "state-" + v.state);
  });
  $("crashes-held").textContent = fmt(s.crashReportsHeld);
  fill("crashes", "no-crashes", s.crashes, (row, v) => {
    row.className = "crash";
    cell(row, new Date(v.time * 1000).toLocaleString());
    cell(row, String(v.spoke), "num");
    cell(row, v.service);
    cell(row, v.role);
    cell(row, v.endpoint, "mono");
    cell(row, String(v.pid), "num");
    cell(row, v.reason);
  });
}

async function refresh() {
  try {
    const response = await fetch("status.json", { cache: "no-store" });
    const s = await response.json();
    $("endpoint").textContent = s.endpoint;
    const badge = $("readiness");
    badge.textContent = s.ready ? "ready" : "not ready: " + s.readiness;
    badge.className = "badge " + (s.ready ? "ok" : "bad");
    if (s.role === "broker") {
      showBroker(s);
      // A broker in --hub auto mode shows the hub too while it serves it.
      if (s.hub && s.hub.live) showHub(s.hub); else $("hub").hidden = true;
    } else {
      $("title").textContent = "MServe hub";
      showHub(s);
    }
    $("updated").textContent = new Date().toLocaleTimeString();
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  } catch (error) {
    const badge = $("readiness");
    badge.textContent = "unreachable";
    badge.className = "badge bad";
  } finally {
    setTimeout(refresh, every);
  }
}
refresh();
</script>
</body>
</html>
"""#
}
