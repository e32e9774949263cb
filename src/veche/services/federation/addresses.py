"""Which IP addresses outgoing federation may connect to.

A server name is chosen by whoever sends us an event or a user ID, so without a check a
hostile name (or its .well-known, SRV or DNS answer) could point our requests at services
on our own network. Only globally routable unicast addresses are allowed unless the
operator says otherwise (test networks on loopback or private ranges).
"""

from __future__ import annotations

import ipaddress


class AddressPolicy:
    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    def allows(self, ip: str) -> bool:
        """Whether `ip` (a literal, IPv6 without brackets) may be connected to."""
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if self.allow_private:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_global and not address.is_multicast
