"""Reading policy files: YAML to a validated Policy, every error tied to its file, line and field.

The YAML is composed once into a node tree (which keeps each node's line) and constructed
from that same tree, so an error found later — by msgspec or by the schema checks — can be
mapped from its field path back to the line that holds the field.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.policy.build import build_policy
from gateway.policy.model import Policy
from gateway.policy.schema import FieldPath, PolicyDoc, check_version, fields_at

MAX_FILE_BYTES = 1 << 20
# Bounds the walk over the node tree, which an alias-heavy document could make exponential.
MAX_NODES = 100_000
SUFFIXES = (".yaml", ".yml")

# msgspec: "<message> - at `$.a.b[0]`", or "... - at `key` in `$.a`" for a bad mapping key.
_MSGSPEC_ERROR = re.compile(r"(?P<message>.*?)(?: - at (?P<key>`key` in )?`(?P<path>\$[^`]*)`)?")
_MSGSPEC_FIELD = re.compile(r"Object (?P<what>missing required|contains unknown) field `(?P<f>.*)`")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


class PolicyFileError(ValueError):
    """One problem in one policy file. ``line`` is 1-based; None when no line applies."""

    def __init__(self, path: Path, line: int | None, field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.field}: {self.message}"


class PolicyLoadError(ValueError):
    """Policy files that cannot be used; carries every error found, not only the first."""

    def __init__(self, errors: list[PolicyFileError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


def check_file(
    path: Path, *, hash_key: bytes | None = None
) -> tuple[Policy | None, list[PolicyFileError]]:
    """Load one file; the policy is None when the list of errors is not empty."""
    text, error = _read(path)
    if error is not None:
        return None, [error]
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, [PolicyFileError(path, 1, "(document)", "the file is empty")]
        duplicates = _duplicate_keys(root)
        if duplicates:
            return None, [_at(path, root, field, msg) for field, msg in duplicates]
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        return None, [PolicyFileError(path, line, "(yaml)", _yaml_message(exc))]
    except yaml.YAMLError as exc:
        return None, [PolicyFileError(path, None, "(yaml)", str(exc))]
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        return None, [_at(path, root, (), "a policy file must be a mapping (key: value lines)")]
    version_issue = check_version(data)
    if version_issue is not None:
        return None, [_at(path, root, *version_issue)]
    try:
        doc = msgspec.convert(data, PolicyDoc, strict=True)
    except msgspec.ValidationError as exc:
        return None, [_from_msgspec(path, root, str(exc))]
    policy, issues = build_policy(doc, stem=path.stem, source=path, hash_key=hash_key)
    errors = [_at(path, root, field, message) for field, message in issues]
    errors.sort(key=lambda error: error.line or 0)
    return policy, errors


def load_file(path: Path, *, hash_key: bytes | None = None) -> Policy:
    """One policy; raises PolicyLoadError listing everything wrong with the file."""
    policy, errors = check_file(path, hash_key=hash_key)
    if policy is None:
        raise PolicyLoadError(errors)
    return policy


def policy_files(directory: Path) -> list[Path]:
    """The policy files of a directory, sorted; hidden entries (editor swap files, the
    ``..data`` links of a Kubernetes ConfigMap mount) are skipped."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def check_directory(
    directory: Path, *, hash_key: bytes | None = None
) -> tuple[dict[str, Policy], list[PolicyFileError]]:
    """Every policy of a directory by name, and every error; ``default`` must be among them."""
    try:
        files = policy_files(directory)
    except OSError as exc:
        return {}, [PolicyFileError(directory, None, "(directory)", _os_message(exc))]
    policies: dict[str, Policy] = {}
    errors: list[PolicyFileError] = []
    for path in files:
        policy, found = check_file(path, hash_key=hash_key)
        errors.extend(found)
        if policy is None:
            continue
        other = policies.get(policy.name)
        if other is not None:
            message = f"policy {policy.name!r} is already defined by {other.source}"
            errors.append(PolicyFileError(path, None, "name", message))
            continue
        policies[policy.name] = policy
    default_failed = any(p.stem == "default" for p in {e.path for e in errors})
    if "default" not in policies and not default_failed:
        message = "no policy named 'default': add default.yaml (it applies to unnamed keys)"
        errors.append(PolicyFileError(directory, None, "(directory)", message))
    return policies, errors


