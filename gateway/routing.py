"""The routing table: public model names -> Bedrock model IDs / inference-profile ARNs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gateway.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class Route:
    """One public model and the per-model rules the translator applies."""

    name: str
    bedrock_id: str
    # Hard cap on output tokens; also the default maxTokens when the client sends none.
    max_output_tokens: int = 4096
    # Anthropic extended thinking may be enabled through reasoning_effort.
    thinking: bool = False
    # Some newer models reject temperature together with top_p (peer issue #191).
    exclusive_temperature_top_p: bool = False
    owned_by: str = "bedrock"


class RoutingTable:
    """Lookup is a dict hit; raw Bedrock IDs pass through only when allowlisted."""

    def __init__(self, routes: Iterable[Route], passthrough: Iterable[str] = ()) -> None:
        self._routes: dict[str, Route] = {}
        for route in routes:
            self._routes[route.name] = route
        self._passthrough: Mapping[str, Route] = {
            model_id: Route(name=model_id, bedrock_id=model_id) for model_id in passthrough
        }

    def resolve(self, model: str) -> Route:
        route = self._routes.get(model) or self._passthrough.get(model)
        if route is None:
            raise model_not_found(model)
        return route

    def get(self, model: str) -> Route | None:
        return self._routes.get(model) or self._passthrough.get(model)

    def routes(self) -> list[Route]:
        return [*self._routes.values(), *self._passthrough.values()]


def model_not_found(model: str) -> NotFoundError:
    return NotFoundError(
        f"The model '{_printable(model)}' does not exist or you do not have access to it.",
        param="model",
    )


def _printable(model: str) -> str:
    # The name is echoed back; keep it short and free of control characters.
    return "".join(ch for ch in model[:128] if ch.isprintable())
