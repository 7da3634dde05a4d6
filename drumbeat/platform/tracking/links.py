"""Tracking URLs of an outgoing email: click-tracked links, the open pixel, unsubscribe.

Only ``http(s)`` links of ``<a href>`` in the HTML body are rewritten (the text body is
left as written); each one's real URL is stored per delivery with :func:`save_links`
before the message is sent, and the click route redirects only to that stored URL.
"""

from __future__ import annotations

import html as htmllib
import re
from typing import Mapping, Sequence

from drumbeat.platform.ledger import utcnow
from drumbeat.platform.tables.tracking import TrackedLink
from drumbeat.platform.tracking.tokens import keyring_for

_HREF = re.compile(r"""(<a\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
MAX_LINKS = 1000


class EmailTracking:
    """Builds the signed tracking URLs of one deployment (``settings.public_url``)."""

    def __init__(self, settings):
        self.keyring = keyring_for(settings)
        self.base = settings.public_url.rstrip("/")

    def unsubscribe_url(self, delivery_id: int) -> str:
        return f"{self.base}/u/{self.keyring.sign('unsubscribe', delivery_id)}"

    def webhook_token(self, delivery_id: int) -> str:
        """Names the delivery in inbound webhooks (e.g. in a VERP bounce address), for
        providers that cannot report the Message-ID."""
        return self.keyring.sign("webhook", delivery_id)

    def open_url(self, delivery_id: int) -> str:
        return f"{self.base}/t/o/{self.keyring.sign('open', delivery_id)}"

    def click_url(self, delivery_id: int, index: int) -> str:
        return f"{self.base}/t/c/{self.keyring.sign('click', delivery_id, index)}"

    def rewrite_html(self, delivery_id: int, html: str) -> tuple[str, list[str]]:
        """The HTML with its web links pointing at the click route and the open pixel
        added, and the original URLs in link-index order."""
        urls: list[str] = []

        def replace(match: re.Match) -> str:
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            url = htmllib.unescape(raw).strip()
            if not re.match(r"https?://", url, re.IGNORECASE) or len(urls) >= MAX_LINKS:
                return match.group(0)
            urls.append(url)
            tracked = htmllib.escape(self.click_url(delivery_id, len(urls) - 1))
            return f'{match.group(1)}"{tracked}"'

        rewritten = _HREF.sub(replace, html)
        pixel = (f'<img src="{htmllib.escape(self.open_url(delivery_id))}" width="1" height="1"'
                 ' alt="" style="border:0;width:1px;height:1px">')
        ends = list(_BODY_END.finditer(rewritten))
        if ends:
            at = ends[-1].start()
            rewritten = rewritten[:at] + pixel + rewritten[at:]
        else:
            rewritten += pixel
        return rewritten, urls


async def save_links(links: Mapping[int, Sequence[str]]) -> None:
    """Store (or replace, for a resend) the link URLs of each delivery."""
    now = utcnow()
    rows = [TrackedLink(delivery=delivery_id, idx=index, url=url, created_at=now)
            for delivery_id, urls in links.items() for index, url in enumerate(urls)]
    if rows:
        await TrackedLink.insert(*rows).on_conflict(
            target=(TrackedLink.delivery, TrackedLink.idx), action="DO UPDATE",
            values=[TrackedLink.url])
