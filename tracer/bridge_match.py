# SPDX-License-Identifier: Apache-2.0
"""Pair bridge deposits with their releases across chains (pure: frames in, frame out, no I/O).

A cross-chain hop is a ``deposit`` row on the origin chain and a ``release`` row on the destination
chain of :data:`tracer.schema.BRIDGE_EVENTS` (decoded by ``adapters.evm.bridges``). They are paired
by the bridge's own identifier of the deposit, ``(bridge, origin_chain_id, deposit_id)``: Across
numbers deposits per origin SpokePool and a fill restates the deposit's ``originChainId`` and
``depositId`` ("store the user's depositId and originChainId", https://docs.across.to/reference/
tracking-events; the deposit status API is keyed the same way, https://docs.across.to/
api-reference/deposit/status/get). The id only says which deposit the release *claims* to fill;
every other field the release restates is then checked against the deposit.

Checks (each failed one is named in ``mismatches``)
---------------------------------------------------
==================== ==========================================================================
``recipient``        release paid another account than the deposit named
``destination``      release happened on another chain than the deposit's ``destination_chain_id``
``depositor``        release restates another depositor
``asset_in``         release restates another input token (``value_in``: another input amount)
``asset_out``        release paid another token than the deposit stated (not checked when the
                     deposit left it open: ``asset_out`` null, "the equivalent token")
``value_out``        release paid another amount than the deposit stated (e.g. a speed-up)
``before_deposit``   release time is earlier than the deposit time (minus ``clock_skew_seconds``)
``after_deadline``   release time is later than the deadline (plus ``clock_skew_seconds``)
``deposit_leg``      the deposit has no ``transfers`` row (leg) that moved its value
``release_leg``      the release has no leg
==================== ==========================================================================

The deadline is the deposit's ``fillDeadline`` (else the release's): the events' ``fill_deadline``
column, or a separate deadlines frame; Across' ``INFINITE_FILL_DEADLINE`` (``2**32 - 1``) means no
upper bound; an event without a deadline gets ``deposit time + window`` (per-bridge ``windows``,
else ``default_window_seconds``). Block times of two chains are compared, so a small
``clock_skew_seconds`` is tolerated.

Confidence of a matched pair (:data:`CONFIDENCE_LEVELS`, best first)
--------------------------------------------------------------------
* ``exact``: every check passes.
* ``high``: the events agree in every field and time; only leg evidence is missing on a side.
* ``medium``: recipient, chains, depositor, input and time agree, but the token or amount paid
  differs from what the deposit stated (a speed-up or a partial / changed fill).
* ``low``: only the identifier ties them: the recipient, a chain, the depositor or the input
  differs, or the release lies outside the time window.

Rows of the result (:data:`HOP_COLUMNS`), ``status`` one of :data:`MATCH_STATUSES`:

* ``matched``: one row per (deposit, release) pair. Two releases for one deposit (or two deposits
  with one id) give one row per pair, each with ``ambiguous`` true and the counts set.
* ``unmatched_deposit``: a deposit with no release in the frame (the trace ends it as ``bridge``
  with the bridge's name); release columns null, ``confidence`` null.
* ``orphan_release``: a release whose deposit is not in the frame (origin chain not loaded, or a
  forged event); deposit columns null, ``confidence`` null.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from tracer.errors import SchemaError
from tracer.schema import AMOUNT, BRIDGE_EVENTS, validate

__all__ = [
    "CONFIDENCE_LEVELS",
    "MATCH_STATUSES",
    "MISMATCHES",
    "HOP_COLUMNS",
    "INFINITE_FILL_DEADLINE",
    "DEFAULT_WINDOW_SECONDS",
    "DEFAULT_CLOCK_SKEW_SECONDS",
    "match_bridge_events",
]

CONFIDENCE_LEVELS = ("exact", "high", "medium", "low")
MATCH_STATUSES = ("matched", "unmatched_deposit", "orphan_release")
MISMATCHES = ("recipient", "destination", "depositor", "asset_in", "value_in", "asset_out", "value_out",
              "before_deposit", "after_deadline", "deposit_leg", "release_leg")
#: Across ``SpokePool.INFINITE_FILL_DEADLINE`` (``type(uint32).max``): the deposit never expires
INFINITE_FILL_DEADLINE = 2**32 - 1
DEFAULT_WINDOW_SECONDS = 6 * 3600
DEFAULT_CLOCK_SKEW_SECONDS = 60

_KEY = ("bridge", "origin_chain_id", "deposit_id")
_LEG_ONLY = ["deposit_leg", "release_leg"]
_AMOUNT_ONLY = ["deposit_leg", "release_leg", "asset_out", "value_out"]

#: Columns of the result of :func:`match_bridge_events`, in order.
HOP_COLUMNS: Mapping[str, pl.DataType] = {
    "bridge": pl.String(),
    "origin_chain_id": pl.Int64(),
    "deposit_id": pl.String(),
    "status": pl.String(),
    "confidence": pl.String(),
    "mismatches": pl.List(pl.String()),
    "ambiguous": pl.Boolean(),
    "deposit_count": pl.Int64(),
    "release_count": pl.Int64(),
    # deposit side (origin chain)
    "deposit_chain": pl.String(),
    "deposit_txid": pl.String(),
    "deposit_log_index": pl.Int64(),
    "deposit_block": pl.Int64(),
    "deposit_time": pl.Int64(),
    "deposit_contract": pl.String(),
    "depositor": pl.String(),
    "asset_in": pl.String(),
    "value_in": AMOUNT,
    "destination_chain_id": pl.Int64(),
    "stated_recipient": pl.String(),
    "stated_asset_out": pl.String(),
    "stated_value_out": AMOUNT,
    "deposit_leg_kind": pl.String(),
    "deposit_leg_log_index": pl.Int64(),
    "deposit_leg_trace_path": pl.String(),
    "deadline": pl.Int64(),
    # release side (destination chain)
    "release_chain": pl.String(),
    "release_txid": pl.String(),
    "release_log_index": pl.Int64(),
    "release_block": pl.Int64(),
    "release_time": pl.Int64(),
    "release_contract": pl.String(),
    "release_chain_id": pl.Int64(),
    "recipient": pl.String(),
    "asset_out": pl.String(),
    "value_out": AMOUNT,
    "release_leg_kind": pl.String(),
    "release_leg_log_index": pl.Int64(),
    "release_leg_trace_path": pl.String(),
}

_SIDE = ("chain", "txid", "log_index", "block_height", "timestamp", "contract", "depositor", "recipient", "asset_in",
         "value_in", "asset_out", "value_out", "destination_chain_id", "leg_kind", "leg_log_index", "leg_trace_path",
         "fill_deadline")


def match_bridge_events(
    events: pl.DataFrame,
    deadlines: pl.DataFrame | None = None,
    *,
    default_window_seconds: int = DEFAULT_WINDOW_SECONDS,
    windows: Mapping[str, int] | None = None,
    clock_skew_seconds: int = DEFAULT_CLOCK_SKEW_SECONDS,
) -> pl.DataFrame:
    """Pair deposits and releases of ``events`` (any number of chains); see the module docstring.

    Parameters
    ----------
    events
        ``bridge_events`` rows (validated here; the same event twice counts once).
    deadlines
        ``chain, txid, log_index, fill_deadline`` per event, overriding the events' own
        ``fill_deadline`` column when given; events without one use the window.
    default_window_seconds, windows
        Window after the deposit time when no deadline is known; ``windows`` per bridge name
        (``BridgeRegistry.windows``) overrides the default.
    clock_skew_seconds
        Tolerance when comparing block times of two chains.

    Returns
    -------
    polars.DataFrame
        :data:`HOP_COLUMNS`, sorted by bridge, origin chain id, deposit id (numerically), release.
    """
    validate(events, BRIDGE_EVENTS)
    if default_window_seconds <= 0 or clock_skew_seconds < 0:
        raise ValueError("default_window_seconds must be positive and clock_skew_seconds not negative")
    frame = events.unique(subset=list(BRIDGE_EVENTS.key), keep="first", maintain_order=True)
    if deadlines is not None and deadlines.height:
        missing = {"chain", "txid", "log_index", "fill_deadline"} - set(deadlines.columns)
        if missing:
            raise SchemaError(f"bridge deadlines frame is missing column(s): {', '.join(sorted(missing))}")
        frame = frame.drop("fill_deadline").join(
            deadlines.select("chain", "txid", "log_index", pl.col("fill_deadline").cast(pl.Int64))
            .unique(subset=["chain", "txid", "log_index"], keep="first"),
            on=["chain", "txid", "log_index"], how="left",
        )  # else: the deadline each event row states (``fill_deadline``, null when none)

    deposits = frame.filter(pl.col("role") == "deposit").select(
        *_KEY, *(pl.col(c).alias(f"d_{c}") for c in _SIDE))
    releases = frame.filter(pl.col("role") == "release").select(
        *_KEY, *(pl.col(c).alias(f"r_{c}") for c in _SIDE))
    joined = deposits.join(releases, on=list(_KEY), how="full", coalesce=True, nulls_equal=False)

    window = (pl.col("bridge").replace_strict(dict(windows or {}), default=default_window_seconds,
                                              return_dtype=pl.Int64))
    stated_deadline = pl.coalesce("d_fill_deadline", "r_fill_deadline")
    deadline = (pl.when(stated_deadline >= INFINITE_FILL_DEADLINE).then(pl.lit(None, dtype=pl.Int64))
                .when(stated_deadline.is_not_null()).then(stated_deadline)
                .otherwise(pl.col("d_timestamp") + window))
    matched = pl.col("d_txid").is_not_null() & pl.col("r_txid").is_not_null()

    def differs(left: str, right: str, lower: bool = False) -> pl.Expr:
        a, b = pl.col(left), pl.col(right)
        if lower:
            a, b = a.str.to_lowercase(), b.str.to_lowercase()
        return a.ne_missing(b)

    checks = {
        "recipient": differs("d_recipient", "r_recipient", lower=True),
        "destination": pl.col("d_destination_chain_id").ne_missing(pl.col("r_destination_chain_id")),
        "depositor": differs("d_depositor", "r_depositor", lower=True),
        "asset_in": differs("d_asset_in", "r_asset_in", lower=True),
        "value_in": differs("d_value_in", "r_value_in"),
        "asset_out": pl.col("d_asset_out").is_not_null() & differs("d_asset_out", "r_asset_out", lower=True),
        "value_out": differs("d_value_out", "r_value_out"),
        "before_deposit": pl.col("r_timestamp") < pl.col("d_timestamp") - clock_skew_seconds,
        "after_deadline": pl.col("deadline").is_not_null()
                          & (pl.col("r_timestamp") > pl.col("deadline") + clock_skew_seconds),
        "deposit_leg": pl.col("d_leg_kind").is_null(),
        "release_leg": pl.col("r_leg_kind").is_null(),
    }
    mismatches = pl.concat_list(
        [pl.when(check.fill_null(True)).then(pl.lit(name)).otherwise(pl.lit(None, dtype=pl.String))
         for name, check in checks.items()]
    ).list.drop_nulls()
    confidence = (
        pl.when(~matched).then(pl.lit(None, dtype=pl.String))
        .when(pl.col("mismatches").list.len() == 0).then(pl.lit("exact"))
        .when(pl.col("mismatches").list.set_difference(pl.lit(_LEG_ONLY)).list.len() == 0).then(pl.lit("high"))
        .when(pl.col("mismatches").list.set_difference(pl.lit(_AMOUNT_ONLY)).list.len() == 0).then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )
    key = list(_KEY)
    out = (
        joined.with_columns(deadline.alias("deadline"))
        .with_columns(
            pl.when(matched).then(pl.lit("matched"))
            .when(pl.col("r_txid").is_null()).then(pl.lit("unmatched_deposit"))
            .otherwise(pl.lit("orphan_release")).alias("status"),
            pl.when(matched).then(mismatches).otherwise(pl.lit([], dtype=pl.List(pl.String))).alias("mismatches"),
            _event_id("d").drop_nulls().n_unique().over(key).cast(pl.Int64).alias("deposit_count"),
            _event_id("r").drop_nulls().n_unique().over(key).cast(pl.Int64).alias("release_count"),
        )
        .with_columns(confidence.alias("confidence"),
                      ((pl.col("deposit_count") > 1) | (pl.col("release_count") > 1)).alias("ambiguous"))
    )
    renamed = out.select(
        *key, "status", "confidence", "mismatches", "ambiguous", "deposit_count", "release_count",
        pl.col("d_chain").alias("deposit_chain"), pl.col("d_txid").alias("deposit_txid"),
        pl.col("d_log_index").alias("deposit_log_index"), pl.col("d_block_height").alias("deposit_block"),
        pl.col("d_timestamp").alias("deposit_time"), pl.col("d_contract").alias("deposit_contract"),
        pl.col("d_depositor").alias("depositor"), pl.col("d_asset_in").alias("asset_in"),
        pl.col("d_value_in").alias("value_in"), pl.col("d_destination_chain_id").alias("destination_chain_id"),
        pl.col("d_recipient").alias("stated_recipient"), pl.col("d_asset_out").alias("stated_asset_out"),
        pl.col("d_value_out").alias("stated_value_out"), pl.col("d_leg_kind").alias("deposit_leg_kind"),
        pl.col("d_leg_log_index").alias("deposit_leg_log_index"),
        pl.col("d_leg_trace_path").alias("deposit_leg_trace_path"), "deadline",
        pl.col("r_chain").alias("release_chain"), pl.col("r_txid").alias("release_txid"),
        pl.col("r_log_index").alias("release_log_index"), pl.col("r_block_height").alias("release_block"),
        pl.col("r_timestamp").alias("release_time"), pl.col("r_contract").alias("release_contract"),
        pl.col("r_destination_chain_id").alias("release_chain_id"), pl.col("r_recipient").alias("recipient"),
        pl.col("r_asset_out").alias("asset_out"), pl.col("r_value_out").alias("value_out"),
        pl.col("r_leg_kind").alias("release_leg_kind"), pl.col("r_leg_log_index").alias("release_leg_log_index"),
        pl.col("r_leg_trace_path").alias("release_leg_trace_path"),
    )
    result = renamed.with_columns(pl.col("deposit_id").cast(pl.Decimal(38, 0), strict=False).alias("_id")).sort(
        ["bridge", "origin_chain_id", "_id", "deposit_id", "deposit_txid", "release_chain", "release_txid",
         "release_log_index"], nulls_last=True,
    ).drop("_id")
    return result.select(pl.col(name).cast(dtype) for name, dtype in HOP_COLUMNS.items())


def _event_id(side: str) -> pl.Expr:
    """One text per event of a side (null where the side is absent from the joined row)."""
    return pl.concat_str([pl.col(f"{side}_chain"), pl.col(f"{side}_txid"), pl.col(f"{side}_log_index")],
                         separator=":")
