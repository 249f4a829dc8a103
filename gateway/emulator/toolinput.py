"""Deterministic tool input synthesised from a tool's JSON Schema."""

from __future__ import annotations

from typing import Any

# Deeper than any sane tool schema; stops self-referencing ($ref) schemas from looping.
_MAX_DEPTH = 8

_SCALARS: dict[str, Any] = {
    "string": "emulated",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "null": None,
}


def synthesise(schema: Any) -> dict[str, Any]:
    """A value for a tool's ``inputSchema.json``; the top level is always an object."""
    value = _value(schema, schema, 0)
    return value if isinstance(value, dict) else {}


def _resolve(ref: str, root: Any) -> Any:
    # Only local references ("#/$defs/x", "#/definitions/x") appear in tool schemas.
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            return {}
        node = node[key]
    return node


def _value(schema: Any, root: Any, depth: int) -> Any:
    if not isinstance(schema, dict):
        return "emulated"
    if "$ref" in schema and isinstance(schema["$ref"], str):
        if depth >= _MAX_DEPTH:
            return None
        return _value(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return _value(options[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        # ["string", "null"]: the first non-null type is the interesting one.
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        if depth >= _MAX_DEPTH:
            return {}
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: _value(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        items = schema.get("items")
        if depth >= _MAX_DEPTH or not isinstance(items, dict):
            return []
        return [_value(items, root, depth + 1)]
    return _SCALARS.get(kind, "emulated")
