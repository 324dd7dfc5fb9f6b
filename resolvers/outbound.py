"""Refusing forbidden targets when a URL is entered, with an error that names the rule.

The probe's own resolver enforces the address policy at connect time (probes.address_policy);
this check runs earlier so an operator who registers `http://169.254.169.254/` learns why at
once instead of from a failing check. A name that cannot be resolved now is accepted: it may be
resolvable later, and the connect-time check still applies then.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.parse

from probes.address_policy import AddressPolicy, parse_ip, resolved_refusal
from resolvers.errors import BadUserInput

RESOLVE_TIMEOUT_S = 3.0


async def check_target(url: str, policy: AddressPolicy | None, field: str = "baseUrl") -> None:
    if policy is None:
        return
    host = urllib.parse.urlsplit(url).hostname or ""
    literal = parse_ip(host)
    if literal is not None:
        refusal = policy.refusal(host, literal)
    else:
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError, UnicodeError):
            return
        refusal = resolved_refusal(policy, host, infos)
    if refusal is not None:
        raise BadUserInput(str(refusal), field=field, rule=refusal.rule)
