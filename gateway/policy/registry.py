"""The running set of policies: lookup by name, and all-or-nothing reload (on SIGHUP).

Lookups read one attribute holding an immutable-by-convention dict; a reload builds a
whole new dict in a worker thread and replaces the attribute in one assignment, so a
request sees either the old set or the new one, never a mix.

An unknown policy name fails closed. A key or team naming a policy that no loaded file
defines (the file was removed or renamed, or a name was set while another policy set was
loaded) gets 503 ``policy_unavailable`` on every request until a file defines the name
again; it never runs under ``default`` or any other policy, since a team assigned
``strict`` must not silently get something weaker. The first such request per name (per
worker, and again after each reload) is logged at ERROR with the policy, key and team ids;
each request shows in the access log with ``error_code`` ``policy_unavailable`` and in
``gateway_requests_total`` as a 5xx. The admin API and CLI refuse unknown names when keys
and teams are created or changed (``names``, ``policy_names``); a reload cannot know
which keys name the policies it removes (that needs a scan of the key store), so it logs
the removed names and the refusal above applies to their keys from then on.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from gateway.policy.errors import PolicyUnavailableError
from gateway.policy.files import PolicyLoadError, load_directory
from gateway.policy.model import Policy

DEFAULT = "default"
# Names do not depend on the hash key, and an admin tool has no business holding the
# gateway's; a stand-in lets files using the hash action load (as `policies check` does).
_NAMES_ONLY_HASH_KEY = b"policy-names"

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

    def get(
        self, name: str | None, *, key_id: str | None = None, team_id: str | None = None
    ) -> Policy:
        """The named policy; None means ``default``. An unknown name raises
        PolicyUnavailableError (503); ``key_id`` and ``team_id`` only go to the log."""
        policies = self._policies  # one read: the whole lookup uses one generation
        if name is None:
            return policies[DEFAULT]
        found = policies.get(name)
        if found is not None:
            return found
        if name not in self._warned:
            self._warned.add(name)
            log.error(
                "unknown policy %s named by key %s of team %s: its requests are refused "
                "(503 policy_unavailable) until a policy file defines it",
                name,
                key_id or "-",
                team_id or "-",
                extra={"policy": name, "key_id": key_id or "-", "team": team_id or "-"},
            )
        raise PolicyUnavailableError()

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
            removed = sorted(set(self._policies) - set(policies))
            self._policies = policies
            # A name that was unknown may exist now, or vanish again later: warn afresh.
            self._warned = set()
        log.info("policies reloaded: %s", len(policies))
        for name in removed:
            # Keys and teams are not scanned here (they live in the key store); any still
            # naming this policy are refused from now on, which `get` logs on first use.
            log.warning(
                "policy %s was removed by the reload: keys and teams naming it now get "
                "503 policy_unavailable",
                name,
                extra={"policy": name},
            )
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


def policy_names(directory: Path | None) -> frozenset[str]:
    """The names a gateway started with this policy directory knows: the directory's
    policies, or only the built-in ``default`` when there is none (as ``build_policies``
    in composition.py does). Raises PolicyLoadError, as the gateway would refuse to start."""
    if directory is None:
        return frozenset({DEFAULT})
    return frozenset(load_directory(directory, hash_key=_NAMES_ONLY_HASH_KEY))


__all__ = ["DEFAULT", "PolicyRegistry", "policy_names"]
