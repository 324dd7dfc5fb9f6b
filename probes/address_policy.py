"""Which network addresses a probe may connect to: the guard against server-side request forgery.

Vigil fetches URLs that users type in and URLs found inside registries and redirects. Without a
guard, a registration could point it at the cloud metadata service, the database next door or
anything else on the private network it runs in. The policy is applied to the address actually
connected to (the resolver result, or an IP literal), so a name that resolves to a private
address, or changes its answer between two lookups (DNS rebinding), is refused all the same.

- Always refused: unspecified, multicast and reserved addresses (never a real service).
- Refused unless `allow_private`: loopback, private (RFC 1918, unique-local IPv6 and the other
  special-purpose ranges Python counts as private), link-local and shared (100.64.0.0/10).
- Refused unless `allow_metadata`: cloud metadata endpoints, even when private ones are allowed.
IPv6 addresses that carry an IPv4 one (mapped `::ffff:10.0.0.1`, 6to4, Teredo) are judged as that
IPv4 address.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "192.0.0.192")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _private_kind(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    return None


class ForbiddenAddress(OSError):
    """A connection the policy refuses; `rule` names the range, for the operator."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def parse_ip(host: str) -> IPAddress | None:
    """The address of an IP literal host (brackets and zone allowed), None for a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclasses.dataclass(frozen=True, slots=True)
class AddressPolicy:
    allow_private: bool = False
    allow_metadata: bool = False

    def violation(self, address: str | IPAddress) -> str | None:
        """The rule `address` breaks ("loopback", "cloud metadata"...), or None when allowed."""
        ip = parse_ip(str(address)) if isinstance(address, str) else address
        if ip is None:
            return "not an IP address"
        if isinstance(ip, ipaddress.IPv6Address):
            # An IPv6 address that carries an IPv4 one is judged as the IPv4 address it reaches.
            embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
            ip = embedded if embedded is not None else ip
        if ip in METADATA_ADDRESSES:
            return None if self.allow_metadata else "cloud metadata"
        if ip.is_unspecified:
            return "unspecified"
        if ip.is_multicast:
            return "multicast"
        if ip.is_reserved and not ip.is_loopback:
            return "reserved"
        private = _private_kind(ip)
        if private is not None:
            return None if self.allow_private else private
        return None

    def refusal(self, host: str, address: str | IPAddress) -> ForbiddenAddress | None:
        rule = self.violation(address)
        if rule is None:
            return None
        hint = "" if rule in ("unspecified", "multicast", "reserved") else _HINTS.get(rule, _PRIVATE_HINT)
        shown = host if str(address) == host else f"{host} ({address})"
        return ForbiddenAddress(f"{shown} is a {rule} address; Vigil does not connect there{hint}", rule)


_PRIVATE_HINT = " (set VIGIL_ALLOW_PRIVATE_TARGETS=true for on-premise services)"
_HINTS = {"cloud metadata": " (set VIGIL_ALLOW_METADATA_TARGETS=true only if you really mean it)"}


class PolicyResolver(AbstractResolver):
    """Resolves like aiohttp, then drops forbidden addresses; refuses when none is left.

    aiohttp connects only to what the resolver returns, so the check holds at connect time.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._policy.violation(r["host"]) is None]
        if not allowed:
            refusal = self._policy.refusal(host, results[0]["host"]) if results else None
            raise refusal or ForbiddenAddress(f"{host} did not resolve to an allowed address", "none allowed")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def resolved_refusal(policy: AddressPolicy, host: str, infos: list[tuple[Any, ...]]) -> ForbiddenAddress | None:
    """For a getaddrinfo() answer: a refusal when every address is forbidden."""
    addresses = [info[4][0] for info in infos]
    if addresses and all(policy.violation(a) is not None for a in addresses):
        return policy.refusal(host, addresses[0])
    return None
