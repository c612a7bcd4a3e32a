"""Where the engine may send requests on behalf of API users (hook callbacks).

A webhook API lets anyone with a key make the dispatcher POST to a URL of
their choice; without limits that reaches the metadata service, the broker's
admin ports or anything else on the private network (SSRF). So a callback must
be https and every address it resolves to must be globally routable, unless an
operator allows a network explicitly. The check runs when a hook is registered
and again when the dispatcher connects (``GuardedResolver``), because a name
can resolve elsewhere later (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from ..settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressDenied(OSError):
    """A destination the policy refuses; the message says why (and is safe to show)."""


@dataclass(frozen=True)
class EgressPolicy:
    allowed_networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> EgressPolicy:
        return cls(tuple(settings.hook_allowed_networks))

    def check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https":
            raise EgressDenied("the callback URL must use https")
        if not parts.hostname:
            raise EgressDenied("the callback URL has no host")
        if parts.username or parts.password:
            raise EgressDenied("the callback URL must not carry credentials before the host")
        literal = _literal(parts.hostname)
        if literal is not None:
            self.check_address(literal)

    def check_address(self, address: Address) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return
        if not address.is_global or address.is_multicast:
            raise EgressDenied(
                f"the callback host resolves to {address}, a loopback, private, link-local or "
                "reserved address (allow its network with CDP_HOOK_ALLOWED_NETWORKS)"
            )

    async def check_host(self, url: str) -> None:
        """The URL's rules, then every address its host resolves to now."""
        self.check_url(url)
        parts = urlsplit(url)
        assert parts.hostname is not None
        if _literal(parts.hostname) is not None:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
            )
        except socket.gaierror:
            raise EgressDenied(f"the callback host {parts.hostname!r} does not resolve") from None
        for info in infos:
            self.check_address(ipaddress.ip_address(info[4][0]))


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to a denied address."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self._policy.check_address(ipaddress.ip_address(result["host"]))
        return results

    async def close(self) -> None:
        await self._inner.close()


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
