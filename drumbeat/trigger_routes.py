"""``POST /triggers/{campaign}`` — a signed trigger from the customer's backend (a web form,
a newsletter signup, a download) enrolling a person into a RUNNING workflow campaign.

``{campaign}`` is the campaign's global id or its numeric id. Body (JSON):
``{"event": "FORM_SUBMITTED" | "NEWSLETTER_SIGNUP" | "DOWNLOAD" | "OTHER",
"contact": {"email", "firstName", "lastName", "phone", …}, "asLead": false}``.

Authentication: header ``Drumbeat-Signature: kid=<kid>,t=<unix seconds>,v1=<sig>`` exactly
as the inbound webhooks (:mod:`drumbeat.platform.tracking.inbound`) but with the trigger
key: HMAC-SHA256(the ``DRUMBEAT_SECRET_KEYS`` entry's secret, "drumbeat-trigger") — so a
webhook signature is no trigger signature, and keys rotate the same way.

Answers: 200 ``{"enrolled", "reason", "enrollmentId", "contactId", "leadId", "created"}``
(ids are global ids); 400 naming the field; 401 for a bad signature; 404 for an unknown
campaign; 409 when the campaign is not RUNNING or has no workflow; 413 for a large body.
"""

from __future__ import annotations


from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry import relay

from drumbeat.platform import bounded_json
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.tracking import inbound
from drumbeat.platform.tracking.inbound import InboundError
from drumbeat.platform.tracking.tokens import Keyring, keyring_for
from drumbeat.platform.workflows import triggers

MAX_BODY_BYTES = 16_000
_KEY_LABEL = b"drumbeat-trigger"
_FIELDS = {"email": "email", "firstName": "first_name", "lastName": "last_name",
           "phone": "phone", "jobTitle": "job_title", "language": "language",
           "timezone": "timezone", "country": "country", "city": "city",
           "companyName": "company_name"}
_STATUS = {ErrorCode.NOT_FOUND: 404, ErrorCode.INVALID_STATE: 409}


def sign(keyring: Keyring, body: bytes, at: int | None = None) -> str:
    """The ``Drumbeat-Signature`` header of a trigger ``body`` (for senders and tests)."""
    return inbound.sign(keyring, body, at, label=_KEY_LABEL)


def verify(keyring: Keyring, header: str | None, body: bytes, now: float | None = None) -> None:
    """Raise :class:`InboundError` (401) unless ``header`` signs ``body`` as a trigger."""
    inbound.verify(keyring, header, body, now, label=_KEY_LABEL)


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


def _parse(body: bytes) -> tuple[str, dict, bool]:
    try:
        data = bounded_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InboundError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise InboundError(400, "the body is not a JSON object")
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
    return event, values, as_lead


def _gid(type_name: str, value: int | None) -> str | None:
    return None if value is None else str(relay.GlobalID(type_name, str(value)))


async def trigger_webhook(request: Request) -> Response:
    platform = request.app.state.platform
    keyring = keyring_for(platform.settings)
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise InboundError(413, "the body is too large")
        verify(keyring, request.headers.get("drumbeat-signature"), body)
        campaign_id = _campaign_id(request.path_params["campaign"])
        event, person, as_lead = _parse(body)
        result = await triggers.enroll_public(platform, campaign_id, event, person, as_lead)
    except InboundError as exc:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    except DomainError as exc:
        problem = exc.problems[0]
        field = ".".join(problem.field or ())
        return JSONResponse({"error": f"{field}: {problem.message}" if field else problem.message,
                             "code": problem.code.value, "field": field or None},
                            status_code=_STATUS.get(problem.code, 400))
    return JSONResponse({
        "enrolled": result.enrolled, "reason": result.reason,
        "enrollmentId": _gid("Enrollment", result.enrollment_id),
        "contactId": _gid("Contact", result.contact_id), "leadId": _gid("Lead", result.lead_id),
        "created": result.created})
