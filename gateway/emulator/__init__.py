"""A Bedrock Runtime emulator speaking the real wire protocol, for tests and benchmarks.

Operations: ``POST /model/{modelId}/converse``, ``.../converse-stream`` (AWS event stream)
and ``POST /guardrail/{id}/version/{v}/apply``. Per-request behaviour comes from
``[[emu {...}]]`` directives in the last user message or a system block (see
``directives.Directives`` for the keys); defaults from the control API under
``/_emulator/`` (``config``, ``reset``, ``health``, ``requests``, ``stats``).

Modules: ``server`` (start/run) → ``protocol`` (HTTP/1.1 on asyncio + httptools) →
``app`` (routing) → ``converse`` / ``handlers`` / ``control`` → ``behaviour`` (pure reply
planning, with ``directives``, ``toolinput``, ``guardrail`` + ``guardrail_pii``,
``validation``) → ``wire`` / ``stream`` / ``responses`` / ``eventstream`` (bytes out);
``state`` and ``pacer`` are shared.
"""
