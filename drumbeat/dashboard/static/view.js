// Rendering helpers and the page's frame (sign-in, campaign list, header, budget).
// Data only ever goes through textContent and element properties, never HTML.

export const $ = (id) => document.getElementById(id);

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

export function setText(id, text) {
  $(id).textContent = text;
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

export function time(iso) {
  const node = el("time", new Date(iso).toLocaleTimeString(), "muted");
  node.dateTime = iso;
  return node;
}
