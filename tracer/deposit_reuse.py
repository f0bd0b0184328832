# SPDX-License-Identifier: Apache-2.0
"""Deposit-address reuse clustering for account chains (shared design notes §5; Victor, FC 2020 [1]_).

An exchange gives each customer a **deposit address**; whatever it receives is forwarded
("swept") to the exchange's **hot wallet** soon after. Two consequences, both used here:

* every address that paid into one deposit address is linked to one user (the customer the
  deposit address was issued to): heuristic ``deposit_reuse``;
* every deposit address that sweeps into one hot wallet belongs to that exchange: heuristic
  ``deposit_sweep``.

Victor [1]_ (Algorithm 1; the released ``etherclust`` code) starts from *known* exchange addresses
and matches each forward to the exchange with a receipt of the forwarding address no more than
``t_max = 3200`` blocks (about 12 hours) earlier, the amounts differing by at most ``a_max = 0.01``
ether (token amounts: equal). Here the hot wallets need not be known (pass ``known_hot_wallets``
to fix them as Victor does), and the amount test is relative, so that it means the same for
every token's decimals and for sweeps that batch several deposits:

1. A **sweep candidate** is a transfer ``s`` from ``D`` to ``H`` (kinds native, token, internal;
   not the fee) that forwards at least ``min_forward_share`` of what ``D`` received in that asset
   since its previous outgoing transfer of that asset (receipts from ``H`` itself, e.g. gas
   top-ups for token sweeps, not counted), the first of those receipts at most ``max_blocks``
   blocks before ``s``.
2. ``D`` is a **deposit candidate** of ``H`` when it has a sweep candidate to ``H`` and every
   value-carrying transfer it ever sent went to ``H`` (a deposit address pays nothing else).
3. ``H`` is a **hot wallet** when at least ``min_deposits`` deposit candidates sweep into it and it
   is not itself a deposit candidate (an address that forwards everything it receives to one
   place is a deposit address or a relay, not the place where an exchange keeps its funds).
4. The **deposit addresses** are the deposit candidates of hot wallets; the **users** of a deposit
   address are the senders of value into it, except hot wallets and deposit addresses
   (a hot wallet's withdrawal straight into another exchange's deposit address is not a user).

Evidence is kept as in :mod:`tracer.clustering` (:data:`LINK_COLUMNS`, a superset of
:data:`tracer.clustering.EVIDENCE_COLUMNS`): for a ``deposit_reuse`` edge ``txid`` is the linked
address's first transfer into the deposit address, ``via_txid`` the address's own, and
``sweep_txid`` the deposit address's first sweep; a ``deposit_sweep`` edge links the deposit address
to its hot wallet by its first sweep. Each deposit address contributes a star from its smallest
user to every other user. Cluster ids come from :func:`tracer.clustering.clusters`:
``"{chain}:{smallest member}"``, stable across runs and row orders.

Known ways it errs (measured in ``docs/error-rates.md``): a deposit address used as a merchant's
payment address links the merchant's paying customers to each other; a sweep later than
``max_blocks`` or a deposit never swept is missed; relays that forward everything to one address
(a launderer's hops) look like deposit addresses of that address.

References
----------
.. [1] F. Victor, "Address Clustering Heuristics for Ethereum", Financial Cryptography and Data
   Security (FC) 2020, LNCS 12059, pp. 617-633, https://doi.org/10.1007/978-3-030-51280-4_33.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl

from tracer.clustering import EVIDENCE_COLUMNS, clusters
from tracer.schema import AMOUNT

__all__ = [
    "DEPOSIT_REUSE",
    "DEPOSIT_SWEEP",
    "DepositParams",
    "DepositReuse",
    "SWEEP_COLUMNS",
    "DEPOSIT_COLUMNS",
    "LINK_COLUMNS",
    "sweep_candidates",
    "deposit_addresses",
    "deposit_reuse",
]

DEPOSIT_REUSE = "deposit_reuse"
DEPOSIT_SWEEP = "deposit_sweep"
#: the transfer kinds that move value between addresses (``fee`` rows are not forwards)
_MOVING = ("native", "token", "internal")
_KIND_RANK = {"native": 0, "internal": 1, "token": 2}
#: amounts judged as sweeps are below this (so ``amount x 10^6`` fits a 128-bit integer, exactly)
JUDGED_BELOW = 10**32
_PPM = 1_000_000

#: one forward judged a sweep: ``deposit_address`` forwarded ``forwarded`` of the ``received`` it got
#: (from others than the hot wallet) since its previous outgoing transfer of ``asset``
SWEEP_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(), "deposit_address": pl.String(), "hot_wallet": pl.String(), "asset": pl.String(),
    "txid": pl.String(), "block_height": pl.Int64(), "first_receipt_block": pl.Int64(),
    "received": AMOUNT, "forwarded": AMOUNT, "receipts": pl.UInt32(),
}
#: one deposit address and the hot wallet it sweeps into
DEPOSIT_COLUMNS: dict[str, pl.DataType] = {
    "chain": pl.String(), "deposit_address": pl.String(), "hot_wallet": pl.String(), "sweeps": pl.UInt32(),
    "first_sweep_txid": pl.String(), "first_sweep_block": pl.Int64(),
}
#: evidence edges (:data:`tracer.clustering.EVIDENCE_COLUMNS` plus where the link came from)
LINK_COLUMNS: dict[str, pl.DataType] = {
    **EVIDENCE_COLUMNS, "deposit_address": pl.String(), "via_txid": pl.String(), "sweep_txid": pl.String(),
}
_LINK_ORDER = ["chain", "address", "linked_address", "txid", "heuristic"]


@dataclass(frozen=True)
class DepositParams:
    """The heuristic's parameters.

    ``max_blocks`` is Victor's ``t_max`` (3200 blocks, about 12 hours of Ethereum blocks);
    ``min_forward_share`` replaces his absolute ``a_max = 0.01`` ether by a share of what was received
    (1 % here: the gas of an ether sweep is far below it); ``min_deposits`` is how many deposit
    candidates make a hot wallet when the hot wallets are not given."""

    max_blocks: int = 3200
    min_forward_share: float = 0.99
    min_deposits: int = 3

    def __post_init__(self) -> None:
        if self.max_blocks < 0 or not 0.0 < self.min_forward_share <= 1.0 or self.min_deposits < 1:
            raise ValueError("max_blocks >= 0, 0 < min_forward_share <= 1 and min_deposits >= 1 are required")


@dataclass(frozen=True)
class DepositReuse:
    """What :func:`deposit_reuse` found: sweeps, deposit addresses, evidence edges and clusters."""

    sweeps: pl.DataFrame  # SWEEP_COLUMNS, of the accepted deposit addresses only
    deposits: pl.DataFrame  # DEPOSIT_COLUMNS
    hot_wallets: tuple[str, ...]
    user_links: pl.DataFrame  # LINK_COLUMNS, heuristic deposit_reuse
    exchange_links: pl.DataFrame  # LINK_COLUMNS, heuristic deposit_sweep
    clusters: pl.DataFrame  # tracer.schema.CLUSTERS rows of every linked address


def _moving(transfers: pl.DataFrame, chain: str) -> pl.DataFrame:
    """Value-carrying transfers of ``chain`` between two different addresses, in chain order, with ``v``
    (the exact value, base units) and ``at`` (the rank). Amounts of :data:`JUDGED_BELOW` or more (far
    beyond any sweep: 10^14 whole units of an 18-decimal token) are left out, so the share test below
    stays exact integer arithmetic."""
    return (
        transfers.filter(
            (pl.col("chain") == chain) & pl.col("kind").is_in(_MOVING) & pl.col("to_address").is_not_null()
            & pl.col("block_height").is_not_null() & (pl.col("from_address") != pl.col("to_address"))
            & pl.col("value").is_not_null() & (pl.col("value") > 0) & (pl.col("value") < JUDGED_BELOW))
        .with_columns(pl.col("kind").replace_strict(_KIND_RANK, default=3).alias("_kind"),
                      pl.col("value").cast(AMOUNT).alias("v"))
        .sort(["block_height", "tx_index", "txid", "_kind", "log_index", "trace_path"], nulls_last=True)
        .with_row_index("at")
        .select("at", "txid", "block_height", "asset", pl.col("from_address").alias("src"),
                pl.col("to_address").alias("dst"), "v")
    )


def sweep_candidates(transfers: pl.DataFrame, chain: str, params: DepositParams = DepositParams()) -> pl.DataFrame:
    """Every forward that passes the time and amount tests (rule 1 of the module docstring), with
    :data:`SWEEP_COLUMNS`, sorted by deposit address, block and txid."""
    moves = _moving(transfers, chain)
    outs = moves.select("at", "txid", "block_height", "asset", pl.col("src").alias("address"),
                        pl.col("dst").alias("peer"), "v", pl.lit(True).alias("out"))
    ins = moves.select("at", "txid", "block_height", "asset", pl.col("dst").alias("address"),
                       pl.col("src").alias("peer"), "v", pl.lit(False).alias("out"))
    # segment k of (address, asset): the receipts after its k-th outgoing transfer and before the next;
    # the outgoing transfer that closes a segment carries the segment's number
    events = pl.concat([outs, ins]).sort("address", "asset", "at").with_columns(
        (pl.col("out").cast(pl.UInt32).cum_sum().over("address", "asset")
         - pl.col("out").cast(pl.UInt32)).alias("segment"))
    receipts = events.filter(~pl.col("out")).select("address", "asset", "segment", pl.col("peer").alias("sender"),
                                                    pl.col("v").alias("rv"), pl.col("block_height").alias("rb"))
    forwards = events.filter(pl.col("out"))
    judged = (
        forwards.join(receipts, on=["address", "asset", "segment"], how="inner")
        .filter(pl.col("sender") != pl.col("peer"))
        .group_by("at", "address", "peer", "asset", "txid", "block_height", "v")
        .agg(pl.col("rv").sum().alias("received"), pl.col("rb").min().alias("first_receipt_block"),
             pl.len().cast(pl.UInt32).alias("receipts"))
        .filter((pl.col("block_height") - pl.col("first_receipt_block") <= params.max_blocks)
                & (pl.col("received") < JUDGED_BELOW)
                # forwarded >= share x received, exactly: in parts per million, 128-bit integers
                & (pl.col("v").cast(pl.Int128) * _PPM
                   >= pl.col("received").cast(pl.Int128) * round(params.min_forward_share * _PPM)))
    )
    return judged.select(
        pl.lit(chain).alias("chain"), pl.col("address").alias("deposit_address"), pl.col("peer").alias("hot_wallet"),
        "asset", "txid", "block_height", "first_receipt_block", "received", pl.col("v").alias("forwarded"),
        "receipts",
    ).select(pl.col(c).cast(t) for c, t in SWEEP_COLUMNS.items()).sort("deposit_address", "block_height", "txid")


def deposit_addresses(transfers: pl.DataFrame, chain: str, params: DepositParams = DepositParams(),
                      known_hot_wallets: Collection[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Deposit addresses and their hot wallets (rules 1-3), as :data:`DEPOSIT_COLUMNS`, and the sweeps
    that made them (:data:`SWEEP_COLUMNS`). With ``known_hot_wallets`` (Victor's setting) those are the
    hot wallets and ``min_deposits`` is not applied."""
    sweeps = sweep_candidates(transfers, chain, params)
    moves = _moving(transfers, chain)
    destinations = moves.group_by("src").agg(pl.col("dst").n_unique().alias("n"), pl.col("dst").first().alias("only"))
    single = destinations.filter(pl.col("n") == 1).select(pl.col("src").alias("deposit_address"),
                                                          pl.col("only").alias("hot_wallet"))
    candidates = sweeps.join(single, on=["deposit_address", "hot_wallet"], how="semi")
    relays = set(candidates["deposit_address"].to_list())
    if known_hot_wallets is not None:
        hot = sorted(set(known_hot_wallets))
    else:
        fan_in = candidates.group_by("hot_wallet").agg(pl.col("deposit_address").n_unique().alias("n"))
        hot = sorted(h for h, n in fan_in.iter_rows() if n >= params.min_deposits and h not in relays)
    kept = candidates.filter(pl.col("hot_wallet").is_in(hot))
    deposits = (kept.sort("block_height", "txid")
                .group_by("chain", "deposit_address", "hot_wallet", maintain_order=True)
                .agg(pl.len().cast(pl.UInt32).alias("sweeps"), pl.col("txid").first().alias("first_sweep_txid"),
                     pl.col("block_height").first().alias("first_sweep_block"))
                .select(pl.col(c).cast(t) for c, t in DEPOSIT_COLUMNS.items()).sort("deposit_address"))
    return deposits, kept


