"""Tracking URLs of an outgoing email: click-tracked links, the open pixel, unsubscribe.

The ``http(s)`` links of ``<a href>`` in the HTML body and the bare ``http(s)`` URLs of
the text body are rewritten (one link index per distinct URL, shared by both bodies; the
platform's own URLs — unsubscribe, tracking — are left alone); each real URL is stored per
delivery with :func:`save_links` before the message is sent, and the click route redirects
only to that stored URL.
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
#: A URL in plain text: up to whitespace or a delimiter; trailing punctuation is not part of it.
_TEXT_URL = re.compile(r"""https?://[^\s<>"'\]\[{}|\\^`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)"
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

    def _index(self, urls: list[str], url: str) -> int | None:
        """The link index of ``url`` (added to ``urls`` if new); ``None``: leave it as it
        is (the platform's own URL, or too many links)."""
        if url.startswith(self.base + "/"):
            return None
        if url in urls:
            return urls.index(url)
        if len(urls) >= MAX_LINKS:
            return None
        urls.append(url)
        return len(urls) - 1

    def rewrite_text(self, delivery_id: int, text: str, urls: list[str]) -> str:
        """The text body with its bare web URLs pointing at the click route; new URLs are
        appended to ``urls`` (pass the HTML body's list to share the indexes)."""

        def replace(match: re.Match) -> str:
            url = match.group(0)
            tail = ""
            while url and url[-1] in _TRAILING:
                if url[-1] == ")" and url.count("(") >= url.count(")"):
                    break  # a balanced parenthesis belongs to the URL (Wikipedia-style)
                url, tail = url[:-1], url[-1] + tail
            index = self._index(urls, url)
            if index is None:
                return match.group(0)
            return self.click_url(delivery_id, index) + tail

        return _TEXT_URL.sub(replace, text)

    def rewrite_html(self, delivery_id: int, html: str,
                     urls: list[str] | None = None) -> tuple[str, list[str]]:
        """The HTML with its web links pointing at the click route and the open pixel
        added, and the original URLs in link-index order (appended to ``urls`` if given)."""
        urls = [] if urls is None else urls

        def replace(match: re.Match) -> str:
            raw = match.group(2) if match.group(2) is not None else match.group(3)
            url = htmllib.unescape(raw).strip()
            index = self._index(urls, url) if re.match(r"https?://", url, re.IGNORECASE) \
                else None
            if index is None:
                return match.group(0)
            tracked = htmllib.escape(self.click_url(delivery_id, index))
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
