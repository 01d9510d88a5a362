// The dashboard: polls its figures (last hour per minute, or last day per hour) and redraws the charts.
(function () {
  "use strict";
  const script = document.currentScript;
  const url = script.dataset.figuresUrl;
  const charts = window.consoleCharts;
  const REFRESH_MS = 15000;
  const updated = document.getElementById("updated");
  let timer = null;

  function label(start, window) {
    const date = new Date(start * 1000);
    const hh = String(date.getHours()).padStart(2, "0"), mm = String(date.getMinutes()).padStart(2, "0");
    return window === "hour" ? hh + ":" + mm : hh + "h";
  }

  function keysOf(series, field) {
    const names = new Set();
    series.forEach(function (point) { Object.keys(point[field] || {}).forEach(function (k) { names.add(k); }); });
    const order = ["completed", "failed", "cancelled", "in_progress", "queued", "requires_action"];
    return Array.from(names).sort(function (a, b) { return (order.indexOf(a) + 100) % 100 - (order.indexOf(b) + 100) % 100 || a.localeCompare(b); });
  }

  function draw(figures) {
    const window = figures.window;
    const points = function (field) {
      return figures.series.map(function (p) { return { label: label(p.start, window), values: p[field] || {} }; });
    };
    charts.stackedBars(document.getElementById("chart-runs"), points("runs"), keysOf(figures.series, "runs"));
    charts.horizontalBars(document.getElementById("chart-errors"),
      Object.keys(figures.errors).map(function (code) { return { label: code, values: { failed: figures.errors[code] } }; }),
      ["failed"]);
    charts.lines(document.getElementById("chart-latency"), points("latency_seconds"), ["p50", "p99"], "s");
    charts.lines(document.getElementById("chart-ttft"), points("ttft_seconds"), ["p50", "p99"], "s");
    charts.stackedBars(document.getElementById("chart-tokens"), points("tokens"), ["prompt", "completion"]);
    const tools = document.getElementById("chart-tools");
    if (figures.tool_calls === null) {
      charts.empty(tools, "Counted for the last hour only.");
    } else {
      charts.horizontalBars(tools,
        Object.keys(figures.tool_calls).sort().map(function (kind) { return { label: kind, values: figures.tool_calls[kind] }; }),
        ["ok", "error"]);
    }
    updated.textContent = "updated " + new Date(figures.generated_at).toLocaleTimeString();
    updated.className = "console-connection up";
  }

  function selectedWindow() { return document.querySelector("input[name=window]:checked").value; }

  function refresh() {
    clearTimeout(timer);
    fetch(url + "?window=" + selectedWindow(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error ? body.error.message : "HTTP " + response.status);
          return body;
        });
      })
      .then(draw)
      .catch(function (error) {
        updated.textContent = "could not refresh: " + error.message;
        updated.className = "console-connection down";
      })
      .finally(function () { timer = setTimeout(refresh, REFRESH_MS); });
  }

  document.querySelectorAll("input[name=window]").forEach(function (radio) { radio.addEventListener("change", refresh); });
  refresh();
})();
