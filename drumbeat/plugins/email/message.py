"""Building the MIME message and its deterministic Message-ID."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate
from urllib.parse import urlsplit

from drumbeat import Sender


def message_id_for(key: str, settings) -> str:
    """The same delivery always gets the same Message-ID, so receivers can drop a resend."""
    digest = hashlib.sha256(f"{settings.secret_key}:{key}".encode()).hexdigest()[:16]
    domain = urlsplit(settings.public_url).hostname or "drumbeat.invalid"
    return f"<{key}.{digest}@{domain}>"


def build_message(*, sender: Sender, to_name: str, to_address: str, subject: str, text: str,
                  html: str | None, message_id: str) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((sender.name, sender.email))
    message["Reply-To"] = formataddr((sender.name, sender.email))
    message["To"] = formataddr((to_name, to_address))
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()
