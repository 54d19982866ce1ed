"""Who is really on the other end of a console request, behind a reverse proxy.

A proxy in CONSOLE_TRUSTED_PROXIES is believed about the client (`X-Forwarded-For`) and the
scheme (`X-Forwarded-Proto`); anyone else's forwarding headers are ignored, because any client
can write them. The client is the rightmost address in the chain (the forwarded addresses,
then the peer) that is not a trusted proxy: addresses to its left were written by the client
itself and prove nothing.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple, Union

from aiohttp import web

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def parse_networks(raw: str, variable: str = "CONSOLE_TRUSTED_PROXIES") -> Tuple[Network, ...]:
    """"10.0.0.5, 192.168.0.0/24" → networks; a wrong entry stops the start with its name."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SystemExit(f"threadline: {variable} lists {item!r}, which is neither an IP address nor a CIDR")
    return tuple(networks)


def _ip(raw: str) -> Optional[Address]:
    try:
        return ipaddress.ip_address(raw.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    networks: Tuple[Network, ...] = ()

    def trusts(self, address: Optional[str]) -> bool:
        ip = _ip(address or "")
        return ip is not None and any(ip in network for network in self.networks)

    def forwarded_headers_ignored(self, request: web.Request) -> bool:
        """The request carries forwarding headers that this console does not believe."""
        sent = "X-Forwarded-For" in request.headers or "X-Forwarded-Proto" in request.headers
        return sent and not self.trusts(request.remote)

    def client_address(self, request: web.Request) -> str:
        peer = request.remote or ""
        if not self.trusts(peer):
            return peer
        chain = _values(request.headers.getall("X-Forwarded-For", []))
        for hop in reversed(chain):
            if not self.trusts(hop):
                return hop  # unparsable too: whatever the last trusted proxy saw, as it wrote it
        return chain[0] if chain else peer

    def is_https(self, request: web.Request) -> bool:
        if request.secure:  # aiohttp: TLS on this very connection, never a header
            return True
        if not self.trusts(request.remote):
            return False
        protos = _values(request.headers.getall("X-Forwarded-Proto", []))
        return bool(protos) and protos[-1].lower() == "https"  # the value our own proxy set


def _values(headers: Iterable[str]) -> List[str]:
    """Comma-separated header values, every occurrence of the header, in order."""
    return [part.strip() for value in headers for part in value.split(",") if part.strip()]
