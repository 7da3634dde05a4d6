// The live feed: the last 100 events replayed on load, then each live event, newest first.
// A row names the recipient, the step and action type, and why for FAILED/SKIPPED/DEFERRED.
import { $, el, time } from "./view.js";

export const FEED_LIMIT = 100;
const WHY = new Set(["FAILED", "SKIPPED", "DEFERRED"]);

// The parts of one event's row (also used by the failures panel).
export function eventRow(event) {
  const item = el("li");
  item.dataset.type = event.type;
  item.dataset.id = String(event.id);
  const who = event.recipient;
  const step = event.step;
  const action = event.actionType || step?.actionType || "";
  item.append(time(event.createdAt),
    el("strong", event.type, `type type-${event.type.toLowerCase()}`),
    el("span", who ? who.name : "", "recipient"),
    el("span", event.address || who?.address || "", "address"),
    el("span", step ? step.name : "", "step"),
    el("span", action, "action muted"));
  if (WHY.has(event.type)) item.append(el("span", reason(event), "reason"));
  else if (event.detail) item.append(el("span", event.detail, "detail muted"));
  return item;
}

function reason(event) {
  const text = event.reason || event.detail || "no reason given";
  if (event.type !== "DEFERRED" || !event.retryAt) return text;
  return `${text} — retry at ${new Date(event.retryAt).toLocaleTimeString()}`;
}

export function clear() {
  $("feed").replaceChildren();
}

export function note(text) {
  prepend(el("li", text, "note"));
}

export function add(event) {
  prepend(eventRow(event));
}

// Events oldest first (as Campaign.recentEvents returns them): the newest ends on top.
export function replay(events) {
  for (const event of events) add(event);
}

function prepend(item) {
  const feed = $("feed");
  feed.prepend(item);
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
}
