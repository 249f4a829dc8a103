"""Network identifiers: EMAIL, URL, IP_ADDRESS (v4 and v6) and MAC_ADDRESS."""

from __future__ import annotations

import functools
import re

import regex

from gateway.policy import validators as v
from gateway.policy.charsets import ALNUM, DIGIT_RUN, FLAGS, HEX
from gateway.policy.detector import (
    CONTINUATION,
    CONTINUES,
    OVERLONG,
    Finding,
    Match,
    RegexDetector,
)
from gateway.policy.numbers import digit_runs
from gateway.policy.regions import Gate, Region, find_gate

URL_CAP = 512  # longest URL body reported as one value; longer runs are masked whole
URL_CHARS = ALNUM + "-._~:/?#[]@!$&()*+;=%"  # RFC 3986 minus "," (CSV, prose) and quotes
_URL_CLASS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+;=%]"
_URL_TRIM = ".,;:!?*'\"]}"

EMAIL = (
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,5}[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9_\-@]|\.[A-Za-z0-9])"
)
# Extensions that follow an "@" in file names (icon@2x.png) but are not mail domains.
_FILE_TLDS = frozenset((
    "png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "pdf", "txt",
    "csv", "tsv", "json", "yaml", "yml", "xml", "html", "htm", "css", "js", "ts", "tsx",
    "jsx", "py", "rb", "go", "java", "kt", "cpp", "hpp", "log", "ini", "cfg", "conf", "toml",
    "lock", "gz", "tar", "tgz", "bz2", "xz", "bin", "exe", "dll", "dylib", "bat", "sql",
    "mp3", "mp4", "wav", "avi", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "whl", "jar",
    "php", "lua", "ipynb",
))  # fmt: skip
URL = (
    r"(?<![A-Za-z0-9_@.\-])(?P<scheme>(?i:https?|ftps?|sftp|wss?)://|www\.)"
    + _URL_CLASS
    + f"{{1,{URL_CAP}}}"
)
IPV4 = r"(?<![A-Za-z0-9._\-])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![A-Za-z0-9_\-]|\.[A-Za-z0-9])"
# Four dotted numbers right after these words are versions, not addresses.
_VERSION_BEFORE = (
    r"(?i)(?:\bv|version|\bver\.?|release|build|firmware|\bfw|\brev(?:ision)?|[=<>~!]=)"
    r"[ \t]*[:=#]?[ \t]*$"
)
IPV6 = (
    r"(?<![A-Za-z0-9_:.])(?:[0-9A-Fa-f]{1,4}|(?=:))"
    r"(?::(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{0,4})){2,7}+"
    r"(?![A-Za-z0-9_:]|\.[0-9])"
)
_HEX_COLON = r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*"
_HEX2 = "[0-9A-Fa-f]{2}"
_MAC_START = r"(?<![A-Za-z0-9_:.\-])"
_MAC_END = r"(?![A-Za-z0-9_]|[:\-.][0-9A-Za-z])"
MAC_COLON = _MAC_START + ":".join([_HEX2] * 6) + _MAC_END
MAC_DASH = _MAC_START + "-".join([_HEX2] * 6) + _MAC_END
MAC_DOT = _MAC_START + r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}" + _MAC_END
# The ".hhhh.hhhh" inside a dotted MAC address, 4 characters after its start.
_MAC_DOTS = r"\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"


def _email(text: str, m: Match) -> Finding | None:
    local, _, domain = m.group().partition("@")
    if local[0] == "." or local[-1] == "." or ".." in local:
        return None
    if domain.rpartition(".")[2].lower() in _FILE_TLDS:
        return None
    return Finding("EMAIL", *m.span())


def _url_end(text: str, start: int, end: int) -> int:
    """Drop trailing punctuation that ends the sentence rather than the URL."""
    while end > start:
        ch = text[end - 1]
        # A ")" stays when it closes a "(" inside the URL (Wikipedia-style links).
        if ch in _URL_TRIM or (
            ch == ")" and text.count("(", start, end) < text.count(")", start, end)
        ):
            end -= 1
        else:
            break
    return end


