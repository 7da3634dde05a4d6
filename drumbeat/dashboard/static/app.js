// The dashboard: sign in with a token, pick a campaign, watch it live.
import { CAMPAIGN, CAMPAIGNS, ENROLLMENTS, EVENTS, ME, PROGRESS, query } from "./api.js";
import { LiveConnection } from "./live.js";
import * as view from "./view.js";

const TOKEN_KEY = "drumbeat.token";
const REFETCH_MS = 1000; // metrics and budget: at most one refetch a second while it runs
const RECONNECT_MS = 2000;

let token = null;
let watching = null; // { id, live, lastEventId, progressSeen, refetch }

async function signIn(candidate) {
  view.message("signin-error", "");
  try {
    const { me } = await query(candidate, ME);
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, token);
    document.getElementById("token").value = "";
    document.getElementById("who").textContent = `${me.name} · ${me.role.toLowerCase()}`;
    view.show("signin", false);
    view.show("board");
    view.show("signout");
    await loadCampaigns("");
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    view.message("signin-error", `Sign-in failed: ${err.message}`);
  }
}

function signOut() {
  stopWatching();
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

async function loadCampaigns(text) {
  try {
    const data = await query(token, CAMPAIGNS, { text: text || null });
    view.message("campaigns-error", "");
    view.campaignList(data.campaigns.edges.map((e) => e.node), watch);
    if (watching) view.markPicked(watching.id);
  } catch (err) {
    view.message("campaigns-error", err.message);
  }
}

async function watch(id) {
  stopWatching();
  const current = { id, live: null, lastEventId: null, progressSeen: false };
  current.refetch = throttle(() => refresh(current), REFETCH_MS);
  watching = current;
  view.markPicked(id);
  view.clearFeed();
  view.workflow([]);
  view.message("campaign-error", "");
  await refresh(current);
  if (watching === current) connect(current);
}

function stopWatching() {
  watching?.live?.close();
  watching = null;
  view.liveState("off", "offline");
}

async function refresh(current) {
  try {
    const { campaign } = await query(token, CAMPAIGN, { id: current.id });
    if (watching !== current) return;
    if (!campaign) throw new Error("No such campaign (or not visible to you).");
    view.header(campaign);
    // Once the progress subscription runs, it owns the counters (a refetch may be older).
    if (!current.progressSeen) view.counters(campaign.counters);
    view.funnel(campaign.metrics.totals);
    view.budget(campaign.budget);
    view.show("campaign");
  } catch (err) {
    if (watching === current) view.message("campaign-error", err.message);
  }
}

async function connect(current) {
  view.liveState("connecting", "connecting…");
  const live = new LiveConnection(token, { onClose: (reason) => lost(current, reason) });
  current.live = live;
  try {
    await live.open();
  } catch (err) {
    lost(current, err.message);
    return;
  }
  if (watching !== current) return live.close();
  const failed = (text) => view.message("campaign-error", text);

  live.subscribe(PROGRESS, { id: current.id }, {
    next({ campaignProgress: progress }) {
      current.progressSeen = true;
      view.liveState("on", "live");
      view.state(progress.state);
      view.counters(progress.counters);
      current.refetch();
    },
    error: failed,
    complete: () => current.refetch(), // the run is over: one last refresh
  });
  live.subscribe(ENROLLMENTS, { id: current.id }, {
    next({ campaignEnrollmentProgress: progress }) {
      view.workflow(progress.counts);
    },
    error: failed,
  });
  // After a reconnect, resume from the last event seen: no gap, no duplicate.
  live.subscribe(EVENTS, { id: current.id, after: current.lastEventId }, {
    next({ campaignEvents: event }) {
      if (event.missed) view.feedNote(`${event.missed} events missed (this page fell behind)`);
      current.lastEventId = event.id;
      view.feedEvent(event);
    },
    error: failed,
  });
}

function lost(current, reason) {
  if (watching !== current) return;
  view.liveState("off", `offline: ${reason}`);
  if (reason === "The token was refused.") return view.message("campaign-error", reason);
  setTimeout(() => watching === current && connect(current), RECONNECT_MS);
}

function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      fn();
    }, Math.max(0, last + ms - Date.now()));
  };
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

document.getElementById("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn(document.getElementById("token").value.trim());
});
document.getElementById("signout").addEventListener("click", signOut);
const search = document.getElementById("search-text");
document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  loadCampaigns(search.value.trim());
});
search.addEventListener("input", debounce(() => loadCampaigns(search.value.trim()), 300));

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved);
