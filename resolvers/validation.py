"""Input rules shared by registration, update, import and connection tests."""

from __future__ import annotations

import urllib.parse

from resolvers.errors import BadUserInput

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION = 2000
MAX_LOCATION = 200
MAX_CREDENTIAL = 8192


def clean_name(value: str, field: str = "name") -> str:
    name = value.strip()
    if not 1 <= len(name) <= 100:
        raise BadUserInput("name must be 1 to 100 characters", field=field)
    if any(ord(ch) < 32 for ch in name):
        raise BadUserInput("name must not contain control characters", field=field)
    return name


def clean_base_url(value: str, field: str = "baseUrl") -> str:
    """An absolute http(s) URL with a host, without query or fragment; the trailing slash dropped."""
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise BadUserInput(f"URL longer than {MAX_URL_LENGTH} characters", field=field)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        # urllib's message may quote the whole host part, a user and password included.
        raise BadUserInput("not a valid URL: malformed host or port", field=field) from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise BadUserInput("URL must be absolute and use http or https", field=field)
    if not parts.hostname:
        raise BadUserInput("URL must name a host", field=field)
    if parts.username or parts.password:
        raise BadUserInput("put credentials in 'credential', not in the URL", field=field)
    if parts.query or parts.fragment:
        raise BadUserInput("URL must not carry a query or fragment", field=field)
    netloc = parts.hostname.lower() if ":" not in parts.hostname else f"[{parts.hostname.lower()}]"
    if port is not None:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def clean_text(value: str | None, limit: int, field: str) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise BadUserInput(f"{field} may be at most {limit} characters", field=field)
    return text


def check_interval(value: int, minimum: int, maximum: int, field: str = "checkIntervalSeconds") -> int:
    if not minimum <= value <= maximum:
        raise BadUserInput(f"check interval must be between {minimum} and {maximum} seconds", field=field)
    return value


def check_timeout(value: float, maximum: float, interval: int, field: str = "timeoutSeconds") -> float:
    if not 0.5 <= value <= maximum:
        raise BadUserInput(f"timeout must be between 0.5 and {maximum} seconds", field=field)
    if value > interval:
        raise BadUserInput("timeout must not exceed the check interval", field=field)
    return value


def check_credential(value: str, field: str = "credential") -> str:
    if len(value) > MAX_CREDENTIAL:
        raise BadUserInput(f"credential may be at most {MAX_CREDENTIAL} characters", field=field)
    if any(ch in value for ch in "\r\n\x00"):
        raise BadUserInput("credential must not contain line breaks", field=field)
    return value


def check_sla_target(value: float, field: str = "slaTarget") -> float:
    if not 0 < value <= 1:
        raise BadUserInput("the SLA target is a share: more than 0, at most 1 (0.999 for 99.9%)", field=field)
    return value


def check_cost(value: float, field: str = "costPerJob") -> float:
    if not 0 <= value < 1e9:
        raise BadUserInput("the cost per job must be 0 or more", field=field)
    return value
