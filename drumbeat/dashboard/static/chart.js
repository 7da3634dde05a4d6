// Sent / opened / clicked per hour over the last 48 hours (Campaign.metricsTimeSeries):
// an SVG built with DOM calls; colours and sizes come from classes in dashboard.css.
import { $, setText } from "./view.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 480;
const H = 160;
const PAD = { left: 34, right: 8, top: 8, bottom: 20 };
const SERIES = [["sent", "Sent"], ["opens", "Opened"], ["clicks", "Clicked"]];

function node(tag, attributes = {}, text = "") {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text) element.textContent = text;
  return element;
}

const hour = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

export function render(buckets) {
  const totals = Object.fromEntries(SERIES.map(([key]) =>
    [key, buckets.reduce((sum, b) => sum + b[key], 0)]));
  for (const [key] of SERIES) setText(`chart-${key}`, String(totals[key]));
  const max = Math.max(1, ...buckets.flatMap((b) => SERIES.map(([key]) => b[key])));
  const width = W - PAD.left - PAD.right;
  const height = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (buckets.length > 1 ? (i * width) / (buckets.length - 1) : width);
  const y = (v) => PAD.top + height - (v * height) / max;

  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-labelledby": "chart-caption" });
  svg.append(node("line", { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: "axis" }),
    node("line", { x1: PAD.left, x2: W - PAD.right, y1: y(max), y2: y(max), class: "grid" }),
    node("text", { x: PAD.left - 4, y: y(max) + 4, class: "label end" }, String(max)),
    node("text", { x: PAD.left - 4, y: y(0) + 4, class: "label end" }, "0"));
  if (buckets.length) {
    svg.append(node("text", { x: PAD.left, y: H - 4, class: "label" }, hour(buckets[0].start)),
      node("text", { x: W - PAD.right, y: H - 4, class: "label end" }, "now"));
  }
  for (const [key, label] of SERIES) {
    const group = node("g", { class: `series series-${key}` });
    group.dataset.series = key;
    group.append(node("title", {}, `${label}: ${totals[key]} in ${buckets.length} h`),
      node("polyline", { points: buckets.map((b, i) => `${x(i)},${y(b[key])}`).join(" ") }));
    buckets.forEach((b, i) => {
      if (!b[key]) return;
      const dot = node("circle", { cx: x(i), cy: y(b[key]), r: 3 });
      dot.append(node("title", {}, `${hour(b.start)}: ${b[key]} ${label.toLowerCase()}`));
      group.append(dot);
    });
    svg.append(group);
  }
  $("chart").replaceChildren(svg);
}
