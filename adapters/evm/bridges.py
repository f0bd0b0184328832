# SPDX-License-Identifier: Apache-2.0
"""Decode bridge events of one EVM block into ``bridge_events`` rows (pure, no I/O).

Input: the block (``eth_getBlockByNumber``: number, hash, timestamp), its receipts exactly as the
node returns them, and the ``transfers`` rows already mapped from the same block
(:func:`adapters.evm.mappers.map_block`, plus :func:`~adapters.evm.mappers.map_traces` for internal
transfers). Output: :data:`tracer.schema.BRIDGE_EVENTS` rows, one per bridge event, each pointing at
the ``transfers`` row that moved the value (its leg), plus each event's fill deadline (a side frame,
:data:`DEADLINE_COLUMNS`, that :func:`tracer.bridge_match.match_bridge_events` reads).

Which logs are read: only those emitted by a contract that the :class:`~tracer.bridges.BridgeRegistry`
lists for this chain id, and whose topic0 is one of that bridge's events. An event with the same
signature from any other contract is ignored (emitting a look-alike costs nothing). A registered
contract's other events (route changes, refunds) are not bridge hops and are skipped silently.

Across Protocol (decoder family ``across_v3``; https://docs.across.to/reference/tracking-events)
------------------------------------------------------------------------------------------------
* ``FundsDeposited`` / ``V3FundsDeposited`` -> role ``deposit``: ``origin_chain_id`` = this chain,
  ``destination_chain_id`` / ``deposit_id`` / ``depositor`` / ``recipient`` / ``inputToken`` /
  ``inputAmount`` / ``outputToken`` / ``outputAmount`` as the event states them. Leg: the
  ``transfers`` row that paid ``inputAmount`` **to the SpokePool** in the same transaction: the
  ERC-20 ``Transfer`` of ``inputToken``, or, for a deposit of the chain's coin (the SpokePool wraps
  ``msg.value`` into WETH), the native / internal row of that value.
* ``FilledRelay`` / ``FilledV3Relay`` -> role ``release``: ``origin_chain_id`` / ``deposit_id`` from
  the event, ``destination_chain_id`` = this chain; ``recipient`` and ``value_out`` are what was
  **paid**: ``relayExecutionInfo.updatedRecipient`` / ``updatedOutputAmount`` (equal to the
  deposit's unless the depositor signed a speed-up). Leg: the row that paid ``value_out`` **to the
  recipient**: a token ``Transfer`` from the relayer (fast fill) or the SpokePool (slow fill,
  ``fillType`` 2), or the native / internal row when the output token is the wrapped coin and the
  SpokePool unwrapped it (that row exists only if traces were ingested).
* ``asset_in`` / ``asset_out`` are the tokens as the event states them (``asset_out`` null when the
  deposit left ``outputToken`` zero, "the equivalent token"); the leg's ``kind`` tells whether the
  coin itself moved.
* Across v3.5+ writes addresses as ``bytes32`` (so that non-EVM chains such as Solana fit). A value
  whose upper 12 bytes are zero is an EVM address and is written EIP-55; any other value is **kept
  as its 32-byte hex** (``0x`` + 64 digits), e.g. a Solana recipient; it is counted in
  :attr:`BridgeStats.non_evm_addresses`.

Never a silent drop, never an exception that aborts the block: a registered contract's event that
does not decode (wrong topic count, bad data, an amount >= 10**38 or a chain id >= 2**63 that the
frame cannot hold) gives no row and a :class:`BridgeWarning`; an event whose leg is not found is
kept with null leg columns and a warning. Both name the txid and log index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

import eth_abi
import polars as pl
from eth_utils import keccak, to_checksum_address

from tracer.bridges import BridgeEvent, BridgeProtocol, BridgeRegistry
from tracer.chains import Chain
from tracer.schema import BRIDGE_EVENTS, NATIVE_ASSET, conform, empty

__all__ = [
    "BridgeWarning",
    "BridgeStats",
    "DecodedBridgeEvents",
    "DEADLINE_COLUMNS",
    "map_bridge_events",
    "event_topic",
    "bytes32_account",
]

#: Side frame of :func:`map_bridge_events`: the fill deadline (UTC seconds) each event states, by the
#: event's key; null when the event states none.
DEADLINE_COLUMNS: Mapping[str, pl.DataType] = {
    "chain": pl.String(), "txid": pl.String(), "log_index": pl.Int64(), "fill_deadline": pl.Int64(),
}
_INT64_MAX = 2**63 - 1
_AMOUNT_LIMIT = 10**38
_SLOW_FILL = 2  # Across FillType.SlowFill: paid out of the SpokePool's reserves
_LEG_KINDS = ("token", "native", "internal")


@dataclass(frozen=True, slots=True)
class BridgeWarning:
    """A bridge event that gave no row, or a row without its leg."""

    txid: str
    log_index: int | None
    bridge: str
    contract: str
    event: str | None
    reason: str

    def __str__(self) -> str:
        what = self.event or "event"
        return f"{self.bridge} {what} in {self.txid} (log {self.log_index}) from {self.contract}: {self.reason}"


@dataclass
class BridgeStats:
    """What the decoder saw (pass one in to collect over many blocks; it is added to)."""

    deposits: int = 0
    releases: int = 0
    #: events from registered contracts that are not hops (route changes, refunds, ...)
    other_events: int = 0
    #: ``bytes32`` account fields that are not EVM addresses (kept as 32-byte hex)
    non_evm_addresses: int = 0
    warnings: list[BridgeWarning] = field(default_factory=list)


class DecodedBridgeEvents(NamedTuple):
    """Result of :func:`map_bridge_events`."""

    events: pl.DataFrame  # BRIDGE_EVENTS, conformed
    deadlines: pl.DataFrame  # DEADLINE_COLUMNS
    stats: BridgeStats


def event_topic(event: BridgeEvent) -> str:
    """topic0 of ``event``: keccak-256 of its canonical signature, ``0x`` hex."""
    return "0x" + keccak(text=event.signature).hex()


@lru_cache(maxsize=64)
def _topics(protocol: BridgeProtocol) -> dict[str, BridgeEvent]:
    return {event_topic(e): e for e in protocol.events}


def bytes32_account(value: bytes) -> tuple[str, bool]:
    """An Across ``bytes32`` account: ``(EIP-55 address, True)`` when the upper 12 bytes are zero,
    else ``(0x + 64 hex digits, False)`` (a non-EVM account, e.g. Solana)."""
    if len(value) == 32 and not any(value[:12]):
        return to_checksum_address(value[12:]), True
    return "0x" + value.hex(), False


def map_bridge_events(
    block: Mapping[str, Any],
    receipts: Sequence[Mapping[str, Any]],
    transfers: pl.DataFrame,
    registry: BridgeRegistry,
    chain: Chain,
    *,
    source: str,
    chain_id: int | None = None,
    stats: BridgeStats | None = None,
) -> DecodedBridgeEvents:
    """``bridge_events`` rows of one block (see the module docstring for the rules).

    Parameters
    ----------
    block
        The block object (only ``number``, ``hash`` and ``timestamp`` are read).
    receipts
        The block's receipts (their ``logs``); logs of failed transactions do not exist.
    transfers
        ``transfers`` rows of this block (more blocks are fine: rows are looked up by txid).
    registry
        Which contracts are bridge contracts, per chain id.
    chain
        The registry chain (its key goes in ``chain``).
    source
        Provenance written in ``source`` (the node, as :attr:`EvmNode.source`).
    chain_id
        EIP-155 id of this chain; default ``chain.evm_chain_id`` (pass the node's ``eth_chainId``).
    stats
        Collects counts and warnings over many calls; a new one when omitted.
    """
    stats = BridgeStats() if stats is None else stats
    cid = chain.evm_chain_id if chain_id is None else chain_id
    if cid is None:
        raise ValueError(f"{chain.key} has no EIP-155 chain id: bridge events are decoded on EVM chains only")
    height = int(str(block["number"]), 16)
    block_hash = str(block["hash"]).lower()
    timestamp = int(str(block["timestamp"]), 16)
    found: list[tuple[Mapping[str, Any], str, BridgeProtocol, BridgeEvent]] = []
    for receipt in receipts:
        for log in receipt.get("logs") or []:
            address = str(log.get("address", ""))
            bridge = registry.bridge_of(cid, address)
            if bridge is None:
                continue
            protocol = registry.protocol(bridge)
            topics = log.get("topics") or []
            event = _topics(protocol).get(str(topics[0]).lower()) if topics else None
            if event is None:
                stats.other_events += 1
                continue
            found.append((log, to_checksum_address(address), protocol, event))
    if not found:
        return DecodedBridgeEvents(empty(BRIDGE_EVENTS), pl.DataFrame(schema=dict(DEADLINE_COLUMNS)), stats)

    legs = _Legs(transfers, {str(log.get("transactionHash") or "").lower() for log, *_ in found})
    rows: list[dict[str, Any]] = []
    deadlines: list[dict[str, Any]] = []
    for log, contract, protocol, event in found:
        txid = str(log.get("transactionHash") or "").lower()
        log_index = _int(log.get("logIndex"))
        try:
            if not txid or log_index is None:
                raise ValueError("the log has no transactionHash or logIndex")
            fields = _decode(event, log)
            row, deadline, leg = _across_row(event, fields, contract, cid, stats)
        except (ValueError, TypeError, eth_abi.exceptions.DecodingError) as exc:
            stats.warnings.append(BridgeWarning(txid, log_index, protocol.name, contract, event.name,
                                                f"does not decode: {exc}"))
            continue
        chosen = legs.take(txid, **leg)
        if chosen is None:
            stats.warnings.append(BridgeWarning(
                txid, log_index, protocol.name, contract, event.name,
                f"no transfers row paid {leg['amount']} of {leg['asset']} to {leg['to']} in this transaction "
                "(kept without its leg)"))
        row.update(
            chain=chain.key, txid=txid, block_height=height, block_hash=block_hash,
            tx_index=_int(log.get("transactionIndex")), timestamp=timestamp, log_index=log_index,
            bridge=protocol.name, contract=contract, source=source,
            leg_kind=chosen["kind"] if chosen else None,
            leg_log_index=chosen["log_index"] if chosen else None,
            leg_trace_path=chosen["trace_path"] if chosen else None, fill_deadline=deadline,
        )
        rows.append(row)
        deadlines.append({"chain": chain.key, "txid": txid, "log_index": log_index, "fill_deadline": deadline})
        if event.role == "deposit":
            stats.deposits += 1
        else:
            stats.releases += 1
    if not rows:
        return DecodedBridgeEvents(empty(BRIDGE_EVENTS), pl.DataFrame(schema=dict(DEADLINE_COLUMNS)), stats)
    frame = pl.DataFrame(rows, schema=BRIDGE_EVENTS.polars_schema)
    return DecodedBridgeEvents(conform(frame, BRIDGE_EVENTS),
                               pl.DataFrame(deadlines, schema=dict(DEADLINE_COLUMNS)), stats)


# --- decoding ---------------------------------------------------------------------------------------


def _decode(event: BridgeEvent, log: Mapping[str, Any]) -> dict[str, Any]:
    """ABI-decode ``log`` as ``event``: ``{input name: value}``."""
    topics = [str(t) for t in log.get("topics") or []]
    indexed, data = event.indexed, event.data
    if len(topics) != 1 + len(indexed):
        raise ValueError(f"{len(topics)} topics, {event.name} has {1 + len(indexed)}")
    out: dict[str, Any] = {}
    for spec, topic in zip(indexed, topics[1:], strict=True):
        raw = bytes.fromhex(topic.removeprefix("0x"))
        if len(raw) != 32:
            raise ValueError(f"topic {topic!r} is not 32 bytes")
        out[spec.name] = eth_abi.decode([spec.type], raw)[0]
    payload = bytes.fromhex(str(log.get("data") or "0x").removeprefix("0x"))
    values = eth_abi.decode([spec.type for spec in data], payload, strict=True)
    out.update({spec.name: value for spec, value in zip(data, values, strict=True)})
    return out


def _account(value: Any, stats: BridgeStats) -> str:
    """An event's account field (``address`` text or ``bytes32``) as the frame writes it."""
    if isinstance(value, bytes):
        text, evm = bytes32_account(value)
        if not evm:
            stats.non_evm_addresses += 1
        return text
    return to_checksum_address(str(value))


def _token(value: Any, stats: BridgeStats) -> str | None:
    """A token field; ``None`` for the zero address (Across: "the equivalent token")."""
    text = _account(value, stats)
    return None if int(text, 16) == 0 else text


def _amount(value: int, name: str) -> Decimal:
    if not 0 <= value < _AMOUNT_LIMIT:
        raise ValueError(f"{name} {value} does not fit the frame's Decimal(38, 0)")
    return Decimal(value)


def _chain(value: int, name: str) -> int:
    if not 0 < value <= _INT64_MAX:
        raise ValueError(f"{name} {value} is not a chain id the frame can hold")
    return value


def _across_row(event: BridgeEvent, f: Mapping[str, Any], contract: str, chain_id: int,
                stats: BridgeStats) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Across event fields -> (row columns, fill deadline, what its leg must look like)."""
    input_token = _token(f["inputToken"], stats)
    output_token = _token(f["outputToken"], stats)
    row: dict[str, Any] = {
        "role": event.role,
        "deposit_id": str(int(f["depositId"])),
        "depositor": _account(f["depositor"], stats),
        "asset_in": input_token,
        "value_in": _amount(int(f["inputAmount"]), "inputAmount"),
        "asset_out": output_token,
    }
    if input_token is None:
        raise ValueError("inputToken is the zero address")
    if event.role == "deposit":
        row.update(
            origin_chain_id=chain_id,
            destination_chain_id=_chain(int(f["destinationChainId"]), "destinationChainId"),
            recipient=_account(f["recipient"], stats),
            value_out=_amount(int(f["outputAmount"]), "outputAmount"),
        )
        leg = {"to": contract, "asset": input_token, "amount": int(f["inputAmount"]), "payer": row["depositor"]}
    else:
        updated_recipient, _message, updated_amount, fill_type = f["relayExecutionInfo"]
        recipient = _account(updated_recipient, stats)
        if int(recipient, 16) == 0:  # an event without the update struct filled in: pay the stated recipient
            recipient, updated_amount = _account(f["recipient"], stats), f["outputAmount"]
        row.update(
            origin_chain_id=_chain(int(f["originChainId"]), "originChainId"),
            destination_chain_id=chain_id,
            recipient=recipient,
            value_out=_amount(int(updated_amount), "updatedOutputAmount"),
        )
        payer = contract if int(fill_type) == _SLOW_FILL else _account(f["relayer"], stats)
        leg = {"to": recipient, "asset": output_token, "amount": int(updated_amount), "payer": payer}
    return row, int(f["fillDeadline"]), leg


# --- legs -------------------------------------------------------------------------------------------


class _Legs:
    """Candidate ``transfers`` rows of the transactions that hold bridge events; each row is used once."""

    def __init__(self, transfers: pl.DataFrame, txids: set[str]) -> None:
        wanted = transfers.filter(pl.col("txid").str.to_lowercase().is_in(sorted(txids))
                                  & pl.col("kind").is_in(_LEG_KINDS))
        self._by_tx: dict[str, list[dict[str, Any]]] = {}
        for row in wanted.select("txid", "kind", "log_index", "trace_path", "asset", "from_address", "to_address",
                                 "value", "value_overflow").iter_rows(named=True):
            self._by_tx.setdefault(str(row["txid"]).lower(), []).append(row)
        self._used: set[tuple[str, str, int | None, str | None]] = set()

    def take(self, txid: str, *, to: str, asset: str | None, amount: int, payer: str) -> dict[str, Any] | None:
        """The best unused row paying ``amount`` to ``to`` in ``txid``: of ``asset`` (else of the chain's
        coin), from ``payer`` first, then in log / call order."""
        def value(row: Mapping[str, Any]) -> int | None:
            if row["value"] is not None:
                return int(row["value"])
            return int(row["value_overflow"]) if row["value_overflow"] else None

        candidates = []
        for row in self._by_tx.get(txid, []):
            key = (txid, row["kind"], row["log_index"], row["trace_path"])
            if key in self._used or not row["to_address"] or row["to_address"].lower() != to.lower():
                continue
            if value(row) != amount:
                continue
            same_token = asset is not None and row["asset"].lower() == asset.lower()
            if not same_token and row["asset"] != NATIVE_ASSET:
                continue
            from_payer = (row["from_address"] or "").lower() == payer.lower()
            order = (0 if same_token else 1, 0 if from_payer else 1, row["log_index"] if row["log_index"] is not None
                     else -1, row["trace_path"] or "")
            candidates.append((order, key, row))
        if not candidates:
            return None
        _, key, best = min(candidates, key=lambda c: c[0])
        self._used.add(key)
        return best


def _int(value: Any) -> int | None:
    """A JSON-RPC quantity (``0x`` hex) or an integer; ``None`` when absent or unreadable."""
    if value is None:
        return None
    try:
        return int(value, 16) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        return None
