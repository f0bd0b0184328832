# SPDX-License-Identifier: Apache-2.0
"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Timer", "print_result"]


class Timer:
    """Wraps a bound method and adds up the time spent in it (for the breakdown of a run)."""

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        self.seconds = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.method(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def print_result(result: dict[str, Any], as_json: bool) -> None:
    """A benchmark's result: one JSON object (``--json``), or one aligned ``key: value`` line each."""
    if as_json:
        print(json.dumps(result))  # noqa: T201
        return
    width = max((len(key) for key in result), default=0)
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")  # noqa: T201
