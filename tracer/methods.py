# SPDX-License-Identifier: Apache-2.0
"""What each method the engine applies is, and where it comes from: one place for the citations a
report, a manifest or ``tracer method`` prints, so the words a court reads are the ones the code's
docstrings cite (``tracer.taint``, ``tracer.clustering``, ``tracer.coinjoin``, ``tracer.peel_chains``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Method", "TAINT_MODELS", "HEURISTICS", "method"]


@dataclass(frozen=True)
class Method:
    """A taint model or heuristic: its key, a one-sentence rule, and the published source."""

    key: str
    name: str
    rule: str
    reference: str


TAINT_MODELS: dict[str, Method] = {m.key: m for m in (
    Method("poison", "Poison",
           "if any input of a transaction is tainted, every output is fully tainted (an upper bound: it "
           "over-attributes by design)",
           "M. Möser, R. Böhme, D. Breuker, \"Towards risk scoring of Bitcoin transactions\", FC 2014 Workshops"),
    Method("haircut", "Haircut",
           "each output receives taint in proportion to the tainted share of the inputs, floor(value × "
           "tainted / total) per output; rounding remainders and the fee go to the fee sink",
           "Möser, Böhme, Breuker, FC 2014 Workshops; rounding as BlockSci (Kalodner et al., USENIX "
           "Security 2020)"),
    Method("fifo", "FIFO (first in, first out)",
           "inputs queued in input order fill outputs in output order, the fee last; the first tainted "
           "unit in is the first out (Clayton's Case, 1816)",
           "R. Anderson, I. Shumailov, M. Ahmed, A. Rietmann, \"Bitcoin Redux\", WEIS 2018"),
    Method("lifo", "LIFO (last in, first out)",
           "as FIFO with the input queue reversed; outputs in output order, the fee last",
           "Anderson et al., WEIS 2018 (the mirror of their FIFO rule)"),
    Method("tiho", "TIHO (taint in, highest out)",
           "all tainted input value is pooled and assigned to outputs in descending order of value, each "
           "filled up to its value (ties: lower output index first); excess to the fee",
           "A. Tironsakkul, M. Maarek, A. Eross, M. Just, \"Probing the mystery of cryptocurrency theft: "
           "an investigation into methods for taint analysis\", arXiv:1906.05754, 2019"),
)}

HEURISTICS: dict[str, Method] = {m.key: m for m in (
    Method("multi_input", "Common-input ownership (multi-input clustering)",
           "addresses spent together as inputs of one transaction are controlled by one entity; "
           "CoinJoin transactions are excluded first",
           "S. Meiklejohn et al., \"A fistful of bitcoins\", IMC 2013 (heuristic 1); S. Nakamoto 2008 §10"),
    Method("one_time_change", "One-time change",
           "the one output to a never-before-seen address is the payer's change (off by default: false "
           "links merge unrelated entities)",
           "Meiklejohn et al., IMC 2013 (heuristic 2)"),
    Method("coinjoin", "CoinJoin detection",
           "at least 2 inputs and 3 outputs; the most common output value (not dust 546/2,730) occurs "
           "exactly ceil(outputs/2) times, not more than the inputs or distinct input addresses; plus "
           "Wasabi, Whirlpool and JoinMarket shapes",
           "H. Kalodner et al., \"BlockSci\", USENIX Security 2020 (isCoinjoin)"),
    Method("peel_chain", "Peel chains",
           "runs of 1-input, 2-output transactions where one output continues the chain",
           "Meiklejohn et al., IMC 2013; G. Kappos et al., \"How to peel a million\", USENIX Security 2022"),
    Method("account_pool", "Account as a pool over time",
           "an account-model address is a pool: the taint model runs over the time-ordered stream of its "
           "incoming and outgoing transfers (block, then log/trace position)",
           "shared design notes §5; the models above applied per address"),
    Method("deposit_reuse", "Deposit-address reuse (account chains)",
           "an exchange deposit address forwards what it receives to the exchange's hot wallet; every "
           "address that paid into one deposit address is one user, every deposit address sweeping into "
           "one hot wallet belongs to that exchange (measured, not yet offered by `tracer cluster run`)",
           "F. Victor, \"Address Clustering Heuristics for Ethereum\", FC 2020"),
    Method("conversion", "Conversions (swaps, wrapping)",
           "a swap or wrap inside a transaction passes taint on what was given into what was received in "
           "proportion (poison: all); routers passing an exact amount on inside the transaction are relays",
           "Uniswap V2 core / V3 core contracts (Swap events), WETH9 (Deposit/Withdrawal); proportional rule "
           "as haircut, Möser et al., FC 2014"),
    Method("bridge", "Bridge crossings",
           "a deposit on one chain is matched to its release on another by the bridge's own identifiers, "
           "every restated field checked; the trace continues there with the traced share",
           "Across Protocol, \"Tracking events\" (docs.across.to): origin chain id and deposit id"),
)}


def method(key: str) -> Method:
    """The taint model or heuristic named ``key``."""
    if key in TAINT_MODELS:
        return TAINT_MODELS[key]
    if key in HEURISTICS:
        return HEURISTICS[key]
    raise KeyError(key)
