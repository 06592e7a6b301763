"""Who is calling: the client address behind trusted proxies, and the optional allowlist."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str], what: str) -> tuple[Network, ...]:
    """Addresses or CIDR networks; a bad entry stops the start-up with its name."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{what}: {entry!r} is not an IP address or network") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket arrives as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def contains(networks: Sequence[Network], text: str) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in networks)


def client_address(remote: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address. X-Forwarded-For is believed only when the peer is a trusted
    proxy, and then only up to the first hop that is not itself a trusted proxy: anything
    left of that was written by the client and may be forged."""
    peer = remote or "unknown"
    if not trusted or not forwarded_for or not contains(trusted, peer):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        if _address(hop) is None:
            # A hop that is not an address cannot be checked; stop at the last good one.
            break
        client = hop
        if not contains(trusted, hop):
            break
    return client
