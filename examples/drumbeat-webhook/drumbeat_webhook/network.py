"""Where the worker may send: public addresses only, unless the operator allows more.

Any campaign editor chooses the URL, and the worker sends from inside the operator's
network; without this check a campaign could POST to the cloud metadata service
(169.254.169.254) or to an internal admin port. Refused: private (10/8, 172.16/12,
192.168/16, fc00::/7 …), loopback, link-local, multicast, reserved and unspecified
addresses, and IPv4-mapped IPv6 forms of them. ``DRUMBEAT_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1``
lifts it (receivers on the same host or LAN, tests).

The URL is checked when a step is saved and at launch (``check_references``: an IP
literal, or every address its host name resolves to), and the host is resolved again
just before sending. A DNS answer that changes between that last check and the
connection (rebinding) is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket

ALLOW_PRIVATE = "DRUMBEAT_WEBHOOK_ALLOW_PRIVATE_NETWORKS"


class HostUnavailable(Exception):
    """The host name could not be resolved now (may work later)."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local
        or address.is_multicast or address.is_reserved or address.is_unspecified)


async def refusal(host: str, port: int) -> str | None:
    """Why ``host`` may not be called, or ``None`` when it may."""
    if os.environ.get(ALLOW_PRIVATE) == "1":
        return None
    host = host.strip("[]")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise HostUnavailable(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not is_public(address):
            return (f"{host} resolves to the non-public address {address} "
                    f"(set {ALLOW_PRIVATE}=1 to allow it)")
    return None
