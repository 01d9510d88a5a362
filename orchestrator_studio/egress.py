"""The egress guard: decides which addresses outbound calls may reach.

Always refused: link-local (169.254.0.0/16, fe80::/10, which hold cloud metadata services), other known
metadata addresses, multicast, unspecified and reserved addresses. With `BLOCK_PRIVATE_NETWORKS=true`,
private, loopback and shared (CGNAT) ranges are refused too. Every address a host name resolves to is
checked, so a name that points inside is refused like the address itself.
"""

import asyncio
import ipaddress
import socket
from typing import Any
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


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _addresses(infos: list[tuple[Any, ...]]) -> list[IPAddress]:
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _unresolvable(host: str) -> EgressRefused:
    return EgressRefused(f"Cannot resolve host {host!r}.", code="dns_error")


async def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise _unresolvable(host) from None
    return _addresses(infos)


def _resolve_sync(host: str, port: int) -> list[IPAddress]:
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise _unresolvable(host) from None
    return _addresses(infos)


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused(
            f"Only http and https URLs with a host can be called (got {parts.scheme or 'none'})."
        )
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _check(host: str, addresses: list[IPAddress]) -> None:
    for address in addresses:
        reason = refusal_reason(address)
        if reason:
            raise EgressRefused(f"Refused to connect to {host}: it is {reason}.")


async def egress_check(url: str) -> None:
    """Raise `EgressRefused`, naming the reason, unless `url` is http(s) and every address it resolves to is
    allowed."""
    await egress_check_host(*_target(url))


async def egress_check_host(host: str, port: int) -> None:
    """Raise `EgressRefused` unless every address `host` resolves to is allowed (`dns_error` when it does
    not resolve)."""
    _check(host, await _resolve(host, port))


def egress_check_sync(url: str) -> None:
    """`egress_check` for synchronous code (it resolves the host blocking: never on the event loop)."""
    host, port = _target(url)
    _check(host, _resolve_sync(host, port))
