# SPDX-License-Identifier: Apache-2.0
"""What a trace found, as plain data: ranked endings with shares, reconciled totals, evidence paths.

Pure functions over a :class:`~tracer.trace.TraceResult`. Shares are computed with integers
(basis points, rounded down) so the report never passes an amount through a float; amounts are
shown in coin units by exact decimal shifting (:func:`tracer.units.format_units`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from tracer.trace import UNRESOLVED, Ending, TraceResult

__all__ = ["traced_value", "share_text", "evidence_path", "summary", "compare_models", "model_totals", "passes_through",
           "GROUPS"]

#: How endings are grouped in the reconciliation: traced to an entity, fees, below the minimum
#: value, held (proven unspent through a covered block), unverified (unspent as far as the store
#: knows, beyond what it covers), unresolved (the trail is lost), and the rest by name.
GROUPS: dict[str, tuple[Ending, ...]] = {
    "reached_entities": (Ending.ENTITY,),
    "fees": (Ending.FEE,),
    "below_min_value": (Ending.BELOW_MIN,),
    "held_unspent": (Ending.HELD,),
    "unverified": (Ending.UNVERIFIED,),
    "unresolved": tuple(sorted(UNRESOLVED - {Ending.UNVERIFIED})),
    "returned_to_seed": (Ending.SEED,),
    "mined": (Ending.MINED,),
    "rounding": (Ending.ROUNDING,),
}


def traced_value(totals_row: Mapping[str, int]) -> int:
    """What a trace followed in one asset: its seed value plus what entered it through conversions
    (swaps, wrapping); endings' shares are of this."""
    return totals_row["seed"] + totals_row.get("converted_in", 0)


def share_text(part: int, whole: int) -> str:
    """``part/whole`` as a percentage with two decimals, rounded down, computed exactly."""
    if whole <= 0:
        return "-"
    basis_points = part * 10_000 // whole
    return f"{basis_points // 100}.{basis_points % 100:02d}%"


def evidence_path(hops: pl.DataFrame, hop_id: int | None) -> list[dict[str, Any]]:
    """The chain of hops that carried the most taint into ``hop_id``, from the seed side first."""
    if hop_id is None or hops.height == 0:
        return []
    by_id = {row["hop_id"]: row for row in hops.iter_rows(named=True)}
    path: list[dict[str, Any]] = []
    seen: set[int] = set()
    current: int | None = hop_id
    while current is not None and current in by_id and current not in seen:
        seen.add(current)
        row = by_id[current]
        path.append(row)
        current = row["previous_hop"]
    return list(reversed(path))


def summary(result: TraceResult, *, top: int = 25, paths: int = 10,
            coinjoins: Mapping[str, str] | None = None) -> dict[str, Any]:
    """JSON-ready findings: parameters, per-asset reconciliation, ranked endings with shares and paths.

    ``coinjoins`` (txid -> shape, from :func:`tracer.coinjoin.coinjoin_transactions`) marks endings at
    an output of a CoinJoin: ``coinjoin`` is its shape there (None elsewhere), so a report can say the
    trail ends in a mix rather than with an owner."""
    totals: dict[str, Any] = {}
    for asset, row in result.totals.items():
        seed = traced_value(row)
        groups = {name: sum(row[str(k)] for k in kinds) for name, kinds in GROUPS.items()}
        if row[str(Ending.CONVERTED)]:
            groups["converted"] = row[str(Ending.CONVERTED)]
        totals[asset] = {
            "seed_value": str(row["seed"]),
            **({"converted_in": str(row["converted_in"])} if row.get("converted_in") else {}),
            **{name: str(value) for name, value in groups.items()},
            "by_ending": {k: str(v) for k, v in row.items() if k not in ("seed", "ended", "converted_in") and v},
            "ended": str(row["ended"]),
            "difference": str(row["ended"] - seed),
            "reconciled": row["ended"] == seed,
        }
    endings = []
    for index, ending in enumerate(result.endings.iter_rows(named=True)):
        if index >= top:
            break
        seed_value = traced_value(result.totals[ending["asset"]]) if ending["asset"] in result.totals else 0
        item: dict[str, Any] = dict(ending)
        item["share_of_seed"] = share_text(int(ending["amount"]), seed_value)
        item["coinjoin"] = (coinjoins or {}).get(ending["txid"]) if ending["txid"] is not None else None
        if index < paths:
            item["path"] = [_hop_brief(h) for h in evidence_path(result.hops, ending["hop_id"])]
        endings.append(item)
    return {
        "parameters": result.spec.parameters(),
        "model_conserves_value": result.conserving,
        "totals": totals,
        "endings": endings,
        "endings_total": result.endings.height,
        "hops_total": result.hops.height,
        "store_queries": result.queries,
        "notes": list(result.notes),
    }


