# SPDX-License-Identifier: Apache-2.0
"""Map Bitcoin Core ``getblock <hash> 2`` responses to the canonical frames (pure, no I/O).

The same code serves ``bitcoind``, ``litecoind`` (0.21, a Bitcoin Core 0.21 fork) and other Core
forks whose JSON-RPC has the same shape. The input is the decoded JSON of a verbosity-2 (or 3)
``getblock``, parsed with ``json.loads(text, parse_float=Decimal)``; the output is a
:class:`BlockFrames` of ``transactions``, ``inputs`` and ``outputs`` (``tracer/schema.py``).

Rules
-----
* **Amounts** are converted once with :func:`tracer.units.to_base_units` (8 decimals). A ``float``
  anywhere in an amount means the JSON was parsed with floats, which already lost digits on
  Dogecoin-sized values: it is refused with :class:`TypeError` (a caller bug, not bad data).
* **Output addresses** come from ``scriptPubKey.address`` (Core >= 22) or a one-element
  ``scriptPubKey.addresses`` (older Core, litecoind 0.21). ``script_type`` is the short form of
  ``scriptPubKey.type`` (:data:`SCRIPT_TYPES`); a type not in that table raises
  :class:`SchemaDriftError`.
* **P2PK** (``pubkey``): Core >= 22 gives no address, so the P2PKH address of the public key in
  ``scriptPubKey.asm`` is derived (hash160, Base58Check with ``chain.p2pkh_versions[0]``) -- the
  address block explorers and older Core show for these outputs. When the node does give one,
  it is used as given.
* **No address**: ``nulldata`` (OP_RETURN), ``nonstandard``, and **bare multisig** (``multisig``):
  a bare multisig output belongs to several keys at once, so it is given ``address = null`` and
  ``script_type = "multisig"`` rather than being attributed to any one of its keys (older nodes
  list every key's address in ``addresses``; that list is ignored).
* **Inputs**: a coinbase input has null ``prev_txid``/``prev_index``/``address``/``value``. Any
  other input takes its address and value from, in order: an output of the same block, the
  verbosity-3 ``prevout`` object, the ``prevouts`` mapping. Otherwise they stay null and the
  outpoint is listed by :func:`unresolved_outpoints` (and in :attr:`BlockFrames.unresolved`);
  the fetch layer resolves those in batches and maps the block again with ``prevouts``.
* **Fee** = sum(input values) - sum(output values) when every input value is known, ``0`` for a
  coinbase, else the node's own ``fee`` field when present (Core gives it with verbosity 2 when
  it has undo data; when both exist they must agree). Otherwise the fee is null: such a frame
  is *not* canonical (``validate`` refuses a null fee), so an incomplete block cannot be loaded by
  mistake; check :attr:`BlockFrames.complete`.
* **Schema drift**: the keys of the block, of each transaction and of each ``vin``/``vout`` entry
  are compared with the known keys plus the keys deliberately ignored (Litecoin MWEB: the
  block's ``mweb`` object and MWEB transaction fields; Dogecoin's ``auxpow``; the extra fields
  ``getrawtransaction`` adds). Any other key raises :class:`SchemaDriftError` naming it, so a
  node upgrade that adds value-bearing fields (e.g. a Zcash node's shielded pools) is reviewed
  rather than silently dropped. The Litecoin MWEB key names are taken from litecoind 0.21 as
  understood here and have not been checked against an MWEB-active node.
* **Duplicate txids**: a txid twice in one block is a malformed (mutated, CVE-2012-2459) block
  and raises :class:`MalformedResponseError`. Across blocks, the two historical BIP30 cases (the
  coinbases of Bitcoin blocks 91722 and 91812, re-created identically in 91880 and 91842 and
  inherited by Bitcoin Cash and other forks) are handled the way consensus handled them: the
  later transaction overwrote the earlier one, whose outputs never became spendable. The
  earlier occurrence is therefore left out of the frames (its txid is reported in
  :attr:`BlockFrames.skipped_duplicates`) and the later one is mapped normally, so the
  ``(chain, txid)`` key stays unique and the result does not depend on ingestion order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

import polars as pl

from adapters.bitcoin.bitcoinlib_setup import bitcoinlib_modules
from adapters.errors import MalformedResponseError, SchemaDriftError
from tracer.chains import Chain
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, conform
from tracer.units import to_base_units

__all__ = [
    "BlockFrames",
    "SCRIPT_TYPES",
    "BIP30_OVERWRITTEN",
    "map_block",
    "unresolved_outpoints",
    "block_outputs",
    "map_blocks",
]

Outpoint = tuple[str, int]
#: ``(prev_txid, prev_index) -> (address or None, value in base units)``
Prevouts = Mapping[Outpoint, tuple[str | None, int]]

#: Bitcoin Core ``scriptPubKey.type`` -> canonical ``script_type``.
SCRIPT_TYPES: dict[str, str] = {
    "pubkeyhash": "p2pkh",
    "scripthash": "p2sh",
    "witness_v0_keyhash": "p2wpkh",
    "witness_v0_scripthash": "p2wsh",
    "witness_v1_taproot": "p2tr",
    "anchor": "p2a",  # Core >= 28 pay-to-anchor
    "nulldata": "nulldata",
    "multisig": "multisig",
    "pubkey": "p2pk",
    "nonstandard": "nonstandard",
    "witness_unknown": "witness_unknown",
}
_NO_ADDRESS = frozenset({"nulldata", "nonstandard", "multisig"})
#: script types whose single ``address`` field is taken as given (fast path of the output mapping)
_SIMPLE_TYPES = frozenset({"pubkeyhash", "scripthash", "witness_v0_keyhash", "witness_v0_scripthash",
                           "witness_v1_taproot"})

#: ``(txid, height)`` of the coinbases overwritten under BIP30 (Bitcoin Core ``validation.cpp``).
BIP30_OVERWRITTEN: frozenset[tuple[str, int]] = frozenset(
    {
        ("e3bf3d07d4b0375638d5f1db5255fe07ba2c4cb067cd81b84ee974b6585fb468", 91722),  # again in 91880
        ("d5d27987d2a3dfc724e359870c6644b40e497bdc0589a033220fe15429d88599", 91812),  # again in 91842
    }
)

_BLOCK_KEYS = frozenset(
    {"hash", "confirmations", "strippedsize", "size", "weight", "height", "version", "versionHex",
     "merkleroot", "tx", "time", "mediantime", "nonce", "bits", "difficulty", "chainwork", "nTx",
     "previousblockhash", "nextblockhash", "target"}
)
_BLOCK_IGNORED = frozenset({"mweb", "auxpow"})  # Litecoin MWEB extension block; Dogecoin merged mining
_TX_KEYS = frozenset({"txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout", "hex", "fee"})
_TX_IGNORED = frozenset(
    {"blockhash", "confirmations", "time", "blocktime", "in_active_chain",  # getrawtransaction extras
     "mweb", "vkern", "hogex"}  # Litecoin MWEB transaction data (not transparent value)
)
_VIN_KEYS = frozenset({"txid", "vout", "scriptSig", "txinwitness", "sequence", "coinbase", "prevout"})
_VOUT_KEYS = frozenset({"value", "n", "scriptPubKey"})
_PART_IGNORED = frozenset({"ismweb"})  # Litecoin MWEB marker on inputs/outputs
_VIN_ACCEPTED = _VIN_KEYS | _PART_IGNORED
_VOUT_ACCEPTED = _VOUT_KEYS | _PART_IGNORED


@dataclass(frozen=True)
class BlockFrames:
    """The canonical frames of one block, and what is still missing from them."""

    transactions: pl.DataFrame
    inputs: pl.DataFrame
    outputs: pl.DataFrame
    #: outpoints whose address and value are not known yet (first-seen order, no repeats)
    unresolved: tuple[Outpoint, ...] = ()
    #: txids left out because a later block overwrote them (BIP30; see the module docstring)
    skipped_duplicates: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Every input value and every fee is known: the frames are canonical and loadable."""
        return not self.unresolved and self.transactions["fee"].null_count() == 0


