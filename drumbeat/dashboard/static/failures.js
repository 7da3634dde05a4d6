// The failures panel: recent FAILED and DEFERRED events with their reason (replayed on
// load, then live), and on demand the failed deliveries from
// campaign.deliveries(filter: {state: FAILED}, first: 50).
import { FAILURE_TYPES, RECENT_FAILURES } from "./api.js";
import { eventRow } from "./feed.js";
import { $, el, show } from "./view.js";

const TYPES = new Set(FAILURE_TYPES);
let seen = new Set();
let listOpen = false;
let failed = 0;

export function isFailure(event) {
  return TYPES.has(event.type);
}

export function clear() {
  seen = new Set();
  failed = 0;
  $("failures").replaceChildren();
  show("failures-empty");
  closeList();
}

// Events oldest first: the newest ends on top; an event seen twice is shown once.
export function add(event) {
  if (!isFailure(event) || seen.has(event.id)) return;
  seen.add(event.id);
  const list = $("failures");
  const row = eventRow(event);
  const newer = [...list.children].find((r) => Number(r.dataset.id) < event.id);
  list.insertBefore(row, newer || null);
  while (list.children.length > RECENT_FAILURES) list.lastElementChild.remove();
  show("failures-empty", false);
}

export function failedCount(count) {
  failed = count;
  label();
}

function label() {
  $("failed-toggle").textContent = listOpen ? "Hide the failed deliveries"
    : `List the failed deliveries (${failed})`;
}

export function isListOpen() {
  return listOpen;
}

// The toggle asks for a refresh that includes the list (see app.js); closing just hides it.
export function onToggle(refresh) {
  $("failed-toggle").addEventListener("click", () => {
    listOpen = !listOpen;
    if (listOpen) {
      $("failed-toggle").textContent = "Loading the failed deliveries…";
      refresh();
    } else {
      closeList();
    }
  });
}

function closeList() {
  listOpen = false;
  show("failed-deliveries", false);
  label();
}

export function deliveries(connection) {
  if (!listOpen || !connection) return;
  const rows = connection.edges.map(({ node: d }) => {
    const row = el("tr");
    row.dataset.deliveryId = String(d.deliveryId);
    row.append(el("td", d.recipient.name, "recipient"),
      el("td", d.address || d.recipient.address || "", "address"),
      el("td", d.step.name, "step"), el("td", d.actionType, "action"),
      el("td", String(d.attempts), "num attempts"), el("td", d.reason || "", "reason"));
    return row;
  });
  $("failed-rows").replaceChildren(...rows);
  show("failed-none", rows.length === 0);
  show("failed-more", connection.pageInfo.hasNextPage);
  show("failed-deliveries");
  label();
}
