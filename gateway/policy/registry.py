"""The running set of policies: lookup by name, and all-or-nothing reload (on SIGHUP).

Lookups read one attribute holding an immutable-by-convention dict; a reload builds a
whole new dict in a worker thread and replaces the attribute in one assignment, so a
request sees either the old set or the new one, never a mix.

An unknown policy name (a key or team naming a policy that no file defines, e.g. after a
file was removed) resolves to ``default``, which is secure by default, and is logged once
per name. Failing such requests instead would turn a configuration slip into an outage
for every key that names the policy; ``names`` lets the admin API refuse unknown names
when keys are created.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from gateway.policy.files import PolicyLoadError, load_directory
from gateway.policy.model import Policy

DEFAULT = "default"

log = logging.getLogger("gateway.policy")


class PolicyRegistry:
    """Policies loaded from one directory; build with :meth:`load` at start-up."""

    __slots__ = ("_directory", "_hash_key", "_lock", "_pending", "_policies", "_warned")

    def __init__(
        self, directory: Path, policies: Mapping[str, Policy], *, hash_key: bytes | None = None
    ) -> None:
        if DEFAULT not in policies:
            raise ValueError("a policy registry needs a 'default' policy")
        self._directory = directory
        self._hash_key = hash_key
        self._policies: Mapping[str, Policy] = dict(policies)
        self._warned: set[str] = set()
        # Serialises reloads so the set in force is always from the latest completed read.
        self._lock = threading.Lock()
        self._pending: set[asyncio.Future[bool]] = set()

    @classmethod
    def load(cls, directory: Path, *, hash_key: bytes | None = None) -> PolicyRegistry:
        """Read every policy; raises PolicyLoadError (with all errors) so start-up fails."""
        return cls(directory, load_directory(directory, hash_key=hash_key), hash_key=hash_key)

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._policies)

    def get(self, name: str | None) -> Policy:
        """The named policy; None means ``default``, an unknown name falls back to it."""
        policies = self._policies  # one read: the whole lookup uses one generation
        if name is None:
            return policies[DEFAULT]
        found = policies.get(name)
        if found is not None:
            return found
        if name not in self._warned:
            self._warned.add(name)
            log.warning("unknown policy %s: using the default policy", name, extra={"policy": name})
        return policies[DEFAULT]

    def reload(self) -> bool:
        """Read the directory again; swap only if every file is valid. Blocking: call it
        from a thread (``install_sighup`` does). Returns whether the new set is in force."""
        with self._lock:
            try:
                policies = load_directory(self._directory, hash_key=self._hash_key)
            except PolicyLoadError as exc:
                for error in exc.errors:
                    log.error(
                        "policy file %s line %s field %s rejected: %s",
                        str(error.path),
                        error.line,
                        error.field,
                        error.message,
                    )
                log.error(
                    "policy reload rejected with %s errors; the running policies stay "
                    "(run `gateway policies check` on the directory for details)",
                    len(exc.errors),
                )
                return False
            self._policies = policies
            # A name that was unknown may exist now, or vanish again later: warn afresh.
            self._warned = set()
        log.info("policies reloaded: %s", len(policies))
        return True

    def install_sighup(
        self,
        loop: asyncio.AbstractEventLoop,
        on_done: Callable[[bool], None] | None = None,
    ) -> None:
        """Reload on SIGHUP. Call from the loop's thread (the main thread). The reload runs
        in the default executor, so the loop keeps serving; ``on_done(ok)`` runs on the loop."""
        loop.add_signal_handler(signal.SIGHUP, self._start_reload, loop, on_done)

    def remove_sighup(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    def _start_reload(
        self, loop: asyncio.AbstractEventLoop, on_done: Callable[[bool], None] | None
    ) -> None:
        future = loop.run_in_executor(None, self.reload)
        self._pending.add(future)  # a reference, so the future is not collected mid-flight

        def finished(done: asyncio.Future[bool]) -> None:
            self._pending.discard(done)
            if done.cancelled():
                return
            error = done.exception()
            if error is not None:
                # Unexpected (load errors are handled in reload): keep the old set, say so.
                log.error("policy reload failed", exc_info=error)
                ok = False
            else:
                ok = done.result()
            if on_done is not None:
                on_done(ok)

        future.add_done_callback(finished)


__all__ = ["DEFAULT", "PolicyRegistry"]