def _links(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(pl.col(c).cast(t) for c, t in LINK_COLUMNS.items()).unique().sort(_LINK_ORDER)


def deposit_reuse(transfers: pl.DataFrame, chain: str, params: DepositParams = DepositParams(), *,
                  known_hot_wallets: Collection[str] | None = None, run_source: str = "deposit_reuse") -> DepositReuse:
    """Run the heuristic over a canonical ``transfers`` frame (:data:`tracer.schema.TRANSFERS`) of ``chain``.

    Examples
    --------
    >>> rows = [("u1", "d1", 5, 1), ("d1", "h", 5, 2), ("u2", "d2", 3, 1), ("d2", "h", 3, 3),
    ...         ("u3", "d3", 2, 1), ("d3", "h", 2, 2), ("u4", "d1", 1, 4), ("d1", "h", 1, 5)]
    >>> tr = pl.DataFrame({"chain": "x", "txid": [f"t{i}" for i in range(8)], "kind": "native",
    ...     "asset": "native", "from_address": [r[0] for r in rows], "to_address": [r[1] for r in rows],
    ...     "value": [r[2] for r in rows], "block_height": [r[3] for r in rows], "tx_index": 0,
    ...     "log_index": None, "trace_path": None})
    >>> found = deposit_reuse(tr, "x")
    >>> found.hot_wallets, found.user_links.select("address", "linked_address").rows()
    (('h',), [('u1', 'u4')])
    """
    deposits, sweeps = deposit_addresses(transfers, chain, params, known_hot_wallets)
    hot = tuple(sorted(set(deposits["hot_wallet"].to_list()) | set(known_hot_wallets or ())))
    moves = _moving(transfers, chain)
    services = set(hot) | set(deposits["deposit_address"].to_list())
    paid = (moves.join(deposits.select(pl.col("deposit_address").alias("dst"), "first_sweep_txid"), on="dst",
                       how="inner")
            .filter(~pl.col("src").is_in(list(services)))
            .sort("at").group_by("dst", "src", maintain_order=True).agg(pl.col("txid").first(),
                                                                        pl.col("first_sweep_txid").first()))
    root = paid.group_by("dst").agg(pl.col("src").min().alias("root"))
    root_tx = paid.join(root, on="dst").filter(pl.col("src") == pl.col("root")).select("dst", pl.col("txid").alias(
        "via_txid"))
    users = (paid.join(root, on="dst").filter(pl.col("src") != pl.col("root")).join(root_tx, on="dst")
             .select(pl.lit(chain).alias("chain"), pl.col("root").alias("address"),
                     pl.col("src").alias("linked_address"), "txid", pl.lit(DEPOSIT_REUSE).alias("heuristic"),
                     pl.col("dst").alias("deposit_address"), "via_txid",
                     pl.col("first_sweep_txid").alias("sweep_txid")))
    exchange = deposits.select("chain", pl.col("deposit_address").alias("address"),
                               pl.col("hot_wallet").alias("linked_address"), pl.col("first_sweep_txid").alias("txid"),
                               pl.lit(DEPOSIT_SWEEP).alias("heuristic"), "deposit_address",
                               pl.lit(None, pl.String).alias("via_txid"),
                               pl.col("first_sweep_txid").alias("sweep_txid"))
    user_links, exchange_links = _links(users), _links(exchange)
    both = pl.concat([user_links, exchange_links])
    return DepositReuse(sweeps=sweeps.sort("deposit_address", "block_height", "txid"), deposits=deposits,
                        hot_wallets=hot, user_links=user_links, exchange_links=exchange_links,
                        clusters=clusters(both, None, chain, run_source))
