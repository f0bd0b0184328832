# SPDX-License-Identifier: Apache-2.0
"""Token metadata kept next to a store (``<store>.ingest/tokens-<chain>.json``): symbol, name and
decimals per token contract, so that people read ``1250 fUSD`` instead of base units. Written by the
EVM ingest (read from the contracts), frames ingest (the export's ``tokens.json``) and CSV ingest
(decimals from the column map); read by trace output. Only a display aid: files keep base units."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobs.files import write_atomic
from jobs.settings import Settings
from jobs.stores import checkpoint_path
from jobs.workspace import Case

__all__ = ["read_tokens", "merge_tokens"]


def _path(settings: Settings, case: Case | None, chain: str) -> Path:
    return checkpoint_path(settings, case, chain).with_name(f"tokens-{chain}.json")


def read_tokens(settings: Settings, case: Case | None, chain: str) -> dict[str, Any]:
    """``{contract: {"symbol", "name", "decimals"}}`` known for ``chain``; empty when unknown or unreadable."""
    try:
        data = json.loads(_path(settings, case, chain).read_text(encoding="utf-8"))
        tokens = data.get("tokens", {}) if data.get("chain") == chain else {}
        return tokens if isinstance(tokens, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def merge_tokens(settings: Settings, case: Case | None, chain: str, tokens: Mapping[str, Any]) -> None:
    """Add ``tokens`` to the cache (what is already known of a contract and not given again is kept)."""
    if not tokens:
        return
    known = read_tokens(settings, case, chain)
    merged = {**known, **{c: {**known.get(c, {}), **{k: v for k, v in info.items() if v is not None}}
                          for c, info in tokens.items()}}
    write_atomic(_path(settings, case, chain), (json.dumps({"chain": chain, "tokens": merged}, indent=1,
                                                           sort_keys=True) + "\n").encode("utf-8"))
