"""Inline images and files from OpenAI clients -> Converse ``image``/``document`` blocks.

Only base64 ``data:`` URIs (or, for files, bare base64) are accepted: the gateway never fetches
remote content. The image format is read from the bytes themselves, so a PNG labelled
``image/jpeg`` still reaches Bedrock with the right ``format``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from gateway.errors import InvalidRequestError

MAX_IMAGE_BYTES = 3_932_160  # 3.75 MiB, the Converse per-image limit.
MAX_DOCUMENT_BYTES = 4_718_592  # 4.5 MiB, the Converse per-document limit.
MAX_DOCUMENT_NAME = 200

_DOCUMENT_MIME = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
}
_DOCUMENT_EXTENSION = {
    "pdf": "pdf",
    "csv": "csv",
    "doc": "doc",
    "docx": "docx",
    "xls": "xls",
    "xlsx": "xlsx",
    "html": "html",
    "htm": "html",
    "txt": "txt",
    "text": "txt",
    "md": "md",
    "markdown": "md",
}
# Converse document names: alphanumerics, single spaces, hyphens, parentheses, brackets.
_NAME_DISALLOWED = re.compile(r"[^A-Za-z0-9\-()\[\] ]+")
_SPACES = re.compile(r" {2,}")


def _sniff_image(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    return None


def _decode_base64(text: str, limit: int, what: str, param: str) -> bytes:
    # Tolerate MIME-style line breaks and missing padding; the bytes are still checked.
    if "\n" in text or "\r" in text or " " in text:
        text = "".join(text.split())
    if len(text) % 4:
        text += "=" * (-len(text) % 4)
    # Refuse oversized payloads before decoding them: 4 base64 characters carry 3 bytes.
    if (len(text) // 4) * 3 > limit + 3:
        raise InvalidRequestError(
            f"The {what} is larger than the {limit / 1_048_576:.2f} MB Bedrock accepts.",
            param=param,
            code="invalid_value",
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(
            f"The {what} is not valid base64 data.", param=param, code="invalid_value"
        ) from exc
    if not data:
        raise InvalidRequestError(f"The {what} is empty.", param=param, code="invalid_value")
    if len(data) > limit:
        raise InvalidRequestError(
            f"The {what} is larger than the {limit / 1_048_576:.2f} MB Bedrock accepts.",
            param=param,
            code="invalid_value",
        )
    return data


def _split_data_uri(uri: str) -> tuple[str, str] | None:
    """``data:<mime>[;params];base64,<payload>`` -> (mime, payload); None if not base64 data."""
    if uri[:5].lower() != "data:":
        return None
    header, comma, payload = uri[5:].partition(",")
    params = header.split(";")
    if not comma or params[-1].strip().lower() != "base64":
        return None
    return params[0].strip().lower(), payload


def image_block(url: str, *, param: str, allow_remote: bool = False) -> dict[str, Any]:
    """A Converse ``image`` block from an OpenAI ``image_url.url``."""
    lowered = url[:8].lower()
    if lowered.startswith(("http://", "https://")):
        # allow_remote is reserved for a future fetcher with size, time and SSRF limits;
        # until one exists the gateway never fetches, so the answer is the same either way.
        raise InvalidRequestError(
            "remote image URLs are not supported; send the image as a base64 data: URI",
            param=param,
            code="unsupported_image_url",
        )
    parts = _split_data_uri(url)
    if parts is None:
        raise InvalidRequestError(
            "image_url must be a base64 data: URI such as data:image/png;base64,...",
            param=param,
            code="invalid_value",
        )
    data = _decode_base64(parts[1], MAX_IMAGE_BYTES, "image", param)
    fmt = _sniff_image(data)
    if fmt is None:
        raise InvalidRequestError(
            "Unsupported image: send PNG, JPEG, GIF or WebP data.",
            param=param,
            code="invalid_image_format",
        )
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document_format(mime: str | None, filename: str | None) -> str | None:
    if mime and mime in _DOCUMENT_MIME:
        return _DOCUMENT_MIME[mime]
    if filename and "." in filename:
        return _DOCUMENT_EXTENSION.get(filename.rsplit(".", 1)[1].strip().lower())
    return None


def _clean_name(filename: str | None) -> str:
    stem = (filename or "").rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    cleaned = _SPACES.sub(" ", _NAME_DISALLOWED.sub(" ", stem)).strip()
    return cleaned[: MAX_DOCUMENT_NAME - 8].rstrip() or "document"


class DocumentNamer:
    """Gives each document of one request a valid, unique Converse name."""

    __slots__ = ("_used",)

    def __init__(self) -> None:
        self._used: set[str] = set()

    def name(self, filename: str | None) -> str:
        base = _clean_name(filename)
        name = base
        n = 1
        while name in self._used:
            n += 1
            name = f"{base} ({n})"
        self._used.add(name)
        return name


def document_block(
    file_data: str, filename: str | None, *, param: str, namer: DocumentNamer
) -> dict[str, Any]:
    """A Converse ``document`` block from an OpenAI ``file`` part's ``file_data``."""
    parts = _split_data_uri(file_data)
    mime, payload = parts if parts is not None else (None, file_data)
    fmt = _document_format(mime, filename)
    if fmt is None:
        raise InvalidRequestError(
            "Unsupported file type: send pdf, csv, doc, docx, xls, xlsx, html, txt or md "
            "(named by the data: URI MIME type or the filename extension).",
            param=param,
            code="invalid_value",
        )
    data = _decode_base64(payload, MAX_DOCUMENT_BYTES, "file", param)
    return {"document": {"format": fmt, "name": namer.name(filename), "source": {"bytes": data}}}
