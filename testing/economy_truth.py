# SPDX-License-Identifier: Apache-2.0
"""The economy read back from the node: its canonical frames and the truth written beside them.

* ``owners``: every address that appears in the economy's blocks -> the entity whose wallet owns it
  (asked of the wallets themselves: ``listaddressgroupings``, then ``getaddressinfo`` for the rest;
  an address no economy wallet owns, e.g. another test's transaction mined into the same block,
  keeps a null entity and is left out of every measurement);
* ``transactions``: every transaction's true kind (``purchase``, ``withdrawal``, ``consolidation``,
  ``coinjoin`` with its ``coinjoin`` kind, ``peel`` with its ``launderer`` and ``step``, ...).

:meth:`Economy.save` writes them as Parquet next to the frames, with ``economy.json`` (version, seed,
sizes, block range), so a measurement can be repeated without the node.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from adapters.bitcoin.node import BitcoinNode
from adapters.jsonrpc import Call, JsonRpcClient
from testing.devnodes import LitecoinRegtest
from tracer.chains import default_registry
from tracer.schema import FrameSet

__all__ = ["CHAIN", "Economy", "read_back", "OWNER_COLUMNS", "TX_TRUTH_COLUMNS"]

CHAIN = "ltc-regtest"
OWNER_COLUMNS = {"address": pl.String(), "entity": pl.String(), "kind": pl.String()}
TX_TRUTH_COLUMNS = {"txid": pl.String(), "kind": pl.String(), "actors": pl.String(), "coinjoin": pl.String(),
                    "launderer": pl.String(), "step": pl.Int64()}


@dataclass
class Economy:
    """One generated economy: frames of its blocks, true owners, true transaction kinds."""

    version: str
    seed: int
    sizes: dict[str, int]
    heights: tuple[int, int]
    frames: FrameSet
    owners: pl.DataFrame
    transactions: pl.DataFrame
    skipped: int = 0
    #: the node software that made it (``getnetworkinfo`` subversion)
    node: str = ""

    def summary(self) -> dict[str, Any]:
        kinds = self.transactions.group_by("kind").len().sort("kind")
        return {"version": self.version, "seed": self.seed, "sizes": self.sizes,
                "blocks": self.heights[1] - self.heights[0] + 1, "first_block": self.heights[0],
                "transactions": self.frames.transactions.height,
                "addresses": self.owners.filter(pl.col("entity").is_not_null()).height,
                "entities": self.owners["entity"].drop_nulls().n_unique(), "skipped_actions": self.skipped,
                "node": self.node,
                "kinds": dict(kinds.iter_rows())}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("transactions", "inputs", "outputs"):
            getattr(self.frames, name).write_parquet(directory / f"{name}.parquet")
        self.owners.write_parquet(directory / "owners.parquet")
        self.transactions.write_parquet(directory / "truth.parquet")
        (directory / "economy.json").write_text(json.dumps(self.summary() | {"heights": list(self.heights)},
                                                           indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Economy:
        meta = json.loads((directory / "economy.json").read_text())
        frames = FrameSet(**{n: pl.read_parquet(directory / f"{n}.parquet")
                             for n in ("transactions", "inputs", "outputs")})
        return cls(meta["version"], meta["seed"], meta["sizes"], (meta["heights"][0], meta["heights"][1]), frames,
                   pl.read_parquet(directory / "owners.parquet"), pl.read_parquet(directory / "truth.parquet"),
                   meta["skipped_actions"], meta.get("node", ""))


def _owned(wallets: Mapping[str, JsonRpcClient], addresses: set[str]) -> dict[str, str]:
    owner: dict[str, str] = {}
    for name, wallet in wallets.items():
        for group in wallet.call("listaddressgroupings"):
            for row in group:
                if row[0] in addresses:
                    owner.setdefault(str(row[0]), name)
    for name, wallet in wallets.items():
        rest = sorted(addresses - owner.keys())
        if not rest:
            break
        infos = wallet.batch([Call("getaddressinfo", [a]) for a in rest])
        owner.update({a: name for a, info in zip(rest, infos, strict=True) if info.get("ismine")})
    return owner


def read_back(node: LitecoinRegtest, seed: int, version: str, sizes: dict[str, int], heights: tuple[int, int],
              wallets: Mapping[str, JsonRpcClient], kinds: Mapping[str, str],
              made: Mapping[str, Mapping[str, Any]], skipped: int) -> Economy:
    """Fetch blocks ``heights`` (inclusive) as canonical frames and ask every wallet what it owns."""
    chain = default_registry().get(CHAIN)
    with BitcoinNode(node.url, chain, timeout=300) as source:
        frames = source.fetch(list(range(heights[0], heights[1] + 1))).frames
    addresses = set(frames.outputs["address"].drop_nulls().to_list()) | set(
        frames.inputs["address"].drop_nulls().to_list())
    owner = _owned(wallets, addresses)
    owners = pl.DataFrame(
        [{"address": a, "entity": owner.get(a), "kind": kinds.get(owner[a]) if a in owner else None}
         for a in sorted(addresses)], schema=OWNER_COLUMNS)
    rows = []
    coinbase = set(frames.transactions.filter(pl.col("is_coinbase"))["txid"].to_list())
    for txid in frames.transactions["txid"].to_list():
        info = made.get(txid)
        if info is None:
            rows.append({"txid": txid, "kind": "coinbase" if txid in coinbase else "foreign", "actors": None,
                         "coinjoin": None, "launderer": None, "step": None})
            continue
        rows.append({"txid": txid, "kind": info["kind"], "actors": ",".join(info["actors"]),
                     "coinjoin": info.get("coinjoin"), "launderer": info.get("launderer"), "step": info.get("step")})
    truth = pl.DataFrame(rows, schema=TX_TRUTH_COLUMNS).sort("txid")
    with node.rpc() as rpc:
        subversion = str(rpc.call("getnetworkinfo")["subversion"])
    return Economy(version, seed, sizes, heights, frames, owners, truth, skipped, subversion)
