# SPDX-License-Identifier: Apache-2.0
"""The check both test economies make against the published results file: which rates fell outside."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tracer.error_rates import Count

#: absolute widening of a published interval, on top of its own width (a small economy is noisier)
SLACK = 0.10


def outside_published(counts: Mapping[str, Count], published: Mapping[str, Any],
                      size_dependent: Collection[str]) -> list[str]:
    """Rates of ``counts`` outside their published interval widened by its own width plus :data:`SLACK`
    (in the bad direction only); rates whose key ends with one of ``size_dependent`` are not compared."""
    outside = []
    for key, count in sorted(counts.items()):
        rate = published.get(key)
        if count.value is None or rate is None or rate["lo"] is None or key.endswith(tuple(size_dependent)):
            continue
        widen = rate["hi"] - rate["lo"] + SLACK
        if rate["higher_is_better"] and count.value < rate["lo"] - widen:
            outside.append(f"{key} = {count.value:.3f} < {rate['lo'] - widen:.3f}")
        if not rate["higher_is_better"] and count.value > rate["hi"] + widen:
            outside.append(f"{key} = {count.value:.3f} > {rate['hi'] + widen:.3f}")
    return outside
