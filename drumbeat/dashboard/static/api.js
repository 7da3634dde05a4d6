// GraphQL over HTTP with a bearer token, and the documents the dashboard runs.

export class ApiError extends Error {}

export async function query(token, document, variables = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: document, variables }),
    });
  } catch (err) {
    throw new ApiError(`The server cannot be reached (${err.message}).`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`Unexpected answer from the server (HTTP ${response.status}).`);
  }
  if (body.errors && body.errors.length) {
    throw new ApiError(body.errors.map((e) => e.message).join("; "));
  }
  return body.data;
}

export const ME = `{ me { name email role } }`;

export const CAMPAIGNS = `
query($text: String) {
  campaigns(first: 50, filter: { text: $text }) {
    edges { node { id name state } }
  }
}`;

const COUNTERS = "counters { total waiting inProgress done failed skipped }";

// Header and budget.
export const CAMPAIGN = `
query($id: ID!) {
  campaign(id: $id) {
    id name state
    ${COUNTERS}
    budget { total currency spent remaining utilisation overBudget }
  }
}`;

const COUNTS = `sent failed skipped pending delivered uniqueOpens uniqueClicks replies bounces
  unsubscribes reached conversions openRate clickRate replyRate unsubscribeRate bounceRate
  conversionRate medianReactionSeconds`;
const WORK_ITEMS = "workItems { total pending created failed skipped }";
const RECIPIENT = "recipient { id kind name address }";
const STEP = "step { id name stateKey actionType }";

// Everything that moves with events: re-read (throttled) whenever a frame arrives.
export const METRICS = `
query($id: ID!, $failedList: Boolean!) {
  campaign(id: $id) {
    id
    ${COUNTERS}
    metrics {
      totals { ${COUNTS} }
      ${WORK_ITEMS}
      byActionType { actionType deliveryKind ${WORK_ITEMS} }
    }
    metricsTimeSeries(hours: 48) { start sent opens clicks conversions }
    deliveries(filter: { state: FAILED }, first: 50) @include(if: $failedList) {
      edges { node { deliveryId ${RECIPIENT} address ${STEP} actionType attempts reason } }
      pageInfo { hasNextPage }
    }
  }
}`;

const EVENT = `id type deliveryId address detail reason retryAt createdAt missed
  ${RECIPIENT} ${STEP} actionType`;
export const FAILURE_TYPES = ["FAILED", "DEFERRED"];
export const RECENT_FAILURES = 20;

// On load: the feed's last 100 events (oldest first) and the recent failures.
export const RECENT_EVENTS = `
query($id: ID!) {
  campaign(id: $id) {
    id
    recentEvents(last: 100) { ${EVENT} }
    failures: recentEvents(last: ${RECENT_FAILURES}, types: [${FAILURE_TYPES.join(", ")}]) {
      ${EVENT}
    }
  }
}`;

export const PROGRESS = `
subscription($id: ID!) {
  campaignProgress(campaignId: $id) { state ${COUNTERS} }
}`;

export const ENROLLMENTS = `
subscription($id: ID!) {
  campaignEnrollmentProgress(campaignId: $id) { counts { version stateKey stateName status count } }
}`;

export const EVENTS = `
subscription($id: ID!, $after: Int) {
  campaignEvents(campaignId: $id, after: $after) { ${EVENT} }
}`;