def _hop_brief(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("hop_id", "depth", "txid", "block_height", "timestamp", "kind", "asset", "from_address", "to_address",
            "position", "value", "taint", "model", "source")
    return {k: row[k] for k in keys}


def compare_models(results: Mapping[str, TraceResult]) -> pl.DataFrame:
    """Endings side by side: one row per (ending, address, asset), one exact amount column per model."""
    models = list(results)
    table: dict[tuple[str, str | None, str | None, str], dict[str, int]] = {}
    for model, result in results.items():
        for row in result.endings.iter_rows(named=True):
            key = (row["ending"], row["address"], row["label"], row["asset"])
            cell = table.setdefault(key, {})
            cell[model] = cell.get(model, 0) + int(row["amount"])
    schema: dict[str, pl.DataType] = {"ending": pl.String(), "address": pl.String(), "label": pl.String(),
                                      "asset": pl.String(), **{m: pl.String() for m in models}}
    rows = [
        {"ending": k[0], "address": k[1], "label": k[2], "asset": k[3],
         **{m: str(cells.get(m, 0)) for m in models}}
        for k, cells in sorted(table.items(), key=lambda kv: (kv[0][3], kv[0][0], kv[0][1] or "", kv[0][2] or ""))
    ]
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def model_totals(results: Mapping[str, TraceResult]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per asset and model: the seed value, what entered the asset through conversions, the total per
    reconciliation group (:data:`GROUPS`, and ``converted``) and whether the model conserves value
    (poison does not: its endings may exceed the seeds); zeros where a model never reached the asset."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    assets = sorted({asset for result in results.values() for asset in result.totals})
    for model, result in results.items():
        for asset in assets:  # an asset a model never reached (e.g. converted into only under another): zeros
            row = result.totals.get(asset) or {"seed": 0, "ended": 0}
            groups = {name: str(sum(row.get(str(k), 0) for k in kinds)) for name, kinds in GROUPS.items()}
            out.setdefault(asset, {})[model] = {
                "seed_value": str(row["seed"]), "converted_in": str(row.get("converted_in", 0)), **groups,
                "converted": str(row.get(str(Ending.CONVERTED), 0)), "ended": str(row["ended"]),
                "conserves_value": result.conserving}
    return out


def passes_through(result: TraceResult, marks: Mapping[str, tuple[str, str | None]]) -> list[dict[str, Any]]:
    """How much of the traced value passed through marked addresses on its way (``marks``: address ->
    (role, label), e.g. the case's seeds and tagged addresses), other than the trace's own seeds.

    Value passes through an address when a hop moves it out of that address to another one: forward,
    the address received it and moved it on (an address where the trail stops, an exchange say, is
    an ending, not a passage); backward, the value came out of that address's funds. Hops from an
    address to itself (change) are not counted; amounts are summed per asset; the share is of the
    seed value.

    >>> import polars as pl
    >>> from tracer.trace import Seed, TraceResult, TraceSpec
    >>> from tracer.trace_types import HOP_COLUMNS
    >>> hops = pl.DataFrame([{"asset": "native", "from_address": "V", "to_address": "D", "taint": "150"}],
    ...                     schema={k: HOP_COLUMNS[k] for k in ("asset", "from_address", "to_address", "taint")})
    >>> spec = TraceSpec(chain="ltc", account_model=False, seeds=(Seed(address="D"),), direction="backward")
    >>> result = TraceResult(spec=spec, seeds=pl.DataFrame(), hops=hops, endings=pl.DataFrame(),
    ...                      totals={"native": {"seed": 500}})
    >>> passes_through(result, {"V": ("seed", "vendor payout")})
    [{'address': 'V', 'role': 'seed', 'label': 'vendor payout', 'asset': 'native', 'amount': '150', 'share': '30.00%'}]
    """
    if result.hops.height == 0 or not marks:
        return []
    own = {s.address for s in result.spec.seeds if s.address is not None}
    sums: dict[tuple[str, str], int] = {}
    for row in result.hops.select("asset", "from_address", "to_address", "taint").iter_rows():
        asset, address, counterpart, taint = row
        if address in marks and address not in own and address != counterpart:
            sums[(address, asset)] = sums.get((address, asset), 0) + int(taint)
    rows = []
    for (address, asset), amount in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0])):
        role, label = marks[address]
        seed_value = traced_value(result.totals[asset]) if asset in result.totals else 0
        rows.append({"address": address, "role": role, "label": label, "asset": asset, "amount": str(amount),
                     "share": share_text(amount, seed_value)})
    return rows
