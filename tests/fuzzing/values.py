"""Hostile values: what a careless or malicious API client, or a watched server, can send.

Each strategy mixes a few well-formed values (so examples reach past the first check) with the
edges that break parsers: every code point including NUL and lone surrogates, strings just over
each documented length limit, integers past 32 and 64 bits, NaN and infinities, bogus enum
values, cursors and ids that are almost right, URLs with odd schemes, user info, IPv6 hosts and
ports out of range, and timestamps at the ends of the calendar.
"""

from __future__ import annotations

import base64
import datetime as dt
import math

from hypothesis import strategies as st

# --- text -------------------------------------------------------------------------------------

ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
"""Every code point, lone surrogates included (what a JSON `\\ud800` escape decodes to)."""

NASTY_TEXT = (
    "", " ", "\t", "\x00", "a\x00b", "\r\n", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u202e", "\u200b",
    "\ufeff", "\ud800", "\udfff", "a\ud83d", "\U0001f600", "\u0130", "\u00df", "\ufb00", "\u216b",
    "\u0661\u0662", "\uff11", "%", "_", "%_%", "\\", "'", '"', "' OR '1'='1", "--", "${jndi:ldap://x}",
    "{{7*7}}", "<script>alert(1)</script>", "null", "NaN", "Infinity", "-0", "1e309", "\U0010ffff",
)  # fmt: skip

UNSTORABLE_TEXT = ("\x00", "\ud800", "\udbff", "\udc00", "\udfff")
"""NUL and lone surrogates: JSON carries them, no database stores them. Rare in random text, so drawn on purpose."""

LENGTHS = (99, 100, 101, 199, 200, 201, 300, 301, 500, 501, 1999, 2000, 2001, 2048, 2049, 8192, 8193, 70_000)
"""Around every length limit of docs/api.md (names 100, search 200, panel 300, reason 500, ...)."""

LONG_TEXT = st.builds(
    lambda unit, length: unit * length,
    st.sampled_from(["a", " ", "\x00", "\u00e9", "\U0001f600", "\ud800", "%"]),
    st.sampled_from(LENGTHS),
)

PLAIN_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Z")), min_size=1, max_size=40)
"""Printable text without edge spaces: what a well-meaning client sends."""


def hostile_text() -> st.SearchStrategy[str]:
    """Any string: random code points, the nasty list, strings just over a limit, and mixes of them."""
    piece = (
        st.text(ANY_CHARACTER, max_size=30)
        | st.sampled_from(NASTY_TEXT)
        | st.sampled_from(UNSTORABLE_TEXT)
        | LONG_TEXT
        | PLAIN_TEXT
    )
    return st.lists(piece, max_size=3).map("".join)


# --- numbers and wrong types --------------------------------------------------------------------

EDGE_INTS = (
    0, 1, -1, 4, 5, 6, 29, 30, 31, 59, 60, 61, 100, 101, 86_399, 86_400, 86_401, 2**31 - 1, 2**31, -(2**31),
    -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**400,
)  # fmt: skip
EDGE_FLOATS = (
    0.0, -0.0, 5e-324, 0.4999999, 0.5, 0.999, 1.0, 1.0000001, 59.999, 60.0, 60.000001, 1e9, 2.0**53,
    1e308, -1e308, math.inf, -math.inf, math.nan,
)  # fmt: skip


def hostile_ints() -> st.SearchStrategy[int]:
    return st.integers(-(2**31), 2**31 - 1) | st.integers() | st.sampled_from(EDGE_INTS)


def hostile_floats() -> st.SearchStrategy[float | int]:
    """Floats with NaN, infinities, -0.0 and subnormals, and ints (a GraphQL Float accepts them)."""
    return st.floats() | st.sampled_from(EDGE_FLOATS) | st.sampled_from(EDGE_INTS)


WRONG_TYPES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
"""A variable value of any JSON type, for a field declared with another one."""


# --- enums, ids, cursors ------------------------------------------------------------------------


