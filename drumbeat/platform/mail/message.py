"""Building the MIME message and its deterministic Message-ID.

The message is written directly as bytes (about 10× faster than ``EmailMessage``):
headers as RFC 5322 lines folded at 78 characters, non-ASCII names and subjects as
RFC 2047 encoded words; each body as 7bit when it is ASCII with short lines, else as
quoted-printable or base64, whichever is shorter; CRLF line endings throughout.
"""

from __future__ import annotations

import binascii
import hashlib
import random
import secrets
from email.header import Header
from email.utils import formataddr, formatdate
from urllib.parse import urlsplit

from drumbeat.platform.actions import Sender

MAX_LINE = 78  # RFC 5322's recommended line length (998 is the hard limit)
CRLF = b"\r\n"


def message_id_for(key: str, settings) -> str:
    """The same delivery always gets the same Message-ID, so receivers can drop a resend."""
    digest = hashlib.sha256(f"{settings.secret_key}:{key}".encode()).hexdigest()[:16]
    domain = urlsplit(settings.public_url).hostname or "drumbeat.invalid"
    return f"<{key}.{digest}@{domain}>"


def build_message(*, sender: Sender, to_name: str, to_address: str, subject: str, text: str,
                  html: str | None, message_id: str,
                  unsubscribe_url: str | None = None) -> bytes:
    """The message as bytes: text/plain alone, or multipart/alternative with the html.

    Raises ``ValueError`` (or ``UnicodeError`` for a non-ASCII address) for a header value
    that cannot be sent."""
    lines = [
        _address("From", sender.name, sender.email),
        _address("Reply-To", sender.name, sender.email),
        _address("To", to_name, to_address),
        _header("Subject", subject.strip()),
        _header("Date", formatdate(localtime=False)),
        _header("Message-ID", message_id, structured=True),
    ]
    if unsubscribe_url:  # RFC 2369 + RFC 8058 one-click
        lines.append(_header("List-Unsubscribe", f"<{unsubscribe_url}>", structured=True))
        lines.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    lines.append(b"MIME-Version: 1.0")
    plain = _part("plain", text)
    if html is None:
        return CRLF.join(lines) + CRLF + plain
    alternative = _part("html", html)
    boundary = _boundary(plain, alternative)
    lines.append(b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"')
    delimiter = b"--" + boundary
    return b"".join((
        CRLF.join(lines), CRLF, CRLF,
        delimiter, CRLF, plain, CRLF,
        delimiter, CRLF, alternative, CRLF,
        delimiter, b"--", CRLF,
    ))


def _address(field: str, name: str, address: str) -> bytes:
    """An address header; a non-ASCII display name becomes one RFC 2047 encoded word
    (split words would come back with spaces between them from some parsers)."""
    return _header(field, formataddr((name, address), charset="utf-8"), structured=True)


def _header(name: str, value: str, structured: bool = False) -> bytes:
    """One header field. ASCII values are folded at whitespace; a structured value (an
    address, an id, a URL) that is already encoded is never turned into encoded words."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name}: a header value is one line")
    if value.isascii():
        line = f"{name}: {value}"
        if len(line) <= MAX_LINE or (structured and " " not in value):
            if len(line) > 998:
                raise ValueError(f"{name}: a header line longer than 998 characters")
            return line.encode("ascii")
        folded = _fold(len(name) + 2, value)
    elif structured:
        raise UnicodeError(f"{name}: non-ASCII characters in an address or id")
    else:
        folded = Header(value, "utf-8", maxlinelen=MAX_LINE, header_name=name).encode("\r\n")
    if any(len(part) > 998 for part in folded.split("\r\n")):
        raise ValueError(f"{name}: a header line longer than 998 characters")
    return f"{name}: {folded}".encode("ascii")


def _fold(used: int, value: str) -> str:
    """Fold an ASCII value at spaces so lines stay within 78 characters where possible
    (a fold never leaves a line of only whitespace)."""
    lines, current = [], ""
    for word in value.split(" "):
        if current and word and used + len(current) + 1 + len(word) > MAX_LINE:
            lines.append(current)
            current, used = word, 1
        else:
            current = f"{current} {word}" if current or lines else word
    lines.append(current)
    return "\r\n ".join(lines)


def _part(subtype: str, content: str) -> bytes:
    """A text part's headers, blank line and encoded body. Line breaks are normalised and
    the body ends with one, as ``EmailMessage.set_content`` does."""
    data = content.encode("utf-8")
    body_lines = data.splitlines()
    if body_lines and data.isascii() and max(map(len, body_lines)) <= MAX_LINE:
        cte, body = b"7bit", CRLF.join(body_lines) + CRLF
    elif not body_lines:
        cte, body = b"7bit", CRLF
    else:
        cte, body = _encoded(CRLF.join(body_lines) + CRLF)
    return b"".join((
        b'Content-Type: text/', subtype.encode("ascii"), b'; charset="utf-8"', CRLF,
        b"Content-Transfer-Encoding: ", cte, CRLF, CRLF, body,
    ))


def _encoded(data: bytes) -> tuple[bytes, bytes]:
    """Quoted-printable or base64 (the shorter) of CRLF-terminated lines."""
    qp = binascii.b2a_qp(data, istext=True)  # keeps CRLF, soft breaks too
    if len(qp) * 3 <= len(data) * 4:
        return b"quoted-printable", qp
    lines = [binascii.b2a_base64(data[i:i + 57], newline=False) for i in range(0, len(data), 57)]
    return b"base64", CRLF.join(lines) + CRLF


#: Boundaries need to be unpredictable only in practice, not cryptographically: a PRNG
#: seeded once per process saves a system call per message.
_random = random.Random(secrets.randbits(128))


def _boundary(*parts: bytes) -> bytes:
    """A random boundary that occurs in no part."""
    while True:
        boundary = b"=_drumbeat_%024x" % _random.getrandbits(96)
        if not any(boundary in part for part in parts):
            return boundary
