// The dashboard: sign in with a token, pick a campaign, watch it live.
import {
  CAMPAIGN, CAMPAIGNS, ENROLLMENTS, EVENTS, ME, METRICS, PROGRESS, RECENT_EVENTS, query,
} from "./api.js";
import * as chart from "./chart.js";
import * as failures from "./failures.js";
import * as feed from "./feed.js";
import { LiveConnection } from "./live.js";
import * as metrics from "./metrics.js";
import * as view from "./view.js";
import * as workflow from "./workflow.js";

const TOKEN_KEY = "drumbeat.token";
const REFETCH_MS = 1000; // header, budget, state names: at most once a second while it runs
const METRICS_MS = 500; // metrics, chart, failed list: at most twice a second, on any event
const RECONNECT_MS = 2000;

let token = null;
let watching = null; // see watch()

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
  const current = {
    id,
    live: null,
    lastEventId: null, // the last event shown: the live feed resumes after it
    progressLive: false, // while campaignProgress runs it owns the counters
    metricsSeq: 0, // only the newest metrics answer is shown
  };
  current.refetch = coalesce(() => refresh(current), REFETCH_MS);
  current.refetchMetrics = coalesce(() => refreshMetrics(current), METRICS_MS);
  watching = current;
  view.markPicked(id);
  feed.clear();
  failures.clear();
  workflow.clear();
  view.message("campaign-error", "");
  await Promise.all([refresh(current), refreshMetrics(current), replay(current)]);
  if (watching === current) connect(current);
}

function stopWatching() {
  watching?.live?.close();
  watching = null;
  view.liveState("off", "offline");
}

function showCounters(values) {
  metrics.counters(values);
  failures.failedCount(values.failed);
}

function failed(current, err) {
  if (watching === current) view.message("campaign-error", err.message || String(err));
}

async function refresh(current) {
  try {
    const { campaign } = await query(token, CAMPAIGN, { id: current.id });
    if (watching !== current) return;
    if (!campaign) throw new Error("No such campaign (or not visible to you).");
    view.header(campaign);
    if (!current.progressLive) showCounters(campaign.counters);
    view.budget(campaign.budget);
    view.show("campaign");
  } catch (err) {
    failed(current, err);
  }
}

async function refreshMetrics(current) {
  const seq = ++current.metricsSeq;
  try {
    const { campaign } = await query(token, METRICS,
      { id: current.id, failedList: failures.isListOpen() });
    if (watching !== current || seq !== current.metricsSeq || !campaign) return;
    if (!current.progressLive) showCounters(campaign.counters);
    metrics.metrics(campaign.metrics);
    chart.render(campaign.metricsTimeSeries);
    failures.deliveries(campaign.deliveries);
  } catch (err) {
    failed(current, err);
  }
}

// The last 100 events and the recent failures; the live feed then starts right after them.
async function replay(current) {
  try {
    const { campaign } = await query(token, RECENT_EVENTS, { id: current.id });
    if (watching !== current || !campaign) return;
    feed.replay(campaign.recentEvents);
    for (const event of campaign.failures) failures.add(event);
    current.lastEventId = campaign.recentEvents.at(-1)?.id ?? 0;
  } catch (err) {
    failed(current, err); // the feed then starts with live events only
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
  const error = (text) => failed(current, text);

  live.subscribe(PROGRESS, { id: current.id }, {
    next({ campaignProgress: progress }) {
      current.progressLive = true;
      view.liveState("on", "live");
      view.state(progress.state);
      showCounters(progress.counters);
      current.refetch();
      current.refetchMetrics();
    },
    error,
    complete() { // the run is over: the counters are read with the metrics from now on
      current.progressLive = false;
      current.refetch();
      current.refetchMetrics();
    },
  });
  live.subscribe(ENROLLMENTS, { id: current.id }, {
    next({ campaignEnrollmentProgress: progress }) {
      workflow.enrollments(progress.counts);
    },
    error,
  });
  // Opens, clicks and replies go on long after the run: this subscription stays open, and
  // each frame refreshes the metrics. It starts after the last event shown (the replay on
  // load, or the last one before a reconnect): no gap, no duplicate.
  live.subscribe(EVENTS, { id: current.id, after: current.lastEventId }, {
    next({ campaignEvents: event }) {
      if (event.missed) feed.note(`${event.missed} events missed (this page fell behind)`);
      if (current.lastEventId !== null && event.id <= current.lastEventId) return;
      current.lastEventId = event.id;
      feed.add(event);
      failures.add(event);
      current.refetchMetrics();
    },
    error,
  });
}

function lost(current, reason) {
  if (watching !== current) return;
  current.progressLive = false;
  view.liveState("off", `offline: ${reason}`);
  if (reason === "The token was refused.") return view.message("campaign-error", reason);
  setTimeout(() => watching === current && connect(current), RECONNECT_MS);
}

// Runs fn at most once every ms milliseconds, never twice at once; a call meanwhile
// schedules one more run (which reads the newest state).
function coalesce(fn, ms) {
  let last = -Infinity;
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    running = true;
    again = false;
    last = Date.now();
    try {
      await fn();
    } finally {
      running = false;
      if (again) schedule();
    }
  };
  const schedule = () => {
    if (running) again = true;
    else if (!timer) timer = setTimeout(run, Math.max(0, last + ms - Date.now()));
  };
  return schedule;
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
failures.onToggle(() => watching?.refetchMetrics());
const search = document.getElementById("search-text");
document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  loadCampaigns(search.value.trim());
});
search.addEventListener("input", debounce(() => loadCampaigns(search.value.trim()), 300));

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved);