def map_block(
    block: Mapping[str, Any],
    chain: Chain,
    *,
    source: str,
    prevouts: Prevouts | None = None,
    outputs: Mapping[Outpoint, tuple[str | None, str, int]] | None = None,
    check: bool = True,
) -> BlockFrames:
    """Map one ``getblock <hash> 2`` (or 3) response to canonical frames.

    ``check=False`` skips the per-block frame validation, for a caller that validates the
    concatenated frames of many blocks once (the frames have the canonical columns and types
    either way).

    Raises
    ------
    SchemaDriftError
        The block, a transaction, an input or an output has a key this mapper does not know, or
        an output has an unknown script type.
    MalformedResponseError
        Not a verbosity-2 block (transactions given as bare txids), a txid twice in the block, or
        a node-reported fee that contradicts the one computed from the values.
    TypeError
        An amount is a ``float`` (parse the JSON with ``parse_float=Decimal``).
    """
    return map_blocks([block], chain, source=source, prevouts=prevouts,
                      outputs=None if outputs is None else [outputs], check=check)


def map_blocks(
    blocks: Sequence[Mapping[str, Any]],
    chain: Chain,
    *,
    source: str,
    prevouts: Prevouts | None = None,
    outputs: Sequence[Mapping[Outpoint, tuple[str | None, str, int]]] | None = None,
    check: bool = True,
) -> BlockFrames:
    """:func:`map_block` for several blocks at once, into one set of frames (one frame build
    instead of one per block). ``outputs``, when given, holds each block's :func:`block_outputs`
    (which already checked the block's transaction list, so it is not checked again)."""
    known = prevouts if prevouts is not None else {}
    # columns as plain lists (chain and source are constant: added once, below)
    t_txid: list[str] = []
    t_height: list[int] = []
    t_hash: list[str] = []
    t_position: list[int] = []
    t_time: list[int] = []
    t_fee: list[Decimal | None] = []
    t_coinbase: list[bool] = []
    i_txid: list[str] = []
    i_index: list[int] = []
    i_prev_txid: list[str | None] = []
    i_prev_index: list[int | None] = []
    i_address: list[str | None] = []
    i_value: list[int | None] = []
    o_txid: list[str] = []
    o_index: list[int] = []
    o_address: list[str | None] = []
    o_script: list[str] = []
    o_value: list[int] = []
    unresolved: dict[Outpoint, None] = {}
    skipped: list[str] = []

    for number, block in enumerate(blocks):
        _check_keys("block", block, _BLOCK_KEYS, _BLOCK_IGNORED)
        height = int(block["height"])
        block_hash = str(block["hash"])
        timestamp = int(block["time"])
        if outputs is not None:
            txs, in_block = block["tx"], outputs[number]
        else:
            txs = _transactions(block)
            in_block = _block_outputs(txs, chain)
        for position, tx in enumerate(txs):
            txid = str(tx["txid"])
            if (txid, height) in BIP30_OVERWRITTEN:
                skipped.append(txid)
                continue
            vins = tx["vin"]
            is_coinbase = any("coinbase" in vin for vin in vins)
            total_in: int | None = 0
            for index, vin in enumerate(vins):
                if type(vin) is not dict or not vin.keys() <= _VIN_ACCEPTED:  # the common case: a plain input
                    _check_keys(f"input {index} of transaction {txid}", vin, _VIN_KEYS, _PART_IGNORED)
                prev_txid: str | None = None
                prev_index: int | None = None
                address: str | None = None
                value: int | None = None
                if "coinbase" not in vin:
                    prev_txid, prev_index = str(vin["txid"]), int(vin["vout"])
                    outpoint = (prev_txid, prev_index)
                    spent = in_block.get(outpoint)
                    given = None if spent is not None or "prevout" in vin else known.get(outpoint)
                    if spent is not None:  # fast paths of _prevout: an output of this block ...
                        address, value = spent[0], spent[2]
                    elif given is not None and type(given[1]) is int:  # ... or a resolved prevout
                        address, value = given
                    else:
                        found = _prevout(vin, outpoint, in_block, known, chain, txid)
                        if found is None:
                            unresolved[outpoint] = None
                        else:
                            address, value = found
                if value is None and not is_coinbase:
                    total_in = None
                elif total_in is not None and value is not None:
                    total_in += value
                i_txid.append(txid)
                i_index.append(index)
                i_prev_txid.append(prev_txid)
                i_prev_index.append(prev_index)
                i_address.append(address)
                i_value.append(value)
            total_out = 0
            for index, vout in enumerate(tx["vout"]):
                n = int(vout.get("n", index))
                out_address, script_type, out_value = in_block[(txid, n)]
                total_out += out_value
                o_txid.append(txid)
                o_index.append(n)
                o_address.append(out_address)
                o_script.append(script_type)
                o_value.append(out_value)
            t_txid.append(txid)
            t_height.append(height)
            t_hash.append(block_hash)
            t_position.append(position)
            t_time.append(timestamp)
            t_fee.append(_fee(tx, txid, is_coinbase, total_in, total_out))
            t_coinbase.append(is_coinbase)

    constants = (pl.lit(chain.key).alias("chain"), pl.lit(source).alias("source"))
    tx_rows: dict[str, Any] = {
        "txid": t_txid, "block_height": t_height, "block_hash": t_hash, "position": t_position,
        "timestamp": t_time, "fee": t_fee, "is_coinbase": t_coinbase,
    }
    tx_frame = pl.DataFrame(
        tx_rows, schema={c: t for c, t in TRANSACTIONS.columns.items() if c in tx_rows}
    ).with_columns(*constants).select(list(TRANSACTIONS.columns))
    in_rows = {"txid": i_txid, "index": i_index, "prev_txid": i_prev_txid, "prev_index": i_prev_index,
               "address": i_address, "value": i_value}
    in_frame = pl.DataFrame(
        in_rows, schema={c: t for c, t in INPUTS.columns.items() if c in in_rows}
    ).with_columns(*constants).select(list(INPUTS.columns))
    out_rows = {"txid": o_txid, "index": o_index, "address": o_address, "script_type": o_script, "value": o_value}
    out_frame = pl.DataFrame(
        out_rows, schema={c: t for c, t in OUTPUTS.columns.items() if c in out_rows}
    ).with_columns(*constants).select(list(OUTPUTS.columns))

    transactions = tx_frame
    if check and transactions["fee"].null_count() == 0:
        transactions = conform(transactions, TRANSACTIONS)
    return BlockFrames(
        transactions=transactions,
        inputs=conform(in_frame, INPUTS) if check else in_frame,
        outputs=conform(out_frame, OUTPUTS) if check else out_frame,
        unresolved=tuple(unresolved),
        skipped_duplicates=tuple(skipped),
    )


