# SPDX-License-Identifier: Apache-2.0
"""Token metadata (symbol, name, decimals) read with ``eth_call``, tolerant of non-standard tokens, cached.

EIP-20 makes ``name()``, ``symbol()`` and ``decimals()`` OPTIONAL, and real tokens differ:

* ``symbol``/``name`` returned as ABI ``string`` (the standard), as ``bytes32`` (MKR, SAI and other
  early tokens: right-padded with zero bytes), or not at all (the call reverts or returns ``0x``);
* ``decimals`` missing (reverts / empty: recorded as unknown, ``None``, never guessed as 18),
  or a ``uint256`` larger than any sensible value (kept only if it is at most 255, the ``uint8``
  range EIP-20 specifies);
* text that is not valid UTF-8 is decoded with replacement characters, and NUL padding is removed.

All three calls for many contracts go in one JSON-RPC batch; a reverting call is an answer
(``None``), not an error. Results are cached in memory per ``(chain, contract)`` and, when a
``cache_file`` is given, persisted as a small JSON file (``{"chain": ..., "tokens": {contract:
{symbol, name, decimals}}}``), written atomically. The ingest keeps it next to the store's
checkpoints (``<store>.ingest/tokens-<chain>.json``): metadata is a property of the contract, not
of a case, and a JSON file is readable by an analyst without the tracer. A contract whose calls
failed because the node was unreachable is not cached (it is asked again next time).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import eth_abi
from eth_utils import keccak

from adapters.errors import RpcError
from adapters.evm.mappers import parse_address
from adapters.jsonrpc import Call, JsonRpcClient
from tracer.chains import Chain

__all__ = ["TokenInfo", "TokenMetadata", "decode_text", "decode_decimals", "SELECTORS"]

#: 4-byte selectors of the three optional EIP-20 getters
SELECTORS = {name: "0x" + keccak(text=f"{name}()")[:4].hex() for name in ("symbol", "name", "decimals")}


@dataclass(frozen=True)
class TokenInfo:
    """What a token contract says about itself; ``None`` where it says nothing usable."""

    contract: str
    symbol: str | None
    name: str | None
    decimals: int | None


def decode_text(raw: Any) -> str | None:
    """An ``eth_call`` result of ``symbol()``/``name()`` as text: ABI ``string``, else ``bytes32``, else None."""
    data = _bytes(raw)
    if not data:
        return None
    if len(data) >= 64:
        try:
            (text,) = eth_abi.decode(["string"], data)
            cleaned = str(text).replace("\x00", "").strip()
            return cleaned or None
        except Exception:  # noqa: BLE001 - not an ABI string: try bytes32 below
            pass
    if len(data) == 32:
        cleaned = data.rstrip(b"\x00").decode("utf-8", errors="replace").replace("\x00", "").strip()
        return cleaned or None
    return None


def decode_decimals(raw: Any) -> int | None:
    """An ``eth_call`` result of ``decimals()``: the number if it is one 32-byte word <= 255, else None."""
    data = _bytes(raw)
    if len(data) != 32:
        return None
    value = int.from_bytes(data, "big")
    return value if value <= 255 else None


def _bytes(raw: Any) -> bytes:
    if not isinstance(raw, str) or not raw.startswith("0x") or len(raw) % 2:
        return b""
    try:
        return bytes.fromhex(raw[2:])
    except ValueError:
        return b""


class TokenMetadata:
    """Cached token metadata of one chain, read through ``client`` (see the module docstring)."""

    def __init__(self, client: JsonRpcClient, chain: Chain, cache_file: Path | None = None) -> None:
        self.client = client
        self.chain = chain
        self.cache_file = cache_file
        self._cache: dict[str, TokenInfo] = {}
        self._dirty = False
        if cache_file is not None and cache_file.is_file():
            self._read(cache_file)

    def _read(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("chain") != self.chain.key:
                return
            for contract, info in data.get("tokens", {}).items():
                self._cache[contract] = TokenInfo(contract, info.get("symbol"), info.get("name"), info.get("decimals"))
        except (OSError, ValueError, AttributeError):
            self._cache.clear()  # a damaged cache is only a cache: read everything again

    def get(self, contracts: Iterable[str], block: str = "latest") -> dict[str, TokenInfo]:
        """Metadata of each contract (EIP-55 keys), reading only those not cached (one batch)."""
        wanted = sorted({parse_address(c, "token contract") for c in contracts})
        missing = [c for c in wanted if c not in self._cache]
        if missing:
            calls = [Call("eth_call", ({"to": c, "data": SELECTORS[f]}, block))
                     for c in missing for f in ("symbol", "name", "decimals")]
            outcomes = self.client.batch_outcomes(calls)
            for i, contract in enumerate(missing):
                symbol, name, decimals = (None if isinstance(o, RpcError) else o for o in outcomes[3 * i : 3 * i + 3])
                self._cache[contract] = TokenInfo(contract, decode_text(symbol), decode_text(name),
                                                  decode_decimals(decimals))
            self._dirty = True
        return {c: self._cache[c] for c in wanted}

    def cached(self) -> Mapping[str, TokenInfo]:
        return dict(self._cache)

    def save(self) -> None:
        """Write the cache file (atomically) if anything was added."""
        if self.cache_file is None or not self._dirty:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tokens = {c: {k: v for k, v in asdict(i).items() if k != "contract"} for c, i in sorted(self._cache.items())}
        tmp = self.cache_file.with_name(self.cache_file.name + ".tmp")
        tmp.write_text(json.dumps({"chain": self.chain.key, "tokens": tokens}, indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
        os.replace(tmp, self.cache_file)
        self._dirty = False
