# SPDX-License-Identifier: Apache-2.0
"""``tracer ingest frames``: load canonical frames from Parquet files into a case's store.

For chain data that arrives as files rather than from a node: the project's own fixture chains, a
partner agency's export, a colleague's case. The directory holds ``<frame>.parquet`` files
(``transactions``, ``inputs``, ``outputs``, ``transfers``, ``tags``, ``clusters``, and where a chain
has them ``conversions`` and ``bridge_events``), directly or in one sub-directory per chain, and a
``SHA256SUMS`` file (``sha256sum`` format, relative paths) that is checked before anything is read:
a file that does not match its sum is refused and nothing is loaded; a listed path must stay inside
the directory (no ``../x``, no absolute path, no link out of it). Every frame is checked against its
canonical schema (``tracer/schema.py``) the same way, and its values against what chain data can be
(:func:`check_frame_values`): whole numbers of ASCII digits, nothing negative, block times up to
9999, amounts below 2**256. :func:`check_frame_chains` then checks what needs the chain registry:
every chain is known, every address column holds valid addresses of its row's chain in their normal
form (``Robert'); DROP TABLE--`` is not an ``ltc-regtest`` address), every transaction hash has its
chain family's form.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from adapters.addresses import parse_address
from tracer.chains import Chain, ChainRegistry
from tracer.errors import InputError, InvalidAddressError, NotFoundError, SchemaError, UnknownChainError
from tracer.schema import FRAMES, NATIVE_ASSET, FrameSchema, FrameSet, conform
from tracer.units import MAX_UINT256

__all__ = ["read_frame_dir", "read_token_files", "FRAME_FILES", "check_frame_values", "check_frame_chains"]

#: the frames a directory may hold (seeds belong to cases, not to chain data); conversions and bridge
#: events are optional like every frame
FRAME_FILES = ("transactions", "inputs", "outputs", "transfers", "tags", "clusters", "conversions", "bridge_events")
#: a SHA256SUMS file lists a few files; one larger than this is not one
_MAX_SUMS_BYTES = 1_048_576


def _checksums(directory: Path) -> dict[str, str]:
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        raise InputError(f"{directory} has no SHA256SUMS file: the files' integrity cannot be checked "
                         "(pass --no-checksums to load them anyway)")
    if not sums.resolve().is_relative_to(directory.resolve()) or sums.stat().st_size > _MAX_SUMS_BYTES:
        raise InputError(f"{sums} leads outside the frame directory or is larger than {_MAX_SUMS_BYTES:,} bytes")
    try:
        text = sums.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{sums} is not UTF-8 text (byte {exc.start + 1})") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise InputError(f"{sums}, line {number}: expected '<sha256>  <relative path>'")
        listed = name.strip().removeprefix("*")
        _inside(directory, listed, f"{sums}, line {number}")
        out[listed] = digest.lower()
    return out


def _inside(directory: Path, listed: str, where: str) -> Path:
    """The file a SHA256SUMS entry names, which must be a relative path inside ``directory``: no
    absolute path, no ``..``, no backslash, and no link that leads out of the directory."""
    parts = PurePosixPath(listed).parts
    if not parts or listed.startswith(("/", "~")) or "\\" in listed or ".." in parts or ":" in parts[0]:
        raise InputError(f"{where}: {listed!r} is not a relative path inside the frame directory")
    path = directory / listed
    if not path.resolve().is_relative_to(directory.resolve()):
        raise InputError(f"{where}: {listed!r} leads outside the frame directory")
    return path


def read_frame_dir(directory: Path, *, verify: bool = True) -> tuple[FrameSet, dict[str, Any]]:
    """All frames under ``directory`` as one checked :class:`FrameSet`, and what was read (file -> sha256)."""
    if not directory.is_dir():
        raise NotFoundError(f"{directory} is not a directory")
    files = sorted(p for p in directory.rglob("*.parquet") if p.stem in FRAME_FILES)
    if not files:
        raise InputError(f"{directory} holds no frame files ({', '.join(f + '.parquet' for f in FRAME_FILES)})")
    sums = _checksums(directory) if verify else {}
    read: dict[str, str] = {}
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in FRAME_FILES}
    for path in files:
        relative = path.relative_to(directory).as_posix()
        if not path.resolve().is_relative_to(directory.resolve()) or not path.resolve().is_file():
            raise InputError(f"{relative} leads outside the frame directory or is not a file")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if verify:
            if relative not in sums:
                raise InputError(f"{relative} is not listed in {directory / 'SHA256SUMS'}")
            if sums[relative] != digest:
                raise InputError(f"{relative} does not match its SHA-256 in SHA256SUMS: the file was changed")
        read[relative] = digest
        try:
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"{relative} is not a readable Parquet file: {exc}") from None
        parts[path.stem].append(_conform(frame, FRAMES[path.stem], relative))
    for listed in sorted(set(sums) - set(read)):  # e.g. tokens.json: listed files must match too
        path = _inside(directory, listed, "SHA256SUMS")
        if not path.is_file():
            raise InputError(f"{listed} is listed in SHA256SUMS but missing")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sums[listed]:
            raise InputError(f"{listed} does not match its SHA-256 in SHA256SUMS: the file was changed")
        read[listed] = digest
    frames = FrameSet(**{name: pl.concat(p, how="vertical") if p else FrameSet().frames()[name]
                         for name, p in parts.items()})
    return check_frame_values(frames.validate()), read


#: the largest block time a frame may hold (9999-12-31 23:59:59 UTC), as ``ingest csv`` accepts
_MAX_TIME = 253_402_300_799
_WHOLE_TEXT = r"^[0-9]+$"


def _conform(frame: pl.DataFrame, schema: FrameSchema, relative: str) -> pl.DataFrame:
    """:func:`tracer.schema.conform`, with a one-line message naming the file, the column and the
    first value that does not fit. Numbers stored as text must be whole numbers of ASCII digits
    (``"1E+3"`` or ``"²"`` are refused, not converted); a float column never holds a whole number."""
    for column, dtype in schema.columns.items():
        if column not in frame.columns or frame.schema[column] == dtype or not dtype.is_numeric():
            continue
        given = frame.schema[column]
        if given.is_float():
            raise SchemaError(f"{relative}: {schema.name}.{column} is a float column; it must hold whole numbers")
        if given == pl.String:
            bad = frame.filter(pl.col(column).is_not_null() & ~pl.col(column).str.contains(_WHOLE_TEXT))
            if bad.height:
                raise SchemaError(f"{relative}: {schema.name}.{column} holds {_shown(bad[column][0])}, not a whole "
                                  "number of ASCII digits")
        cast = frame.select(pl.col(column).cast(dtype, strict=False).alias("cast"), pl.col(column).alias("given"))
        lost = cast.filter(pl.col("given").is_not_null() & pl.col("cast").is_null())
        if lost.height:
            raise SchemaError(f"{relative}: {schema.name}.{column} holds {_shown(lost['given'][0])}, which does not "
                              f"fit its type {dtype}")
    try:
        return conform(frame, schema)
    except SchemaError as exc:
        raise SchemaError(f"{relative}: {str(exc).strip().splitlines()[0]}") from None


def _shown(value: Any) -> str:
    text = repr(value if isinstance(value, str) else str(value))
    return text if len(text) <= 90 else text[:40] + "…" + text[-40:]


def check_frame_values(frames: FrameSet) -> FrameSet:
    """Refuse values that fit their column's type but not chain data: a negative number (heights,
    positions, indexes, times, amounts), a block time after 9999-12-31, a confidence above 100, an
    overflow amount with a leading zero or of 2**256 base units or more. Returns ``frames``.

    Raises
    ------
    SchemaError
        Naming the frame, the column and the first bad value.
    """
    for name, frame in frames.frames().items():
        if frame.height == 0:
            continue
        for column, dtype in FRAMES[name].columns.items():
            if not dtype.is_numeric():
                continue
            low = frame.filter(pl.col(column) < 0)
            if low.height:
                raise SchemaError(f"{name}.{column} holds {low[column][0]}; chain data has no negative numbers")
        if "timestamp" in frame.columns:
            late = frame.filter(pl.col("timestamp") > _MAX_TIME)
            if late.height:
                raise SchemaError(f"{name}.timestamp holds {late['timestamp'][0]}, after 9999-12-31 "
                                  f"(UNIX seconds up to {_MAX_TIME})")
        if name == "tags":
            high = frame.filter(pl.col("confidence") > 100)
            if high.height:
                raise SchemaError(f"tags.confidence holds {high['confidence'][0]}; confidence is 0 to 100")
    overflow = frames.transfers["value_overflow"].drop_nulls()
    digits = len(str(MAX_UINT256))
    bad = overflow.filter(overflow.str.starts_with("0")
                          | ((overflow.str.len_bytes() == digits) & (overflow > str(MAX_UINT256))))
    if bad.len():
        raise SchemaError(f"transfers.value_overflow holds {_shown(bad[0])}: not an amount below 2**256 without "
                          "leading zeros")
    return frames


#: every column of a frame that holds an address, and the frames' transaction hash columns
_ADDRESS_COLUMNS = {"inputs": ("address",), "outputs": ("address",), "transfers": ("from_address", "to_address"),
                    "tags": ("address",), "clusters": ("address",), "seeds": ("address",),
                    "conversions": ("trader", "recipient", "venue"), "bridge_events": ("contract",)}
_TXID_COLUMNS = {"transactions": ("txid",), "inputs": ("txid", "prev_txid"), "outputs": ("txid",),
                 "transfers": ("txid",), "conversions": ("txid",), "bridge_events": ("txid",)}
#: frames whose address errors also name the row (``chain:txid:log_index``): events are few and their
#: columns many, so "which event" is what a partner needs to find the bad value
_NAMED_ROWS = ("conversions", "bridge_events")
_EVM_FORM = r"^0x[0-9a-fA-F]{40}$"
_TXID_FORM = {"utxo": (r"^[0-9a-f]{64}$", "64 lower-case hex digits"),
              "account": (r"^0x[0-9a-f]{64}$", "0x and 64 lower-case hex digits")}


def check_frame_chains(frames: FrameSet, registry: ChainRegistry) -> None:
    """Every row's chain is known, every address is valid on its row's chain and in its normal form
    (checked once per distinct address and chain, with :func:`adapters.addresses.parse_address`),
    and every transaction hash has its chain family's form.

    Raises
    ------
    UnknownChainError, InvalidAddressError, SchemaError
        Naming the frame, column and the first bad value.
    """
    located: list[pl.DataFrame] = []
    for name, frame in frames.frames().items():
        for chain in frame["chain"].unique().sort().to_list():
            if chain not in registry.keys():
                raise UnknownChainError(chain, registry.keys())
        for column in _ADDRESS_COLUMNS.get(name, ()):
            located.append(_located(frame, name, column))
        if name == "transfers":
            located.append(frame.filter(pl.col("asset") != NATIVE_ASSET)
                           .select("chain", pl.col("asset").alias("address"))
                           .with_columns(pl.lit("transfers.asset").alias("where")))
        if name == "conversions":
            located += [_located(frame.filter(pl.col(c) != NATIVE_ASSET), name, c) for c in ("asset_in", "asset_out")]
        if name == "bridge_events":
            located += _local_bridge_addresses(frame)
            _check_foreign_addresses(frame, registry)
        for column in _TXID_COLUMNS.get(name, ()):
            for chain, group in frame.filter(pl.col(column).is_not_null()).group_by("chain"):
                pattern, form = _TXID_FORM["account" if registry.get(str(chain[0])).is_account else "utxo"]
                bad = group.filter(~pl.col(column).str.contains(pattern))
                if bad.height:
                    raise SchemaError(f"{name}.{column} holds {_shown(bad[column][0])}, not a transaction hash "
                                      f"of {chain[0]} ({form})")
    if not located:
        return
    distinct = pl.concat(located, how="vertical").drop_nulls("address").unique(["chain", "address"], keep="first")
    for (chain_key,), group in distinct.sort("chain", "address").group_by("chain", maintain_order=True):
        chain = registry.get(str(chain_key))
        if chain.is_account:  # the EIP-55 forms confirmed in bulk; the validator judges the rest
            group = group.filter(~_eip55_normal(group["address"]))
        for address, where in group.select("address", "where").iter_rows():
            _check_normal(registry, chain, address, where)


def _located(frame: pl.DataFrame, name: str, column: str) -> pl.DataFrame:
    """``chain``, ``address`` (the values of ``column``) and ``where`` (the column, and for events the row)."""
    where = pl.lit(f"{name}.{column}")
    if name in _NAMED_ROWS:
        where = pl.concat_str([where, pl.lit(", row "), pl.col("chain"), pl.lit(":"), pl.col("txid"), pl.lit(":"),
                               pl.col("log_index").cast(pl.String)])
    return frame.select("chain", pl.col(column).alias("address"), where.alias("where"))


def _local_bridge_addresses(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """The address columns of bridge events that hold addresses of the row's own chain: a deposit's
    depositor and the token it hands over, a release's recipient and the token it pays out."""
    deposits, releases = frame.filter(pl.col("role") == "deposit"), frame.filter(pl.col("role") == "release")
    return [_located(deposits, "bridge_events", "depositor"),
            _located(deposits.filter(pl.col("asset_in") != NATIVE_ASSET), "bridge_events", "asset_in"),
            _located(releases, "bridge_events", "recipient"),
            _located(releases.filter(pl.col("asset_out").is_not_null() & (pl.col("asset_out") != NATIVE_ASSET)),
                     "bridge_events", "asset_out")]


