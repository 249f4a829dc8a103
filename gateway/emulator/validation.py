"""Service-side checks Bedrock applies to a Converse request (messages quoted from the service)."""

from __future__ import annotations

from gateway.emulator.shapes import ConverseRequest

_START = (
    "A conversation must start with a user message. "
    "Try again with a conversation that starts with a user message."
)
_ALTERNATE = (
    "A conversation must alternate between user and assistant roles. "
    "Make sure the conversation alternates between user and assistant roles and try again."
)
_TOOL_CONFIG = (
    "The toolConfig field must be defined when using toolUse and toolResult content blocks."
)


def problem(request: ConverseRequest) -> str | None:
    """The ``ValidationException`` message for ``request``, or None when Bedrock would accept it."""
    messages = request.messages
    if not messages or messages[0].role != "user":
        return _START
    uses_tools = False
    previous = ""
    for i, message in enumerate(messages):
        if message.role not in ("user", "assistant"):
            return (
                f"Value at 'messages.{i + 1}.member.role' failed to satisfy constraint: "
                "Member must satisfy enum value set: [user, assistant]"
            )
        if message.role == previous:
            return _ALTERNATE
        previous = message.role
        if not message.content:
            return (
                f"The content field in the Message object at messages.{i} is empty. "
                "Add a ContentBlock object to the content field and try again."
            )
        for j, block in enumerate(message.content):
            if block.text is not None and not block.text.strip():
                return (
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} "
                    "is blank. Add text to the text field, and try again."
                )
            if block.toolUse is not None or block.toolResult is not None:
                uses_tools = True
    if uses_tools and request.toolConfig is None:
        return _TOOL_CONFIG
    config = request.inferenceConfig
    if config is not None and config.maxTokens is not None and config.maxTokens < 1:
        return (
            "Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )
    if request.toolConfig is not None and not request.toolConfig.tools:
        return "The toolConfig.tools list must contain at least one tool."
    return None