def unresolved_outpoints(block: Mapping[str, Any], prevouts: Iterable[Outpoint] | None = None) -> list[Outpoint]:
    """Outpoints ``(prev_txid, prev_index)`` of this block's inputs whose value must still be fetched.

    An input is resolved when it spends an output of the same block, carries a verbosity-3
    ``prevout``, or its outpoint is in ``prevouts`` (a mapping or any collection of outpoints).
    Coinbase inputs and the transactions left out under BIP30 spend nothing. First-seen order,
    no repeats.
    """
    txs = _transactions(block)
    height = int(block["height"])
    given = set(prevouts or ())
    in_block = {(str(tx["txid"]), int(vout.get("n", i))) for tx in txs for i, vout in enumerate(tx["vout"])}
    wanted: dict[Outpoint, None] = {}
    for tx in txs:
        if (str(tx["txid"]), height) in BIP30_OVERWRITTEN:
            continue
        for vin in tx["vin"]:
            if "coinbase" in vin or "prevout" in vin:
                continue
            outpoint = (str(vin["txid"]), int(vin["vout"]))
            if outpoint not in in_block and outpoint not in given:
                wanted[outpoint] = None
    return list(wanted)


def block_outputs(block: Mapping[str, Any], chain: Chain) -> dict[Outpoint, tuple[str | None, str, int]]:
    """Every output of a verbosity-2 block (or of ``{"tx": [getrawtransaction verbose]}``):
    ``(txid, n) -> (address, script_type, value)``, with the same address rules as :func:`map_block`."""
    return _block_outputs(_transactions(block), chain)


