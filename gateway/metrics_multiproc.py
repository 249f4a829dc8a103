"""The multiprocess metrics directory, chosen before any worker imports prometheus_client.

This module deliberately imports nothing from prometheus_client. prometheus_client decides, once,
when ``prometheus_client.values`` is first imported, whether metric values live in process memory
or in per-process mmap files under ``PROMETHEUS_MULTIPROC_DIR``. The ``serve`` command therefore
calls :func:`prepare_multiprocess_dir` and exports the result *before* worker processes start
(uvicorn spawns fresh interpreters, which read the variable at their first import), and it can do
so without importing prometheus_client itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_TEMP_PREFIX = "gateway-metrics-"


def prepare_multiprocess_dir(
    workers: int, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the environment to export so that ``workers`` processes share one scrape.

    - ``PROMETHEUS_MULTIPROC_DIR`` already set (an operator's volume): reuse it, after deleting
      stale ``*.db`` files a previous run left behind — old files would be summed into the scrape.
    - Otherwise, more than one worker: a fresh private temporary directory.
    - Otherwise (one worker): nothing; metrics stay in process memory, the cheapest mode.
    """
    env = os.environ if environ is None else environ
    configured = env.get(MULTIPROC_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return {MULTIPROC_ENV: str(path)}
    if workers > 1:
        return {MULTIPROC_ENV: tempfile.mkdtemp(prefix=_TEMP_PREFIX)}
    return {}


def multiprocess_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """The directory worker processes write to, or None in single-process mode."""
    env = os.environ if environ is None else environ
    return env.get(MULTIPROC_ENV) or None
