# SPDX-License-Identifier: Apache-2.0
"""The account engine's handling of conversion routes (swaps, wrapping; :mod:`tracer.conversion_routes`).

:class:`RouteSteps` is the part of :class:`tracer.trace_account.AccountTrace` that asks the store
for the conversions of the transactions a trace reads, replaces their legs (and the relays around
them) by routes, carries taint across a route in either direction, and lists every route's steps
as evidence. It holds no state of its own: the attributes it uses are the engine's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from tracer.conversion_routes import RowKey, routes
from tracer.taint import Taint, amount, full

if TYPE_CHECKING:
    from tracer.frontier import Frontier
    from tracer.trace_types import TraceSpec

__all__ = ["RouteSteps"]


class RouteSteps:
    """Conversion routes inside the account engine (mixed into ``AccountTrace``)."""

    spec: TraceSpec
    frontier: Frontier
    forward: bool
    queries: int
    seeds: set[str]
    collected: dict[str, int]
    rows: dict[tuple[Any, ...], dict[str, Any]]
    consumed: set[RowKey | tuple[Any, ...]]
    checked: set[str]
    by_tx: dict[str, list[dict[str, Any]]]
    route_taint: dict[int, tuple[int, list[tuple[int, int]]]]
    follows_conversions: bool

    if TYPE_CHECKING:  # the engine's own methods (AccountTrace._add, AccountTrace._merge)
        def _add(self, frame: pl.DataFrame, seeds: Any = None) -> list[dict[str, Any]]: ...

        def _merge(self, added: list[dict[str, Any]]) -> None: ...

    def _resolve_conversions(self, txids: set[str]) -> None:
        """Replace the legs of the conversions in ``txids`` (and the relays around them) by routes.

        Only a read that finds conversions counts as a store query (and enters the read digest, see
        :meth:`tracer.manifest.ReadDigest.conversions_of`), so traces over data without conversions
        report what they reported before conversions were read."""
        new = sorted(txids - self.checked)
        if not new or not self.follows_conversions:
            return
        self.checked.update(new)
        found = self.frontier.conversions_of(self.spec.chain, new)  # type: ignore[attr-defined]
        if found.height == 0:
            return
        self.queries += 1
        stamp, since, until = pl.col("timestamp"), self.spec.since, self.spec.until
        inside = stamp.is_null() if until is None else pl.lit(False)  # unconfirmed: inside unless the window ends
        dated = stamp.is_not_null()
        if since is not None:
            dated &= stamp >= since
        if until is not None:
            dated &= stamp <= until
        found = found.filter(inside | dated)
        with_conversions = sorted(set(found["txid"].to_list()))
        if not with_conversions:
            return
        self._merge(self._add(self.frontier.transfers_of(self.spec.chain, with_conversions)))  # type: ignore[attr-defined]
        self.queries += 1
        rows = [row for txid in with_conversions for row in self.by_tx[txid]]
        skip = frozenset(row["_key"] for row in rows if row["_seed"] is not None)
        found_routes, consumed = routes(rows, found.iter_rows(named=True), skip)
        self.consumed |= consumed
        sources = {(r["txid"]): r for r in found.iter_rows(named=True)}
        added = []
        for n, route in enumerate(found_routes):
            first = sources[route.txid]
            key = ("route", route.txid, n, route.steps[0].order)
            if key in self.rows:
                continue
            row = {
                "chain": self.spec.chain, "txid": route.txid, "block_height": first["block_height"],
                "block_hash": first["block_hash"], "tx_index": first["tx_index"], "timestamp": first["timestamp"],
                "kind": "conversion", "log_index": None, "trace_path": None, "token_id": None,
                "from_address": route.payer, "to_address": route.recipient, "asset": route.asset_out,
                "amount": route.value_out, "asset_from": route.asset_in, "amount_from": route.value_in,
                "value_overflow": None, "source": first["source"], "_order": route.order, "_seed": None,
                "_key": key, "_route": route,
            }
            self.rows[key] = row
            added.append(row)
        self._merge(added)

    def _convert(self, row: dict[str, Any], pool: Any, pay: Any, injected: dict[tuple[str, str], int],
                 overlap: dict[tuple[str, str], int], record: Any) -> None:
        """One conversion route (tracer.conversion_routes): forward, the payer's pool pays what it gave
        and the taint passes, step by step, into what the recipient received; backward, the demand on
        what the recipient received passes back onto what the payer gave."""
        model, route = self.spec.model, row["_route"]
        collected, seeds = self.collected, self.seeds
        if self.forward:
            source, s_asset, s_value = row["from_address"], row["asset_from"], row["amount_from"]
            target, t_asset, t_value = row["to_address"], row["asset"], row["amount"]
            given: Taint = pay(source, s_asset, s_value, row) if source in collected else 0
            carried, steps = route.forward(model, given)
        else:
            source, s_asset, s_value = row["to_address"], row["asset"], row["amount"]
            target, t_asset, t_value = row["from_address"], row["asset_from"], row["amount_from"]
            if source in seeds:  # everything a seed received is target value
                given = full(model, s_value)
                injected[(source, s_asset)] += s_value
            else:
                given = pool(source, s_asset).pay(s_value) if source in collected else 0
            carried, steps = route.backward(model, given)
        if amount(given):
            self.route_taint[id(row)] = (amount(given), steps)
        if self.forward and target in seeds:  # everything a seed receives is seed value
            pool(target, t_asset).receive(t_value, full(model, t_value))
            injected[(target, t_asset)] += t_value
            if amount(carried):
                overlap[(target, t_asset)] += amount(carried)
        elif not self.forward and target in seeds:
            if amount(carried):
                overlap[(target, t_asset)] += amount(carried)
        elif target in collected:
            pool(target, t_asset).receive(t_value, carried)
        if amount(given):
            record((row, amount(carried)))

    def _route_steps(self, row: dict[str, Any], hop_id: int, per_step: list[tuple[int, int]]) -> list[dict[str, Any]]:
        """The evidence of one route: each step with its amounts and the traced units on both sides."""
        out = []
        for n, (step, (taint_in, taint_out)) in enumerate(zip(row["_route"].steps, per_step, strict=True)):
            out.append({
                "hop_id": hop_id, "step": n, "chain": self.spec.chain, "txid": row["txid"],
                "block_height": row["block_height"], "timestamp": row["timestamp"], "kind": step.kind,
                "venue": step.venue, "position": step.position, "from_address": step.payer,
                "to_address": step.recipient, "asset_in": step.asset_in, "value_in": str(step.value_in),
                "taint_in": str(taint_in), "asset_out": step.asset_out, "value_out": str(step.value_out),
                "taint_out": str(taint_out), "source": row["source"],
            })
        return out