def _check_foreign_addresses(frame: pl.DataFrame, registry: ChainRegistry) -> None:
    """The other side of a bridge event: a deposit's recipient and the token it is paid in live on the
    destination chain, a release's depositor and the token deposited on the origin chain.

    They are not addresses of the row's chain, so they cannot be refused for failing its rules: the
    other chain may not be an EVM chain at all (bridges state a non-EVM recipient as 32 bytes), and
    may be unknown to this tracer. So such a value is checked only when it has the form of an EVM
    address (0x and 40 hex digits; the chain ids are EIP-155 ids) -- against the other chain when the
    registry knows its id, else against the row's own chain if that is an EVM chain (the form is the
    same) -- and must then be valid and in its normal form (EIP-55), because a deposit is matched
    with its release by comparing these addresses as text. Any other value is kept as the text the
    event states; nothing is made an Address node of it.

    Raises
    ------
    InvalidAddressError
        An EVM-shaped value with a bad checksum or not in its normal form, naming column and row.
    """
    deposit = pl.col("role") == "deposit"
    sides = [(frame.filter(deposit), "destination_chain_id", ("recipient", "asset_out")),
             (frame.filter(~deposit), "origin_chain_id", ("depositor", "asset_in"))]
    for rows, chain_id, columns in sides:
        for column in columns:
            shaped = rows.filter(pl.col(column).str.contains(_EVM_FORM).fill_null(False))
            for row in shaped.unique(["chain", chain_id, column], keep="first").iter_rows(named=True):
                other: Chain | None = registry.by_evm_chain_id(int(row[chain_id]))
                own = registry.get(str(row["chain"]))
                chain = other if other is not None else own if own.evm_chain_id is not None else None
                if chain is None:
                    continue
                where = f"bridge_events.{column}, row {row['chain']}:{row['txid']}:{row['log_index']}"
                _check_normal(registry, chain, str(row[column]), where)