def hostile_enum(values: list[str], *, nullable: bool = True) -> st.SearchStrategy[object]:
    """The real values, their lower-case and padded spellings, unknown names and other types
    (null only when `nullable`)."""
    others = WRONG_TYPES if nullable else WRONG_TYPES.filter(lambda v: v is not None)
    return (
        st.sampled_from(values)
        | st.sampled_from([v.lower() for v in values] + [f" {v}" for v in values])
        | st.sampled_from(["", "null", "__typename", "UNKNOWN", "HEALTHY ", "ADMIN\x00"])
        | hostile_text()
        | others
    )


def with_unknown_keys(inputs: st.SearchStrategy[dict[str, object]]) -> st.SearchStrategy[dict[str, object]]:
    """Now and then a key the input type does not declare, which GraphQL must refuse."""
    extra = mostly(st.just({}), st.dictionaries(st.sampled_from(["unknownField", "id", "status"]), WRONG_TYPES))
    return st.builds(lambda given, more: {**given, **more}, inputs, extra)


ID_TEXT = (
    "", " ", "0", "-1", "-0", "1.0", "1e3", "0x10", " 1", "1 ", "+1", "\u0661", "\uff11", "1_0", "9" * 19,
    "9" * 20, "9" * 5000, "null", "\x00", "\ud800",
)  # fmt: skip


def hostile_ids() -> st.SearchStrategy[object]:
    """What a client may pass as an ID: small ids that may exist, and everything an id parser trips on."""
    return (
        st.integers(1, 40)
        | st.integers(1, 40).map(str)
        | hostile_ints()
        | hostile_ints().map(str)
        | st.sampled_from(ID_TEXT)
        | hostile_text()
        | WRONG_TYPES
    )


CURSOR_KINDS = ("service", "check", "incident", "alert", "", "Service", "service ", "x")


def hostile_cursors() -> st.SearchStrategy[object]:
    """Cursors that decode to almost the right thing, and strings that are not base64 at all."""
    value = st.sampled_from(ID_TEXT) | hostile_ints().map(str) | st.text(ANY_CHARACTER, max_size=10)
    raw = st.builds(lambda kind, sep, v: f"{kind}{sep}{v}", st.sampled_from(CURSOR_KINDS), st.sampled_from(":_"), value)
    encoded = st.builds(
        lambda text, encode, strip: encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=" if strip else ""),
        raw,
        st.sampled_from([base64.urlsafe_b64encode, base64.b64encode, base64.b32encode]),
        st.booleans(),
    )
    return encoded | encoded.map(lambda c: c + "\x00") | hostile_text() | WRONG_TYPES


# --- URLs ----------------------------------------------------------------------------------------

SCHEMES = ("http", "https", "HTTP", "hTTps", "ftp", "file", "javascript", "data", "gopher", "ws", "", " http")
SEPARATORS = ("://", "://", "://", ":/", ":", ":///", "//", ":\\\\")
USERINFO = ("", "", "", "user@", "user:pass@", ":@", "@", "a@b@", "%00@")
HOSTS = (
    "example.org", "EXAMPLE.org", "svc.example.org.", "127.0.0.1", "169.254.169.254", "0.0.0.0", "[::1]",
    "[::ffff:169.254.169.254]", "[fe80::1%25eth0]", "[::1", "::1", "[v1.x]", "[]", "2130706433", "0x7f.1",
    "xn--nxasmq6b", "b\u00fccher.de", "EXAMPLE.\u0130", "a" * 300, "", "h\x00st", "ex ample.org", "\ud800.org",
)  # fmt: skip
PORTS = ("", "", "", ":", ":0", ":80", ":65535", ":65536", ":-1", ":99999999999999999999", ":abc", ":\uff18\uff10")
PATHS = ("", "/", "/api/", "//", "/a/b/", "/%00", "/..", "/\u00fc", "/ ", "/a?b")
SUFFIXES = ("", "", "", "?", "?q=1", "#", "#f", "?a#b")


