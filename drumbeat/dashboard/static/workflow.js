// Where a workflow campaign's recipients are: one row per state (of every version) by its
// name, its count per status. Hidden while nobody is enrolled (a campaign without a
// workflow). Enrollment counts carry state keys; Campaign.workflow names the current
// version's states (a key no longer in it is shown as is).
import { $, el, show } from "./view.js";

let names = new Map();
let counts = [];

export function clear() {
  names = new Map();
  counts = [];
  render();
}

export function states(workflow) {
  const next = new Map((workflow?.states || []).map((s) => [s.key, s.name]));
  const changed = next.size !== names.size || [...next].some(([k, v]) => names.get(k) !== v);
  names = next;
  if (changed) render();
}

export function enrollments(values) {
  counts = values;
  render();
}

function render() {
  const rows = new Map();
  for (const c of counts) {
    const id = `${c.version}/${c.stateKey}`;
    if (!rows.has(id)) {
      const label = `${names.get(c.stateKey) || c.stateKey} (v${c.version})`;
      rows.set(id, { key: c.stateKey, label, total: 0, statuses: [] });
    }
    const row = rows.get(id);
    row.total += c.count;
    row.statuses.push(`${c.count} ${c.status.toLowerCase()}`);
  }
  $("workflow").replaceChildren(...[...rows.values()].map((state) => {
    const row = el("tr");
    row.dataset.state = state.key;
    row.append(el("th", state.label), el("td", String(state.total), "num"),
      el("td", state.statuses.join(", "), "muted"));
    return row;
  }));
  show("workflow-card", counts.length > 0);
}
