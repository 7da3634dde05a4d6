// Rendering. Data only ever goes through textContent and element properties, never HTML.

const FEED_LIMIT = 100;
const $ = (id) => document.getElementById(id);

export function el(tag, text = "", className = "") {
  const node = document.createElement(tag);
  if (text !== "") node.textContent = text;
  if (className) node.className = className;
  return node;
}

export function show(id, visible = true) {
  $(id).hidden = !visible;
}

export function message(id, text) {
  $(id).textContent = text || "";
  show(id, Boolean(text));
}

export function liveState(state, label) {
  $("live").dataset.state = state;
  $("live").textContent = label;
}

export function campaignList(campaigns, onPick) {
  const list = $("campaigns");
  list.replaceChildren(...campaigns.map((c) => {
    const button = el("button", c.name);
    button.type = "button";
    button.dataset.id = c.id;
    button.append(el("small", c.state, "muted"));
    button.addEventListener("click", () => onPick(c.id));
    const item = el("li");
    item.append(button);
    return item;
  }));
  if (!campaigns.length) list.append(el("li", "No campaigns.", "muted"));
}

export function markPicked(id) {
  for (const button of $("campaigns").querySelectorAll("button")) {
    button.classList.toggle("picked", button.dataset.id === id);
  }
}

export function header(campaign) {
  $("campaign-name").textContent = campaign.name;
  state(campaign.state);
}

export function state(value) {
  $("campaign-state").textContent = value;
  const listed = $("campaigns").querySelector("button.picked small");
  if (listed) listed.textContent = value;
}

export function counters(values) {
  for (const key of ["done", "pending", "inProgress", "failed", "skipped", "total"]) {
    $(`counter-${key}`).textContent = String(values[key]);
  }
}

export function funnel(totals) {
  const steps = [["Sent", totals.sent, null], ["Opened", totals.uniqueOpens, totals.openRate],
    ["Clicked", totals.uniqueClicks, totals.clickRate],
    ["Converted", totals.conversions, totals.conversionRate]];
  $("funnel").replaceChildren(...steps.map(([label, count, rate]) => {
    const row = el("tr");
    row.dataset.step = label.toLowerCase();
    const bar = el("meter");
    bar.min = 0;
    bar.max = Math.max(totals.sent, 1);
    bar.value = count;
    const cells = [el("th", label), el("td", String(count), "num"),
      el("td", rate === null ? "" : `${rate} %`, "num muted"), el("td")];
    cells[3].append(bar);
    row.append(...cells);
    return row;
  }));
}

export function budget(b) {
  const meter = $("budget-meter");
  if (b.total === null) {
    $("budget").textContent = `${b.spent} ${b.currency} spent, no budget set`;
    meter.hidden = true;
    return;
  }
  const over = b.overBudget ? " — over budget" : "";
  $("budget").textContent =
    `${b.spent} of ${b.total} ${b.currency} spent (${b.utilisation} %)${over}`;
  meter.hidden = false;
  meter.value = Math.min(Number(b.utilisation), 100);
}

// Where a workflow campaign's recipients are: one row per state (of every version), its
// count per status. Hidden while nobody is enrolled (a campaign without a workflow).
export function workflow(counts) {
  const states = new Map();
  for (const c of counts) {
    const key = `${c.stateKey} (v${c.version})`;
    if (!states.has(key)) states.set(key, { key: c.stateKey, total: 0, statuses: [] });
    const state = states.get(key);
    state.total += c.count;
    state.statuses.push(`${c.count} ${c.status.toLowerCase()}`);
  }
  $("workflow").replaceChildren(...[...states].map(([label, state]) => {
    const row = el("tr");
    row.dataset.state = state.key;
    row.append(el("th", label), el("td", String(state.total), "num"),
      el("td", state.statuses.join(", "), "muted"));
    return row;
  }));
  show("workflow-card", counts.length > 0);
}

export function clearFeed() {
  $("feed").replaceChildren();
}

export function feedNote(text) {
  prepend(el("li", text, "note"));
}

export function feedEvent(event) {
  const item = el("li");
  item.dataset.type = event.type;
  item.append(el("time", new Date(event.createdAt).toLocaleTimeString(), "muted"),
    el("strong", event.type, `type type-${event.type.toLowerCase()}`),
    el("span", event.address || "", "address"), el("span", event.detail || "", "muted"));
  prepend(item);
}

function prepend(item) {
  const feed = $("feed");
  feed.prepend(item);
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
}