def load_directory(directory: Path, *, hash_key: bytes | None = None) -> dict[str, Policy]:
    """All policies of a directory, or PolicyLoadError if any file is wrong: all or nothing."""
    policies, errors = check_directory(directory, hash_key=hash_key)
    if errors:
        raise PolicyLoadError(errors)
    return policies


def _read(path: Path) -> tuple[str, PolicyFileError | None]:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return "", PolicyFileError(path, None, "(file)", _os_message(exc))
    if len(raw) > MAX_FILE_BYTES:
        return "", PolicyFileError(path, None, "(file)", f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return "", PolicyFileError(path, line, "(file)", "not valid UTF-8")


def _os_message(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [exc.context or "", exc.problem or ""]
    return " ".join(p for p in parts if p).strip() or "not valid YAML"


def _duplicate_keys(root: Node) -> list[tuple[FieldPath, str]]:
    """YAML lets a later key silently replace an earlier one; in a policy that hides edits."""
    found: list[tuple[FieldPath, str]] = []
    stack: list[tuple[Node, FieldPath]] = [(root, ())]
    visited = 0
    while stack:
        node, path = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            return [((), f"more than {MAX_NODES} YAML nodes (aliases expanded)")]
        if isinstance(node, MappingNode):
            lines: dict[str, int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, ScalarNode) else None
                if name is not None and name in lines:
                    found.append(((*path, name), f"duplicate key (first on line {lines[name]})"))
                if name is not None:
                    lines.setdefault(name, key.start_mark.line + 1)
                stack.append((value, (*path, name if name is not None else "?")))
        elif isinstance(node, SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
    found.sort(key=lambda issue: str(issue[0]))
    return found


def _line(root: Node, path: FieldPath) -> int:
    """The line naming the field at ``path``: a key's line, or a list item's; where the
    path leaves the document (a missing field), the line of the deepest part present."""
    node = root
    line = root.start_mark.line + 1
    for segment in path:
        if isinstance(node, MappingNode) and isinstance(segment, str):
            # The last of equal keys, as that is the one the constructor keeps.
            match = [
                (k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == segment
            ]
            if not match:
                return line
            key, node = match[-1]
            line = key.start_mark.line + 1
        elif isinstance(node, SequenceNode) and isinstance(segment, int):
            if not 0 <= segment < len(node.value):
                return line
            node = node.value[segment]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _field(path: FieldPath) -> str:
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
    return text.lstrip(".") or "(document)"


def _at(path: Path, root: Node, field: FieldPath, message: str) -> PolicyFileError:
    return PolicyFileError(path, _line(root, field), _field(field), message)


def _from_msgspec(path: Path, root: Node, text: str) -> PolicyFileError:
    parsed = _MSGSPEC_ERROR.fullmatch(text)
    message, where, bad_key = text, "$", False
    if parsed is not None:
        message, where = parsed["message"], parsed["path"] or "$"
        bad_key = parsed["key"] is not None
    field: FieldPath = ()
    for step in _SEGMENT.finditer(where):
        if step.group(0) == "[...]":
            break  # a dict value: msgspec does not say which key, so point at the dict
        field = (*field, step[1]) if step[1] is not None else (*field, int(step[2]))
    named = _MSGSPEC_FIELD.fullmatch(message)
    if named is not None:
        parent, field = field, (*field, named["f"])
        if named["what"] == "missing required":
            message = "required field is missing"
        else:
            message = "unknown field; allowed here: " + ", ".join(fields_at(parent))
    elif message.startswith("Expected `str") and message.endswith("got `bool`"):
        message += " (YAML reads unquoted yes/no/on/off as booleans: quote the value)"
    elif bad_key:
        message = f"keys must be strings ({message})"
    return _at(path, root, field, message)


__all__ = [
    "PolicyFileError",
    "PolicyLoadError",
    "check_directory",
    "check_file",
    "load_directory",
    "load_file",
    "policy_files",
]