def read_token_files(directory: Path) -> dict[str, dict[str, Any]]:
    """Token metadata shipped with the frames: ``<chain>/tokens.json`` in the format of the EVM
    ingest's token cache (``{"chain": ..., "tokens": {contract: {"symbol", "name", "decimals"}}}``)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*/tokens.json")):
        if not path.resolve().is_relative_to(directory.resolve()) or not path.resolve().is_file():
            raise InputError(f"{path.relative_to(directory)} leads outside the frame directory or is not a file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            tokens = data["tokens"]
            if not isinstance(tokens, dict) or data.get("chain") != path.parent.name:
                raise ValueError("unexpected layout")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path.relative_to(directory)}: not a token metadata file ({exc})") from None
        out[path.parent.name] = tokens
    return out


def read_coverage_files(directory: Path, frames: FrameSet, utxo_chains: set[str],
                        verified: Collection[str]) -> dict[str, list[tuple[int, int]]]:
    """The block heights an export says it holds completely: ``<chain>/coverage.json``
    (``{"chain": ..., "complete_blocks": [[lo, hi], ...]}``, written from a block-range ingest's
    checkpoint). Only a checked claim is taken: the caller reads these files only when SHA256SUMS
    was verified, and on a UTXO chain every claimed block must have its coinbase in the frames."""
    out: dict[str, list[tuple[int, int]]] = {}
    for path in sorted(directory.glob("*/coverage.json")):
        chain = path.parent.name
        relative = path.relative_to(directory).as_posix()
        if relative not in verified:
            raise InputError(f"{relative} is not listed in {directory / 'SHA256SUMS'}: a claim of complete blocks "
                             "must be checked like the frames")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            intervals = [(int(lo), int(hi)) for lo, hi in data["complete_blocks"]]
            if data.get("chain") != chain or any(lo < 0 or hi < lo for lo, hi in intervals):
                raise ValueError("unexpected layout")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{relative}: not a block coverage file ({exc})") from None
        if chain in utxo_chains:
            mined = set(frames.transactions.filter((pl.col("chain") == chain) & pl.col("is_coinbase"))
                        ["block_height"].to_list())
            lacking = [h for lo, hi in intervals for h in range(lo, hi + 1) if h not in mined]
            if lacking:
                raise InputError(f"{relative} claims block {lacking[0]} complete, but the frames lack its coinbase "
                                 "transaction")
        out[chain] = intervals
    return out


def _eip55_normal(addresses: pl.Series) -> pl.Series:
    """Which of ``addresses`` are exactly an EIP-55 checksummed address (``0x`` + 40 hex digits, each
    letter upper case iff the matching nibble of keccak-256 of the lower-case hex is 8 or more): the
    normal form :func:`adapters.addresses.parse_address` gives an Ethereum-family address. Vectorized
    but for one keccak per address (~8 µs; the validator takes ~50 µs per address, which made the
    address check of a 300,000-address export cost 15 s); a False is only "not confirmed here"."""
    from eth_hash.auto import keccak

    shaped = addresses.str.contains(r"^0x[0-9a-fA-F]{40}$").fill_null(False)
    body = addresses.str.slice(2).str.to_lowercase()
    digests = pl.Series([keccak(b.encode()).hex()[:40] if ok else "0" * 40
                         for b, ok in zip(body.to_list(), shaped.to_list(), strict=True)], dtype=pl.String)
    frame = pl.DataFrame({"body": body, "digest": digests})
    expected = frame.select(pl.concat_str(
        [pl.lit("0x"), *(pl.when(pl.col("digest").str.slice(i, 1).is_in(list("89abcdef")))
                         .then(pl.col("body").str.slice(i, 1).str.to_uppercase())
                         .otherwise(pl.col("body").str.slice(i, 1)) for i in range(40))]
    ).alias("expected"))["expected"]
    return shaped & (addresses == expected).fill_null(False)


def _check_normal(registry: ChainRegistry, chain: Chain, address: str, where: str) -> None:
    """``address`` is valid on ``chain`` and spelled in its normal form (else an error naming ``where``)."""
    try:
        normal = parse_address(chain, address, registry=registry).address
    except InvalidAddressError as exc:
        raise InvalidAddressError(address, chain.key, f"{exc.reason} (in {where})") from None
    if normal != address:
        raise InvalidAddressError(address, chain.key, f"not in its normal form {normal!r} (in {where})")
