// 統計: draws the statistics page's charts with uPlot (vendored, loaded before this module as a
// classic script: window.uPlot). The numbers come from the page's JSON block; the tables under
// the charts hold the same numbers for screen readers and for printing.

const data = JSON.parse(document.getElementById("stats-chart-data")?.textContent || "{}");

function width(holder) {
  return Math.max(260, Math.floor(holder.getBoundingClientRect().width));
}

function dayChart(holder) {
  // Days as local midnight timestamps (seconds), as uPlot's time axis expects.
  const xs = data.days.map((day) => {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(y, m - 1, d).getTime() / 1000;
  });
  return new window.uPlot(
    {
      width: width(holder),
      height: 220,
      series: [
        { label: holder.dataset.labelDay },
        { label: holder.dataset.labelOpened, stroke: "#2563eb", width: 2 },
        { label: holder.dataset.labelClosed, stroke: "#16a34a", width: 2 },
      ],
      axes: [{}, { size: 40 }],
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    },
    [xs, data.opened, data.closed],
    holder,
  );
}

function barChart(holder, names, values) {
  const labels = names.map((name) => name || holder.dataset.unassigned);
  const xs = labels.map((_, i) => i);
  const bars = window.uPlot.paths.bars({ size: [0.6, 48] });
  return new window.uPlot(
    {
      width: width(holder),
      height: 200,
      series: [
        { label: holder.dataset.labelName, value: (u, i) => labels[i] ?? "" },
        { label: holder.dataset.labelOpened, fill: "#6366f1", stroke: "#4f46e5", paths: bars, points: { show: false } },
      ],
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [
        { splits: () => xs, values: (u, splits) => splits.map((i) => labels[i] ?? "") },
        { size: 40 },
      ],
    },
    [xs, values],
    holder,
  );
}

function draw() {
  if (!window.uPlot || !data.days) return false;
  const charts = [];
  for (const holder of document.querySelectorAll("[data-chart]")) {
    holder.replaceChildren();
    const kind = holder.dataset.chart;
    if (kind === "days") charts.push([holder, dayChart(holder)]);
    if (kind === "channels") charts.push([holder, barChart(holder, data.channels, data.channel_opened)]);
    if (kind === "members") charts.push([holder, barChart(holder, data.members, data.member_opened)]);
  }
  // A phone turned sideways: the charts follow the width of their card.
  let pending = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      for (const [holder, chart] of charts) chart.setSize({ width: width(holder), height: chart.height });
    });
  });
  return true;
}

// The classic script is deferred like this module: it has run by now, unless it failed to load.
if (!draw()) window.addEventListener("load", draw, { once: true });
