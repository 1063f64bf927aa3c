// custodes: draws the public report's charts with Chart.js from the JSON
// data block the page carries (#chart-data). The tables under each chart
// hold the same numbers; this script only draws.
"use strict";
(function () {
  var el = document.getElementById("chart-data");
  if (!el || typeof Chart === "undefined") { return; }
  var data = JSON.parse(el.textContent);
  var charts = {};
  window.custodesCharts = charts;

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  Chart.defaults.color = "#5b6572";
  Chart.defaults.datasets.bar.maxBarThickness = 48;

  var green = "#2f9e55", red = "#c8392b";
  var palette = ["#c8392b", "#e07b39", "#d4a72c", "#8e5ea2", "#3e95cd", "#3cba9f", "#7a8b99", "#b5476b", "#5d6d7e", "#1f4e79"];
  var units = ["#1f4e79", "#3e95cd", "#3cba9f", "#8e5ea2", "#e07b39", "#b5476b", "#7a8b99"];

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { charts[id] = new Chart(canvas, config); }
  }

  // capLine draws a horizontal line at options.plugins.capLine.value.
  var capLine = {
    id: "capLine",
    afterDatasetsDraw: function (chart, args, opts) {
      if (!opts || !opts.value) { return; }
      var y = chart.scales.y.getPixelForValue(opts.value), area = chart.chartArea, ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = red; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(area.left, y); ctx.lineTo(area.right, y); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = red; ctx.font = "12px system-ui, sans-serif";
      ctx.fillText(opts.label + " " + opts.value, area.left + 6, y - 5);
      ctx.restore();
    }
  };

  var s = data.series;
  if (s && s.labels.length) {
    draw("chart-statements", {
      type: "bar",
      data: { labels: s.labels, datasets: [
        { label: "allowed", data: s.allowed, backgroundColor: green },
        { label: "denied", data: s.denied, backgroundColor: red }
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } } }
    });
    if (s.rules.length) {
      draw("chart-denials-time", {
        type: "bar",
        data: { labels: s.labels, datasets: s.rules.map(function (rule, i) {
          return { label: rule, data: s.by_rule[i], backgroundColor: palette[i % palette.length] };
        }) },
        options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
          plugins: { legend: { position: "bottom" }, title: { display: true, text: "denials per " + s.step } } }
      });
    }
  }

  if (data.denials && data.denials.length) {
    draw("chart-denials", {
      type: "bar",
      data: { labels: data.denials.map(function (d) { return d.rule; }),
        datasets: [{ label: "denials", data: data.denials.map(function (d) { return d.count; }),
          backgroundColor: data.denials.map(function (d, i) { return palette[i % palette.length]; }) }] },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { display: false }, title: { display: true, text: "denials in the period" } } }
    });
  }

  var cov = data.coverage;
  if (cov && cov.days && cov.days.length && cov.units.length) {
    var top = cov.unit_cap || 0;
    cov.units.forEach(function (u) { u.max.forEach(function (v) { top = Math.max(top, v); }); });
    draw("chart-coverage", {
      type: "bar",
      data: { labels: cov.days, datasets: cov.units.map(function (u, i) {
        var c = units[i % units.length];
        return { label: u.name, data: u.min.map(function (lo, k) { return [lo, u.max[k]]; }),
          backgroundColor: c + "55", borderColor: c, borderWidth: 1 };
      }) },
      options: {
        scales: { y: { beginAtZero: true, suggestedMax: Math.ceil(top * 1.1), ticks: { precision: 0 },
          title: { display: true, text: "distinct subjects in " + cov.window_days + " days (band)" } } },
        plugins: { legend: { position: "bottom" }, capLine: { value: cov.unit_cap, label: "unit cap" },
          tooltip: { callbacks: { label: function (ctx) {
            var v = ctx.raw; return ctx.dataset.label + ": " + (v[0] === v[1] ? v[0] : v[0] + "–" + v[1]);
          } } } }
      },
      plugins: [capLine]
    });
  }

  if (data.storage && data.storage.length) {
    var days = [];
    data.storage.forEach(function (t) { t.days.forEach(function (d) { if (days.indexOf(d) < 0) { days.push(d); } }); });
    days.sort();
    draw("chart-storage", {
      type: "line",
      data: { labels: days, datasets: data.storage.map(function (t, i) {
        return { label: t.tenant + " (MiB)", borderColor: units[i % units.length], backgroundColor: units[i % units.length],
          data: days.map(function (d) { var k = t.days.indexOf(d); return k < 0 ? null : t.bytes[k] / 1048576; }),
          spanGaps: true, pointRadius: 3 };
      }) },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "stored data, MiB" } } },
        plugins: { legend: { position: "bottom" } } }
    });
  }
})();
