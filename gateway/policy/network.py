"""Network identifiers: EMAIL, URL, IP_ADDRESS (v4 and v6) and MAC_ADDRESS."""

from __future__ import annotations

import functools
import re

import regex

from gateway.policy import validators as v
from gateway.policy.charsets import ALNUM, DIGIT_RUN, DIGITS, FLAGS, HEX, UPPER
from gateway.policy.detector import (
    CONTINUATION,
    CONTINUES,
    OVERLONG,
    Finding,
    Match,
    RegexDetector,
)
from gateway.policy.numbers import digit_runs
from gateway.policy.regions import TriggerRegion

URL_CAP = 512  # longest URL body reported as one value; longer runs are masked whole
URL_CHARS = ALNUM + "-._~:/?#[]@!$&()*+;=%"  # RFC 3986 minus "," (CSV, prose) and quotes
_LETTERS = UPPER + UPPER.lower()
_LOCAL_CHARS = ALNUM + "._%+-"  # what an e-mail's local part is made of
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
_HEX2 = "[0-9A-Fa-f]{2}"
_MAC_START = r"(?<![A-Za-z0-9_:.\-])"
_MAC_END = r"(?![A-Za-z0-9_]|[:\-.][0-9A-Za-z])"
MAC_COLON = _MAC_START + ":".join([_HEX2] * 6) + _MAC_END
MAC_DASH = _MAC_START + "-".join([_HEX2] * 6) + _MAC_END
MAC_DOT = _MAC_START + r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}" + _MAC_END


def _email_starts(text: str, pos: int, cache: dict[str, object]) -> list[int]:
    """Where an e-mail can start: the local part's first character before each "@"."""
    starts = []
    at = text.find("@", pos)
    while at >= 0:
        lo = max(0, at - 65)
        start = lo + len(text[lo:at].rstrip(_LOCAL_CHARS))
        if start < at:  # longer than 64 characters fails the pattern's look-behind
            starts.append(start)
        at = text.find("@", at + 1)
    return starts


def _url_starts(text: str, pos: int, cache: dict[str, object]) -> list[int]:
    """Where a URL can start: the scheme before each "://" and each "www."."""
    starts = []
    at = text.find("://", pos)
    while at >= 0:
        lo = max(0, at - 6)
        start = lo + len(text[lo:at].rstrip(_LETTERS))
        if 2 <= at - start <= 5:  # schemes are 2 to 5 letters, after a non-letter
            starts.append(start)
        at = text.find("://", at + 3)
    at = text.find("www.", pos)
    if at >= 0:
        while at >= 0:
            starts.append(at)
            at = text.find("www.", at + 4)
        starts.sort()
    return starts


def _email(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
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


def _url(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    start, end = m.span()
    body = m.end("scheme")
    if end - body == URL_CAP and _runs_on(text, end):
        return Finding("URL", start, end, OVERLONG | CONTINUES)
    end = _url_end(text, body, end)
    if not any(ch.isalnum() for ch in text[body:end]):
        return None
    return Finding("URL", start, end)


def _url_piece(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    start, end = m.span()
    if end - start == URL_CAP and _runs_on(text, end):
        return Finding("URL", start, end, CONTINUATION | CONTINUES)
    end = _url_end(text, start, end)
    return Finding("URL", start, end, CONTINUATION) if end > start else None


@functools.cache
def _version_before() -> regex.Pattern[str]:
    return regex.compile(_VERSION_BEFORE, FLAGS)


def _ipv4(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    if not v.ipv4_ok(m.group()):
        return None
    start = m.start()
    if _version_before().search(text, max(0, start - 16), start) is not None:
        return None
    return Finding("IP_ADDRESS", start, m.end())


def _ipv6(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    value = m.group()
    if value.strip(":") == "" or not v.ipv6_ok(value):
        return None
    return Finding("IP_ADDRESS", *m.span())


def _mac_dot(text: str, m: Match, cache: dict[str, object]) -> Finding | None:
    # Dotted all-digit triples (2024.0101.1230) are dates and build numbers.
    if m.group().replace(".", "").isdigit():
        return None
    return Finding("MAC_ADDRESS", *m.span())


def network_detectors() -> dict[str, RegexDetector]:
    """Built on demand (start-up), never at import."""
    # An IPv6 address holds two colons at most four hex digits apart, and each MAC form
    # a fixed middle; a separator leads each trigger, which makes the scans cheap.
    hx = "[0-9A-Fa-f]"
    hex_colon = TriggerRegion(f":{hx}{{0,4}}:", run=HEX + ":.", reach=4 + 7 * 16)
    mac_chars = HEX + ":-."
    return {
        "email": RegexDetector(
            types=("EMAIL",), pattern=regex.compile(EMAIL, FLAGS),
            max_length=64 + 1 + 5 * 64 + 24, validate=_email, run_chars=ALNUM + "._%+-@",
            anchors=_email_starts, needs="@",
        ),
        "url": RegexDetector(
            types=("URL",), pattern=regex.compile(URL, FLAGS), max_length=8 + URL_CAP,
            validate=_url, run_chars=URL_CHARS, anchors=_url_starts,
            continuation=(regex.compile(_URL_CLASS + f"{{1,{URL_CAP}}}", FLAGS), _url_piece),
        ),
        "ipv4": RegexDetector(
            types=("IP_ADDRESS",), pattern=re.compile(IPV4), max_length=15, validate=_ipv4,
            run_chars=DIGIT_RUN, region=digit_runs(), min_digits=4, min_dots=3, needs=DIGITS,
        ),
        "ipv6": RegexDetector(
            types=("IP_ADDRESS",), pattern=re.compile(IPV6), max_length=4 + 7 * 16,
            validate=_ipv6, run_chars=HEX + ":.", region=hex_colon, needs=":",
        ),
        "mac_colon": RegexDetector(
            types=("MAC_ADDRESS",), pattern=re.compile(MAC_COLON), max_length=17,
            run_chars=mac_chars, region=hex_colon, needs=":",
        ),
        "mac_dash": RegexDetector(
            types=("MAC_ADDRESS",), pattern=re.compile(MAC_DASH), max_length=17,
            run_chars=mac_chars, region=TriggerRegion(f"-{hx}{{2}}" * 4 + "-", lead=2, tail=2),
            needs="-",
        ),
        "mac_dot": RegexDetector(
            types=("MAC_ADDRESS",), pattern=re.compile(MAC_DOT), max_length=14,
            validate=_mac_dot, run_chars=mac_chars, needs=".",
            region=TriggerRegion(f"\\.{hx}{{4}}\\.{hx}{{4}}", lead=4),
        ),
    }  # fmt: skip
