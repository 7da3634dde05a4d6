"""``POST /triggers/{campaign}`` — a signed trigger from the customer's backend (a web form,
a newsletter signup, a download) enrolling a person into a RUNNING workflow campaign.

``{campaign}`` is the campaign's global id or its numeric id. Body (JSON):
``{"id": the sender's id of this event, "event": "FORM_SUBMITTED" | "NEWSLETTER_SIGNUP" |
"DOWNLOAD" | "OTHER", "contact": {"email", "firstName", "lastName", "phone", …},
"asLead": false}``.

Authentication: header ``Drumbeat-Signature: kid=<kid>,t=<unix seconds>,v2=<hex>`` over
``v2:<t>:POST:<path, e.g. /triggers/42>:<raw body>`` with the ``trigger`` signing key (see
:mod:`drumbeat.platform.tracking.signed_requests`): the signature names the campaign, so
it enrols into no other one, and a webhook's signature is no trigger's.

Each ``id`` enrols once per campaign (:mod:`drumbeat.platform.tracking.inbound_ids`): a
repeat — a replay, or the sender's retry — is answered 200 ``{"status": "duplicate",
"enrolled": false, "reason": "DUPLICATE", …}`` and changes nothing.

Answers: 200 ``{"status": "recorded" | "duplicate", "enrolled", "reason", "enrollmentId",
"contactId", "leadId", "created"}`` (ids are global ids); 400 naming the field; 401 for a
bad signature; 404 for an unknown campaign; 409 when the campaign is not RUNNING or has no
workflow; 413 for a large body.
"""

from __future__ import annotations


from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry import relay

from drumbeat.platform import bounded_json
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.tracking import inbound_ids, signed_requests
from drumbeat.platform.tracking.signed_requests import InboundError
from drumbeat.platform.tracking.tokens import Keyring, keyring_for
from drumbeat.platform.workflows import triggers

MAX_BODY_BYTES = 16_000
KIND = "trigger"
_FIELDS = {"email": "email", "firstName": "first_name", "lastName": "last_name",
           "phone": "phone", "jobTitle": "job_title", "language": "language",
           "timezone": "timezone", "country": "country", "city": "city",
           "companyName": "company_name"}
_STATUS = {ErrorCode.NOT_FOUND: 404, ErrorCode.INVALID_STATE: 409}


def path(campaign: str | int) -> str:
    """The path a trigger for ``campaign`` (its numeric or global id) is sent to."""
    return f"/triggers/{campaign}"


def sign(keyring: Keyring, campaign: str | int, body: bytes, at: int | None = None) -> str:
    """The ``Drumbeat-Signature`` header of a trigger ``body`` for ``POST
    /triggers/<campaign>`` (for Python senders and tests)."""
    return signed_requests.sign(keyring, KIND, "POST", path(campaign), body, at)


def _campaign_id(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        gid = relay.GlobalID.from_id(value)
    except Exception:
        gid = None
    if gid is None or gid.type_name != "Campaign" or not gid.node_id.isdigit():
        raise InboundError(404, "no such campaign")
    return int(gid.node_id)


def _parse(body: bytes) -> tuple[str, str, dict, bool]:
    try:
        data = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InboundError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise InboundError(400, "the body is not a JSON object")
    event_id = signed_requests.event_id(data.get("id"))
    event, person, as_lead = data.get("event"), data.get("contact"), data.get("asLead", False)
    if event not in triggers.EVENTS:
        raise InboundError(400, f"event: one of {', '.join(triggers.EVENTS)}")
    if not isinstance(person, dict):
        raise InboundError(400, "contact: an object with at least an email")
    if not isinstance(as_lead, bool):
        raise InboundError(400, "asLead: true or false")
    values = {}
    for name, value in person.items():
        if name not in _FIELDS:
            raise InboundError(400, f"contact.{name}: unknown field")
        if value is not None and not isinstance(value, str):
            raise InboundError(400, f"contact.{name}: text")
        values[_FIELDS[name]] = value
    return event_id, event, values, as_lead


def _gid(type_name: str, value: int | None) -> str | None:
    return None if value is None else str(relay.GlobalID(type_name, str(value)))


async def trigger_webhook(request: Request) -> Response:
    platform = request.app.state.platform
    keyring = keyring_for(platform.settings)
    try:
        body, signed_at = await signed_requests.verified_body(request, KIND, keyring,
                                                              MAX_BODY_BYTES)
        campaign_id = _campaign_id(request.path_params["campaign"])
        event_id, event, person, as_lead = _parse(body)
        once = triggers.Once(inbound_ids.trigger_scope(campaign_id), event_id, signed_at)
        result = await triggers.enroll_public(platform, campaign_id, event, person, as_lead,
                                              once)
    except InboundError as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    except DomainError as exc:
        problem = exc.problems[0]
        field = ".".join(problem.field or ())
        return JSONResponse({"error": f"{field}: {problem.message}" if field else problem.message,
                             "code": problem.code.value, "field": field or None},
                            status_code=_STATUS.get(problem.code, 400))
    return JSONResponse({
        "status": "duplicate" if result.duplicate else "recorded",
        "enrolled": result.enrolled, "reason": result.reason,
        "enrollmentId": _gid("Enrollment", result.enrollment_id),
        "contactId": _gid("Contact", result.contact_id), "leadId": _gid("Lead", result.lead_id),
        "created": result.created})
