"""Where the worker may send: public addresses only, unless the operator allows more.

Any campaign editor chooses the URL, and the worker sends from inside the operator's
network; without this check a campaign could POST to the cloud metadata service or to an
internal admin port. ``DRUMBEAT_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1`` lifts it (receivers on
the same host or LAN, tests). The host is resolved just before sending; a DNS answer that
changes between this check and the connection (rebinding) is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket

ALLOW_PRIVATE = "DRUMBEAT_WEBHOOK_ALLOW_PRIVATE_NETWORKS"


class HostUnavailable(Exception):
    """The host name could not be resolved now (may work later)."""


async def refusal(host: str, port: int) -> str | None:
    """Why ``host`` may not be called, or ``None`` when it may."""
    if os.environ.get(ALLOW_PRIVATE) == "1":
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HostUnavailable(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            return (f"{host} resolves to the non-public address {address} "
                    f"(set {ALLOW_PRIVATE}=1 to allow it)")
    return None