def _runs_on(text: str, end: int) -> bool:
    return end < len(text) and text[end] in URL_CHARS


def _url(text: str, m: Match) -> Finding | None:
    start, end = m.span()
    body = m.end("scheme")
    if end - body == URL_CAP and _runs_on(text, end):
        return Finding("URL", start, end, OVERLONG | CONTINUES)
    end = _url_end(text, body, end)
    if not any(ch.isalnum() for ch in text[body:end]):
        return None
    return Finding("URL", start, end)


def _url_piece(text: str, m: Match) -> Finding | None:
    start, end = m.span()
    if end - start == URL_CAP and _runs_on(text, end):
        return Finding("URL", start, end, CONTINUATION | CONTINUES)
    end = _url_end(text, start, end)
    return Finding("URL", start, end, CONTINUATION) if end > start else None


@functools.cache
def _version_before() -> regex.Pattern[str]:
    return regex.compile(_VERSION_BEFORE, FLAGS)


def _ipv4(text: str, m: Match) -> Finding | None:
    if not v.ipv4_ok(m.group()):
        return None
    start = m.start()
    if _version_before().search(text, max(0, start - 16), start) is not None:
        return None
    return Finding("IP_ADDRESS", start, m.end())


def _ipv6(text: str, m: Match) -> Finding | None:
    value = m.group()
    if value.strip(":") == "" or not v.ipv6_ok(value):
        return None
    return Finding("IP_ADDRESS", *m.span())


def _mac_dot(text: str, m: Match) -> Finding | None:
    # Dotted all-digit triples (2024.0101.1230) are dates and build numbers.
    if m.group().replace(".", "").isdigit():
        return None
    return Finding("MAC_ADDRESS", *m.span())


def _count_gate(char: str, count: int) -> Gate:
    def gate(text: str, pos: int, cache: dict[str, object]) -> bool:
        return text.count(char, pos) >= count

    return gate


def network_detectors() -> dict[str, RegexDetector]:
    """Built on demand (start-up), never at import."""
    hex_colon = Region(regex.compile(_HEX_COLON, FLAGS))
    mac_chars = HEX + ":-."
    return {
        "email": RegexDetector(
            types=("EMAIL",), pattern=regex.compile(EMAIL, FLAGS),
            max_length=64 + 1 + 5 * 64 + 24, validate=_email, run_chars=ALNUM + "._%+-@",
            gate=find_gate("@"),
        ),
        "url": RegexDetector(
            types=("URL",), pattern=regex.compile(URL, FLAGS), max_length=8 + URL_CAP,
            validate=_url, run_chars=URL_CHARS, gate=find_gate("://", "www.", back=8),
            continuation=(regex.compile(_URL_CLASS + f"{{1,{URL_CAP}}}", FLAGS), _url_piece),
        ),
        "ipv4": RegexDetector(
            types=("IP_ADDRESS",), pattern=re.compile(IPV4), max_length=15, validate=_ipv4,
            run_chars=DIGIT_RUN, region=digit_runs(), min_digits=4, min_dots=3,
        ),
        "ipv6": RegexDetector(
            types=("IP_ADDRESS",), pattern=re.compile(IPV6), max_length=4 + 7 * 16,
            validate=_ipv6, run_chars=HEX + ":.", region=hex_colon,
        ),
        "mac_colon": RegexDetector(
            types=("MAC_ADDRESS",), pattern=re.compile(MAC_COLON), max_length=17,
            run_chars=mac_chars, region=hex_colon,
        ),
        "mac_dash": RegexDetector(
            types=("MAC_ADDRESS",), pattern=regex.compile(MAC_DASH, FLAGS), max_length=17,
            run_chars=mac_chars, gate=_count_gate("-", 5),
        ),
        "mac_dot": RegexDetector(
            types=("MAC_ADDRESS",), pattern=regex.compile(MAC_DOT, FLAGS), max_length=14,
            validate=_mac_dot, run_chars=mac_chars,
            region=Region(regex.compile(_MAC_DOTS, FLAGS), lead=4),
        ),
    }  # fmt: skip
