// The numbers: delivery counters (the ledger), message tiles and funnel (metrics.totals,
// messages only), work items (metrics.workItems and byActionType). Each number is defined
// once, in index.html, next to its tile.
import { $, el, setText, show } from "./view.js";

const COUNTER_PARTS = ["waiting", "inProgress", "done", "failed", "skipped"];
const MESSAGE_TILES = ["sent", "delivered", "uniqueOpens", "uniqueClicks", "replies", "bounces",
  "unsubscribes", "reached", "conversions"];
const RATES = ["openRate", "clickRate", "replyRate", "bounceRate", "unsubscribeRate",
  "conversionRate"];
const WORK_COLUMNS = ["total", "created", "pending", "failed", "skipped"];

export function counters(values) {
  for (const key of ["total", ...COUNTER_PARTS]) setText(`counter-${key}`, String(values[key]));
  const sum = COUNTER_PARTS.reduce((total, key) => total + values[key], 0);
  const check = $("counter-check");
  check.textContent = `${values.total} = ${COUNTER_PARTS.map((k) => values[k]).join(" + ")}`
    + (sum === values.total ? "" : ` — does not add up (${sum})`);
  check.classList.toggle("error", sum !== values.total);
}

export function rate(value) {
  return value === null || value === undefined ? "—" : `${value} %`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function metrics(m) {
  const t = m.totals;
  for (const key of MESSAGE_TILES) setText(`msg-${key}`, String(t[key]));
  for (const key of RATES) setText(`rate-${key}`, rate(t[key]));
  setText("msg-medianReaction", duration(t.medianReactionSeconds));
  funnel(t);
  workItems(m);
}

function funnel(t) {
  // [row, label, count, rate shown, bar maximum]
  const rows = [["sent", "Sent", t.sent, null, t.sent],
    ["delivered", "Delivered", t.delivered, null, t.sent],
    ["opened", "Opened", t.uniqueOpens, t.openRate, t.sent],
    ["clicked", "Clicked", t.uniqueClicks, t.clickRate, t.sent],
    ["replied", "Replied", t.replies, t.replyRate, t.sent],
    ["converted", "Converted", t.conversions, t.conversionRate, t.reached]];
  $("funnel").replaceChildren(...rows.map(([step, label, count, shown, max]) => {
    const row = el("tr");
    row.dataset.step = step;
    const bar = el("meter");
    bar.min = 0;
    bar.max = Math.max(max, 1);
    bar.value = count;
    const cells = [el("th", label), el("td", String(count), "num"),
      el("td", shown === null ? "" : rate(shown), "num muted rate"), el("td")];
    cells[3].append(bar);
    row.append(...cells);
    return row;
  }));
}

function workItems(m) {
  const types = m.byActionType.filter((a) => a.deliveryKind === "WORK_ITEM");
  const line = (label, counts, actionType) => {
    const row = el("tr");
    if (actionType) row.dataset.actionType = actionType;
    row.append(el("th", label), ...WORK_COLUMNS.map((k) => el("td", String(counts[k]), "num")));
    return row;
  };
  const rows = types.map((a) => line(a.actionType, a.workItems, a.actionType));
  if (types.length !== 1) rows.push(line("All work items", m.workItems, ""));
  $("work-items").replaceChildren(...rows);
  show("work-items-card", m.workItems.total > 0 || types.length > 0);
}
