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

const COUNTERS = "counters { total pending inProgress done failed skipped }";

export const CAMPAIGN = `
query($id: ID!) {
  campaign(id: $id) {
    id name state
    ${COUNTERS}
    metrics { totals { sent uniqueOpens uniqueClicks conversions openRate clickRate conversionRate } }
    budget { total currency spent remaining utilisation overBudget }
  }
}`;

export const PROGRESS = `
subscription($id: ID!) {
  campaignProgress(campaignId: $id) { state ${COUNTERS} }
}`;

export const ENROLLMENTS = `
subscription($id: ID!) {
  campaignEnrollmentProgress(campaignId: $id) { counts { version stateKey status count } }
}`;

export const EVENTS = `
subscription($id: ID!, $after: Int) {
  campaignEvents(campaignId: $id, after: $after) { id type address detail createdAt missed }
}`;
