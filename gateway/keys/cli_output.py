"""Human-readable output of the ``teams``/``keys`` commands: tables and field lists."""

from __future__ import annotations

from typing import Any

_TEAM_COLUMNS = ("id", "name", "policy", "allowed_models", "budgets", "created_at")
_KEY_COLUMNS = ("id", "team_id", "name", "status", "secret_hint", "created_at", "expires_at")


def render(command: str, action: str, result: Any) -> str:
    if isinstance(result, list):
        columns = _TEAM_COLUMNS if command == "teams" else _KEY_COLUMNS
        return table(result, columns)
    hidden = ("secret", "demo", "replayed")
    lines = [f"{name}: {_cell(value)}" for name, value in result.items() if name not in hidden]
    secret = result.get("secret")
    if secret:
        lines.append("")
        lines.append(f"secret: {secret}")
        if result.get("demo"):
            lines.append("This is the public demo secret: use it for local trials only.")
        else:
            lines.append("This secret is shown once and cannot be recovered: store it now.")
    elif result.get("replayed"):
        lines.append("")
        lines.append("This rotation was already applied; its secret was shown then.")
    return "\n".join(lines) + "\n"


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    if not rows:
        return "(none)\n"
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [_line([c.upper() for c in columns], widths)]
    lines.extend(_line(row, widths) for row in cells)
    return "\n".join(lines) + "\n"


def _line(values: list[str], widths: list[int]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items() if v is not None) or "-"
    return str(value)
