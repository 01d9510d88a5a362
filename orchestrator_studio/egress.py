"""The egress guard: decides which addresses outbound calls may reach.

Always refused: link-local (169.254.0.0/16, fe80::/10, which hold cloud metadata services), other known
metadata addresses, multicast, unspecified and reserved addresses. With `BLOCK_PRIVATE_NETWORKS=true`,
private, loopback and shared (CGNAT) ranges are refused too. Every address a host name resolves to is
checked, so a name that points inside is refused like the address itself.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from orchestrator_studio.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


class EgressRefused(DomainError):
    status_code = 403
    code = "egress_refused"


def refusal_reason(address: IPAddress) -> str | None:
    """Why `address` may not be reached, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_reserved:
        return "a reserved address"
    if settings.BLOCK_PRIVATE_NETWORKS:
        if address.is_loopback:
            return "a loopback address (BLOCK_PRIVATE_NETWORKS is on)"
        if address.is_private or address in SHARED_ADDRESS_SPACE:
            return "a private address (BLOCK_PRIVATE_NETWORKS is on)"
    return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise EgressRefused(f"Cannot resolve host {host!r}.", code="dns_error") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def egress_check(url: str) -> None:
    """Raise `EgressRefused`, naming the reason, unless `url` is http(s) and every address it resolves to is
    allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused(
            f"Only http and https URLs with a host can be called (got {parts.scheme or 'none'})."
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in await _resolve(parts.hostname, port):
        reason = refusal_reason(address)
        if reason:
            raise EgressRefused(f"Refused to connect to {parts.hostname}: it is {reason}.")
