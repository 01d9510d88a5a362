// Small inline-SVG charts for the dashboard: stacked bars over time, lines over time, horizontal bars.
// No library: every chart is a handful of SVG elements; each drawn mark carries its figure in data-value.
(function (global) {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 560, HEIGHT = 180, LEFT = 44, BOTTOM = 20, TOP = 8;
  const PALETTE = {
    completed: "#2e7d32", ok: "#2e7d32", prompt: "#1565c0", p50: "#1565c0",
    failed: "#c62828", error: "#c62828", completion: "#ef6c00", p99: "#ef6c00",
    cancelled: "#757575", in_progress: "#6a1b9a", queued: "#9e9e9e", requires_action: "#f9a825",
  };
  const EXTRA = ["#00838f", "#ad1457", "#558b2f", "#4527a0", "#d84315"];

  function colour(name, index) { return PALETTE[name] || EXTRA[index % EXTRA.length]; }

  function svgEl(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const key in attributes) node.setAttribute(key, attributes[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function frame(container, max, labels) {
    container.textContent = "";
    const svg = svgEl("svg", { viewBox: "0 0 " + WIDTH + " " + HEIGHT, role: "img", class: "chart-svg" });
    const plotHeight = HEIGHT - BOTTOM - TOP;
    for (const fraction of [0, 0.5, 1]) {
      const y = TOP + plotHeight * (1 - fraction);
      svg.appendChild(svgEl("line", { x1: LEFT, x2: WIDTH, y1: y, y2: y, class: "grid" }));
      svg.appendChild(svgEl("text", { x: LEFT - 4, y: y + 4, "text-anchor": "end", class: "axis" }, format(max * fraction)));
    }
    const step = Math.max(1, Math.ceil(labels.length / 6));
    labels.forEach(function (label, index) {
      if (index % step) return;
      svg.appendChild(svgEl("text", { x: xAt(index, labels.length) + 2, y: HEIGHT - 4, class: "axis" }, label));
    });
    container.appendChild(svg);
    return svg;
  }

  function xAt(index, count) { return LEFT + (WIDTH - LEFT) * index / Math.max(1, count); }

  function format(value) {
    if (value >= 1000) return (value / 1000).toFixed(value >= 10000 ? 0 : 1) + "k";
    if (value && value < 10 && value % 1) return value.toFixed(2);
    return String(Math.round(value));
  }

  function legend(container, names) {
    const list = document.createElement("div");
    list.className = "legend";
    names.forEach(function (name, index) {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = colour(name, index);
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(name));
      list.appendChild(item);
    });
    container.appendChild(list);
  }

  function empty(container, message) {
    container.textContent = "";
    const note = document.createElement("p");
    note.className = "chart-empty";
    note.textContent = message;
    container.appendChild(note);
  }

  // points: [{label, values: {series: number}}]
  function stackedBars(container, points, names) {
    const totals = points.map(function (p) { return names.reduce(function (sum, n) { return sum + (p.values[n] || 0); }, 0); });
    const max = Math.max.apply(null, totals.concat([0]));
    if (!max) return empty(container, "Nothing in this window yet.");
    const svg = frame(container, max, points.map(function (p) { return p.label; }));
    const plotHeight = HEIGHT - BOTTOM - TOP;
    const width = Math.max(1, (WIDTH - LEFT) / points.length - 1);
    points.forEach(function (point, index) {
      let base = HEIGHT - BOTTOM;
      names.forEach(function (name, nameIndex) {
        const value = point.values[name] || 0;
        if (!value) return;
        const height = plotHeight * value / max;
        base -= height;
        const bar = svgEl("rect", { x: xAt(index, points.length), y: base, width: width, height: height,
          fill: colour(name, nameIndex), class: "bar", "data-series": name, "data-value": value });
        bar.appendChild(svgEl("title", {}, point.label + " · " + name + ": " + value));
        svg.appendChild(bar);
      });
    });
    legend(container, names);
  }

  // points: [{label, values: {series: number|null}}]
  function lines(container, points, names, unit) {
    const all = [];
    points.forEach(function (p) { names.forEach(function (n) { if (p.values[n] !== null && p.values[n] !== undefined) all.push(p.values[n]); }); });
    if (!all.length) return empty(container, "Nothing in this window yet.");
    const max = Math.max.apply(null, all) || 1;
    const svg = frame(container, max, points.map(function (p) { return p.label; }));
    const plotHeight = HEIGHT - BOTTOM - TOP;
    names.forEach(function (name, nameIndex) {
      let path = "";
      points.forEach(function (point, index) {
        const value = point.values[name];
        if (value === null || value === undefined) return;
        const x = xAt(index, points.length) + 2, y = TOP + plotHeight * (1 - value / max);
        path += (path ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
        const dot = svgEl("circle", { cx: x, cy: y, r: 2.5, fill: colour(name, nameIndex), class: "dot",
          "data-series": name, "data-value": value });
        dot.appendChild(svgEl("title", {}, point.label + " · " + name + ": " + value + " " + unit));
        svg.appendChild(dot);
      });
      if (path) svg.appendChild(svgEl("path", { d: path, fill: "none", stroke: colour(name, nameIndex), "stroke-width": 1.5 }));
    });
    legend(container, names);
  }

  // rows: [{label, values: {series: number}}], drawn as horizontal stacked bars
  function horizontalBars(container, rows, names) {
    const totals = rows.map(function (r) { return names.reduce(function (sum, n) { return sum + (r.values[n] || 0); }, 0); });
    const max = Math.max.apply(null, totals.concat([0]));
    if (!max) return empty(container, "None in this window.");
    container.textContent = "";
    const rowHeight = 22, labelWidth = 160;
    const svg = svgEl("svg", { viewBox: "0 0 " + WIDTH + " " + (rows.length * rowHeight + 4), role: "img", class: "chart-svg" });
    rows.forEach(function (row, index) {
      const y = index * rowHeight + 2;
      svg.appendChild(svgEl("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end", class: "axis" }, row.label));
      let x = labelWidth;
      names.forEach(function (name, nameIndex) {
        const value = row.values[name] || 0;
        if (!value) return;
        const width = (WIDTH - labelWidth - 40) * value / max;
        const bar = svgEl("rect", { x: x, y: y, width: width, height: rowHeight - 6, fill: colour(name, nameIndex),
          class: "bar", "data-series": name, "data-value": value, "data-row": row.label });
        bar.appendChild(svgEl("title", {}, row.label + " · " + name + ": " + value));
        svg.appendChild(bar);
        x += width;
      });
      svg.appendChild(svgEl("text", { x: x + 4, y: y + 14, class: "axis" }, String(totals[index])));
    });
    container.appendChild(svg);
    if (names.length > 1) legend(container, names);
  }

  global.consoleCharts = { stackedBars: stackedBars, lines: lines, horizontalBars: horizontalBars, empty: empty };
})(window);
