// Where a workflow campaign's recipients are: one row per state (of every version) by its
// name in its version, its count per status. Hidden while nobody is enrolled (a campaign
// without a workflow).
import { $, el, show } from "./view.js";

let counts = [];

export function clear() {
  counts = [];
  render();
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
      const label = `${c.stateName} (v${c.version})`;
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