# --- helpers -------------------------------------------------------------------------------------


def _transactions(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    txs = block.get("tx")
    if not isinstance(txs, list):
        raise MalformedResponseError(f"block {block.get('hash')} has no transaction list")
    if any(not _is_object(tx) for tx in txs):
        raise MalformedResponseError(
            f"block {block.get('hash')} lists bare txids: call getblock with verbosity 2, not 1"
        )
    seen: set[str] = set()
    for tx in txs:
        _check_keys(f"transaction {tx.get('txid')}", tx, _TX_KEYS, _TX_IGNORED)
        txid = str(tx["txid"])
        if txid in seen:
            raise MalformedResponseError(f"block {block.get('hash')} contains transaction {txid} twice")
        seen.add(txid)
    return txs


def _is_object(value: Any) -> bool:
    """A JSON object (decoded JSON gives ``dict``; the ABC check is the slow fallback)."""
    return type(value) is dict or isinstance(value, Mapping)


def _check_keys(what: str, obj: Mapping[str, Any], known: frozenset[str], ignored: frozenset[str]) -> None:
    if not _is_object(obj):
        raise MalformedResponseError(f"{what} is a {type(obj).__name__}, expected a JSON object")
    if obj.keys() <= known:  # the common case, without building a set
        return
    extra = obj.keys() - known
    if extra <= ignored:
        return
    unknown = sorted(extra - ignored)
    raise SchemaDriftError(f"{what} has unknown key(s) {', '.join(unknown)}: review the node upgrade")


_COIN = Decimal(100_000_000)
_FAST_LIMIT = Decimal(10**12)
#: its own context, so the product below is exact whatever the calling thread's context is
_EXACT = Context(prec=40)


def _base_units(amount: Decimal) -> int:
    """:func:`tracer.units.to_base_units` (8 decimals) of a node amount, exactly: the fast path
    only takes amounts with at most 8 decimal places below 10**12 coins (at most 20 digits once
    scaled, exact in a 40-digit context); anything else (too many decimals, negative, huge, not
    finite) goes through ``to_base_units``, which converts or refuses it."""
    exponent = amount.as_tuple().exponent
    if type(exponent) is int and exponent >= -8 and 0 <= amount < _FAST_LIMIT:
        return int(_EXACT.multiply(amount, _COIN))
    return to_base_units(amount, 8)


def _amount(value: Any, what: str) -> int:
    if isinstance(value, float):
        raise TypeError(f"{what} is a float ({value!r}): parse node JSON with json.loads(..., parse_float=Decimal)")
    if not isinstance(value, (Decimal, str, int)) or isinstance(value, bool):
        raise MalformedResponseError(f"{what} is not an amount: {value!r}")
    return to_base_units(value, 8)


def _block_outputs(txs: list[Mapping[str, Any]], chain: Chain) -> dict[Outpoint, tuple[str | None, str, int]]:
    """Every output of the block: ``(txid, n) -> (address, script_type, value)``."""
    outputs: dict[Outpoint, tuple[str | None, str, int]] = {}
    for tx in txs:
        txid = str(tx["txid"])
        for index, vout in enumerate(tx["vout"]):
            if type(vout) is not dict or not vout.keys() <= _VOUT_ACCEPTED:  # the common case: a plain output
                _check_keys(f"output {index} of transaction {txid}", vout, _VOUT_KEYS, _PART_IGNORED)
            spk = vout["scriptPubKey"]
            node_type = spk.get("type")
            given = spk.get("address")  # Core >= 22; a one-element "addresses" list before
            if given is None and node_type in _SIMPLE_TYPES:
                listed = spk.get("addresses")
                given = listed[0] if type(listed) is list and len(listed) == 1 else None
            address: str | None
            if node_type in _SIMPLE_TYPES and given is not None:  # the common case, without the general path
                address, script_type = str(given), SCRIPT_TYPES[node_type]
            else:
                address, script_type = _script(spk, chain, f"output {index} of transaction {txid}")
            raw = vout["value"]
            if type(raw) is Decimal:
                value = _base_units(raw)
            else:
                value = _amount(raw, f"value of output {index} of transaction {txid}")
            outputs[(txid, int(vout.get("n", index)))] = (address, script_type, value)
    return outputs


def _script(spk: Mapping[str, Any], chain: Chain, what: str) -> tuple[str | None, str]:
    """``(address or None, script_type)`` of a ``scriptPubKey`` object."""
    node_type = spk.get("type")
    script_type = SCRIPT_TYPES.get(str(node_type))
    if script_type is None:
        raise SchemaDriftError(f"{what} has unknown script type {node_type!r}")
    if node_type in _NO_ADDRESS:
        return None, script_type
    address = spk.get("address")
    if address is None:
        addresses = spk.get("addresses")
        if isinstance(addresses, list) and len(addresses) == 1:
            address = addresses[0]
    if address is None and node_type == "pubkey":
        address = _p2pk_address(str(spk.get("asm", "")), chain)
    return (str(address) if address is not None else None), script_type


def _p2pk_address(asm: str, chain: Chain) -> str | None:
    """The P2PKH address of the key in a ``<pubkey> OP_CHECKSIG`` script, or ``None``."""
    parts = asm.split()
    if len(parts) != 2 or parts[1] != "OP_CHECKSIG" or not chain.p2pkh_versions:
        return None
    try:
        pubkey = bytes.fromhex(parts[0])
    except ValueError:
        return None
    if not ((len(pubkey) == 33 and pubkey[0] in (2, 3)) or (len(pubkey) == 65 and pubkey[0] == 4)):
        return None
    encoding = bitcoinlib_modules()[0]
    prefix = bytes([chain.p2pkh_versions[0]])
    return str(encoding.pubkeyhash_to_addr_base58(encoding.hash160(pubkey), prefix=prefix))


def _prevout(
    vin: Mapping[str, Any],
    outpoint: Outpoint,
    in_block: Mapping[Outpoint, tuple[str | None, str, int]],
    known: Prevouts,
    chain: Chain,
    txid: str,
) -> tuple[str | None, int] | None:
    if outpoint in in_block:
        address, _, value = in_block[outpoint]
        return address, value
    prevout = vin.get("prevout")
    if prevout is not None and _is_object(prevout):
        what = f"prevout {outpoint[0]}:{outpoint[1]} of transaction {txid}"
        address, _ = _script(prevout["scriptPubKey"], chain, what)
        return address, _amount(prevout["value"], f"value of {what}")
    if outpoint in known:
        address, value = known[outpoint]
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"prevouts[{outpoint}] value must be int base units, got {type(value).__name__}")
        return address, value
    return None


def _fee(tx: Mapping[str, Any], txid: str, is_coinbase: bool, total_in: int | None, total_out: int) -> Decimal | None:
    if is_coinbase:
        return Decimal(0)
    reported = _amount(tx["fee"], f"fee of transaction {txid}") if "fee" in tx else None
    if total_in is None:
        return None if reported is None else Decimal(reported)
    computed = total_in - total_out
    if computed < 0:
        raise MalformedResponseError(f"transaction {txid} spends {total_in} but creates {total_out}")
    if reported is not None and reported != computed:
        raise MalformedResponseError(f"transaction {txid}: node reports fee {reported}, values give {computed}")
    return Decimal(computed)