def hostile_urls() -> st.SearchStrategy[str]:
    """URLs built from odd parts (scheme, user info, host, port, path, query), and any text at all."""
    pieces = [SCHEMES, SEPARATORS, USERINFO, HOSTS, PORTS, PATHS, SUFFIXES]
    built = st.tuples(*(st.sampled_from(p) | st.text(ANY_CHARACTER, max_size=4) for p in pieces)).map("".join)
    spaced = st.builds(lambda url, pad: f"{pad}{url}{pad}", built, st.sampled_from(["", " ", "\t", "\n"]))
    return built | spaced | hostile_text() | LONG_TEXT.map(lambda s: "http://example.org/" + s)


def valid_urls() -> st.SearchStrategy[str]:
    """Base URLs registration accepts: http(s), a host unique to the example, maybe a port and a path."""
    label = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
    return st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}.example.org{port}{path}",
        st.sampled_from(["http", "https", "HTTPS"]),
        label,
        st.sampled_from(["", ":8443", ":1"]),
        st.sampled_from(["", "/", "/api", "/imputation/"]),
    )


# --- time ----------------------------------------------------------------------------------------

EDGE_TIMES = (
    "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999-01:00",
    "9999-12-31T23:59:59Z", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z",
    "2026-06-30T23:59:60Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+23:59", "2026-01-01",
    "2026-01-01T00:00:00", "2026-01-01T00:00:00.1234567890123Z", "20260101T000000Z", "2026-W01-1T00:00Z",
    "\uff12\uff10\uff12\uff16-01-01T00:00:00Z", " 2026-01-01T00:00:00Z", "now", "0", "-1",
)  # fmt: skip
OFFSETS = st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59))


def hostile_times() -> st.SearchStrategy[str | dt.timedelta]:
    """A DateTime variable: ISO text at the edges of the calendar and of the offsets, naive or
    aware; or a `timedelta`, which the test turns into that far from now (windows that can pass)."""
    timezones = st.none() | st.just(dt.UTC) | OFFSETS.map(dt.timezone)
    absolute = st.datetimes(timezones=timezones).map(lambda t: t.isoformat())
    relative = st.timedeltas(min_value=dt.timedelta(days=-40), max_value=dt.timedelta(days=40))
    return st.sampled_from(EDGE_TIMES) | absolute | relative | hostile_text()


# --- JSON, as a watched server or an import document sends it ----------------------------------

PROTOCOL_KEYS = [
    "id", "name", "type", "version", "organization", "url", "group", "artifact", "maintenace",
    "maintenaceMessage", "loggedIn", "apps", "user", "username", "params", "values", "key", "value",
    "label", "queue", "size", "message", "workflow_type_versions", "workflow_engine_versions",
    "workflow_type_version", "workflow_engine_version", "system_state_counts", "supported_wes_versions",
    "supported_filesystem_protocols", "authentication", "refpanel", "population", "build", "phasing",
    "mode", "files",
]  # fmt: skip
"""Keys the protocol parsers look for, so generated documents reach past the first type check."""

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["refpanel", "population", "build", "phasing", "mode", "files", "wes", "local_folder"])
)


def json_values(
    keys: list[str] = PROTOCOL_KEYS, scalars: st.SearchStrategy[object] = JSON_SCALARS
) -> st.SearchStrategy[object]:
    """Any JSON value whose objects mostly use `keys`."""
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), children, max_size=6)
        ),
        max_leaves=40,
    )


HOSTILE_JSON_SCALARS = (
    JSON_SCALARS
    | st.sampled_from(EDGE_FLOATS)
    | st.sampled_from(EDGE_INTS)
    | st.text(ANY_CHARACTER, max_size=10)
    | st.sampled_from(NASTY_TEXT)
)
"""Scalars Python's json module reads from a hostile body: NaN, Infinity, 400-digit integers and
lone surrogates (`\\ud800` escapes) included."""


# --- mixing --------------------------------------------------------------------------------------


def mostly(valid: st.SearchStrategy[object], hostile: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """`valid` seven times in eight: an input of many fields then often has one bad field only,
    which is the case where a refusal must name that field, and is often valid as a whole."""
    # one_of(valid, valid, ...) would not do: Hypothesis merges identical branches.
    return st.sampled_from([valid] * 7 + [hostile]).flatmap(lambda chosen: chosen)


def optional(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy
