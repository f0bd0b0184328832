# SPDX-License-Identifier: Apache-2.0
"""Read Bitcoin-family transactions from an Esplora REST server (Blockstream electrs, mempool.space).

API: https://github.com/Blockstream/esplora/blob/master/API.md ("Esplora HTTP API"). Endpoints used:
``GET /blocks/tip/height``, ``GET /address/:address/txs`` (newest first: up to 50 mempool
transactions, then the first 25 confirmed ones), ``GET /address/:address/txs/chain/:last_seen_txid``
(the next confirmed page), ``GET /tx/:txid`` and ``GET /block/:hash/txids``.

The output is the same canonical frames (``tracer/schema.py``) that
:func:`adapters.bitcoin.mappers.map_block` builds from a Bitcoin Core ``getblock``, row for row
and column for column except ``source``, so a trace does not depend on which of the two fed the
store:

* **Script types**: Esplora's ``scriptpubkey_type`` is translated to the mapper's short forms
  (:data:`ESPLORA_SCRIPT_TYPES`: ``v0_p2wpkh`` -> ``p2wpkh``, ``op_return`` -> ``nulldata``, ...).
  Where Esplora's classes are coarser than Core's, the script itself decides, as Core's
  ``Solver`` does: an ``op_return`` script is ``nulldata`` only if only pushes follow the
  ``OP_RETURN`` (else ``nonstandard``); an ``unknown`` script that is a witness program of
  version 1-16 is ``witness_unknown`` (Core's name; the pay-to-anchor program ``OP_1 4e73`` is
  ``p2a`` as in Core >= 28), otherwise ``nonstandard``. A type not in the table raises
  :class:`SchemaDriftError`.
* **Addresses**: ``scriptpubkey_address``, with Bech32 in lower case. No address for ``nulldata``,
  ``nonstandard`` and bare ``multisig`` (it belongs to several keys at once). **P2PK**: Esplora
  gives no address, so the P2PKH address of the key is derived with the mapper's own helper.
* **Inputs** take address and value from Esplora's ``prevout`` (required for every non-coinbase
  input). A coinbase has one input row whose ``prev_txid``, ``prev_index``, ``address`` and
  ``value`` are null, and fee ``0``.
* **Fee** is Esplora's ``fee``, checked against sum(inputs) - sum(outputs); a disagreement raises
  :class:`MalformedResponseError`.
* **Block fields**: ``block_height``, ``block_hash`` and ``timestamp`` (``block_time``, the header
  time Core reports as ``time``) come from ``status``; ``position`` (index in the block) from
  ``/block/:hash/txids``, fetched once per block hash and cached.
* **Unconfirmed transactions** are skipped, never half-loaded: :meth:`EsploraSource.address_txids`
  returns confirmed txids only and counts the mempool ones it saw in
  :attr:`EsploraSource.mempool_skipped`; :meth:`EsploraSource.transactions` leaves out a
  transaction that is (no longer) confirmed and lists it in
  :attr:`EsploraSource.unconfirmed_skipped`.
* **Amounts** must be JSON integers (satoshis). A fractional number (JSON parsed with
  ``parse_float=Decimal``, so nothing is rounded on the way in), a boolean or a negative value
  raises :class:`MalformedResponseError`.

Privacy: asking a public explorer about a suspect's address tells its operator what is being
investigated, by whom (IP address) and when. :class:`EsploraSource` therefore refuses any host that
is not clearly self-hosted (loopback, RFC 1918 / link-local / ``fc00::/7`` address, or a name
ending in ``.local``, ``.internal`` or ``localhost``) unless ``allow_third_party=True`` (the CLI's
``--allow-third-party``). The decision is made from the URL alone: no DNS look-up, no request.

Errors: connection refused, reset or timed out -> :class:`NodeUnavailableError`; HTTP 404 ->
:class:`tracer.errors.NotFoundError`; HTTP 400 (the server rejects an address or txid) ->
:class:`tracer.errors.InputError`; HTTP 401/403 -> :class:`NodeAuthError`; HTTP 429 and 5xx are
retried with exponential backoff (honouring a short ``Retry-After``) and then raise
:class:`NodeUnavailableError`; a body that is not JSON or not the documented shape ->
:class:`MalformedResponseError`. Messages name the redacted base URL and the Esplora path, never
credentials.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import re
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import polars as pl
import requests

from adapters.bitcoin.mappers import _p2pk_address
from adapters.errors import MalformedResponseError, NodeAuthError, NodeUnavailableError, SchemaDriftError
from adapters.jsonrpc import redact_url, split_credentials
from tracer.chains import Chain
from tracer.errors import InputError, NotFoundError
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, FrameSet, conform

__all__ = ["EsploraSource", "ThirdPartyRefusedError", "ESPLORA_SCRIPT_TYPES", "is_self_hosted"]

log = logging.getLogger(__name__)

#: Esplora ``scriptpubkey_type`` -> canonical ``script_type`` (the short forms of
#: ``adapters.bitcoin.mappers.SCRIPT_TYPES``). ``op_return`` and the catch-all types are refined
#: from the script itself (see the module docstring).
ESPLORA_SCRIPT_TYPES: dict[str, str] = {
    "p2pk": "p2pk",
    "p2pkh": "p2pkh",
    "p2sh": "p2sh",
    "v0_p2wpkh": "p2wpkh",
    "v0_p2wsh": "p2wsh",
    "v1_p2tr": "p2tr",
    "multisig": "multisig",
    "op_return": "nulldata",
    "unknown": "nonstandard",
    "empty": "nonstandard",  # electrs: zero-length script
    "provably_unspendable": "nonstandard",  # electrs: unspendable, but not an OP_RETURN
}
_NO_ADDRESS = frozenset({"nulldata", "nonstandard", "multisig"})
_REFINED = frozenset({"op_return", "unknown", "empty", "provably_unspendable"})
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_TXID = re.compile(r"^[0-9a-fA-F]{64}$")
_MAX_RETRY_AFTER = 30.0

_SELF_HOSTED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
              "::1/128", "fc00::/7", "fe80::/10")
)
_SELF_HOSTED_SUFFIXES = (".local", ".internal", ".localhost")


class ThirdPartyRefusedError(InputError):
    """An Esplora URL points at a third-party (public) explorer and ``allow_third_party`` is off."""


def is_self_hosted(host: str) -> bool:
    """Whether ``host`` (a URL's host name or IP literal) counts as self-hosted.

    Loopback, RFC 1918, link-local (IPv4 and IPv6) and unique-local ``fc00::/7`` addresses, and
    names that are ``localhost`` or end in ``.localhost``, ``.local`` or ``.internal``. Decided
    from the text alone; a name is never resolved.

    >>> [is_self_hosted(h) for h in ("127.0.0.1", "10.0.0.5", "electrs.local", "blockstream.info")]
    [True, True, True, False]
    """
    name = host.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        ip = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return name == "localhost" or name.endswith(_SELF_HOSTED_SUFFIXES)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _SELF_HOSTED_NETWORKS)


class EsploraSource:
    """Confirmed transactions of a UTXO chain from an Esplora server, as canonical frames.

    Parameters
    ----------
    base_url
        The API root, e.g. ``http://127.0.0.1:3002`` for a self-hosted electrs or
        ``https://blockstream.info/api``. ``user:password@`` in the URL becomes basic auth.
    chain
        The chain the server indexes (used for P2PK address derivation and Bech32 handling; the
        server cannot be asked which chain it serves, so this is the caller's statement).
    allow_third_party
        Permit a host that is not self-hosted (see :func:`is_self_hosted`). Off by default,
        because the operator of a public explorer sees every address and transaction looked up.
    timeout
        Seconds for connecting and for each response.
    retries
        How many times a transient failure (connection, timeout, HTTP 429/5xx) is retried.
    backoff
        First retry delay in seconds; doubled on each further retry (with jitter).

    Raises
    ------
    ThirdPartyRefusedError
        The host is a third party and ``allow_third_party`` is false.
    InputError
        The URL is not ``http(s)://host[:port][/path]``.
    """

    def __init__(
        self,
        base_url: str,
        chain: Chain,
        *,
        allow_third_party: bool = False,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.25,
    ) -> None:
        clean, auth = split_credentials(base_url.strip())
        host = urlsplit(clean).hostname or ""
        self.source = "esplora:" + redact_url(base_url.strip())
        self.url = redact_url(clean)  # what messages show
        if not is_self_hosted(host):
            if not allow_third_party:
                raise ThirdPartyRefusedError(
                    f"refusing to query {host!r} ({self.url}): it is not a self-hosted Esplora server. Asking a "
                    "public block explorer about a suspect's addresses and transactions discloses the investigation "
                    "to its operator (what is looked up, from which IP address, and when). Point the source at your "
                    "own Esplora/electrs instance, or pass --allow-third-party (allow_third_party=True) to accept "
                    "that disclosure."
                )
            log.warning("querying third-party explorer %s: its operator can see every lookup", self.url)
        if not isinstance(chain, Chain) or not chain.is_utxo:
            raise InputError(f"Esplora serves UTXO chains; {getattr(chain, 'key', chain)!r} is not one")
        self.chain = chain
        self._base = clean.rstrip("/")  # may hold an API key in its path: only used for requests
        self._auth = auth
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        #: unconfirmed transactions seen (and skipped) by the last :meth:`address_txids` call;
        #: Esplora lists at most 50 mempool transactions, so 50 means "at least 50"
        self.mempool_skipped = 0
        #: txids that the last :meth:`transactions` call left out because they are not confirmed
        self.unconfirmed_skipped: tuple[str, ...] = ()
        self._positions: dict[str, dict[str, int]] = {}
        self._session = requests.Session()
        self._third_party = allow_third_party
        if not allow_third_party:
            # the guard covers where requests actually go: no proxy from the environment, no .netrc
            self._session.trust_env = False

    def __repr__(self) -> str:
        return f"EsploraSource({self.url!r}, chain={self.chain.key!r})"

    def close(self) -> None:
        """Close the HTTP connections (idempotent)."""
        self._session.close()

    def __enter__(self) -> EsploraSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------------
    def tip_height(self) -> int:
        """Height of the server's best block (``GET /blocks/tip/height``)."""
        text = self._get("/blocks/tip/height", what="tip height").text.strip()
        if not re.fullmatch(r"[0-9]{1,10}", text):
            raise MalformedResponseError(f"{self.url}: GET /blocks/tip/height answered {text[:80]!r}, not a height")
        return int(text)

    def address_txids(self, address: str, *, limit: int | None = None) -> list[str]:
        """Txids of the confirmed transactions that pay or spend ``address``, newest first.

        Follows Esplora's paging (``/txs``, then ``/txs/chain/<last confirmed txid seen>``) until a
        page brings no further confirmed transaction, or until ``limit`` txids are collected.
        Mempool transactions are skipped and counted in :attr:`mempool_skipped`.

        Raises
        ------
        InputError
            The server rejects the address (HTTP 400), or ``limit`` is negative.
        MalformedResponseError
            A page is not a list of transactions, or paging returns a txid already seen.
        """
        if limit is not None and limit < 0:
            raise InputError(f"limit must be >= 0, got {limit}")
        self.mempool_skipped = 0
        if limit == 0:
            return []
        quoted = quote(address.strip(), safe="")
        what = f"history of address {address}"
        path = f"/address/{quoted}/txs"
        txids: list[str] = []
        seen: set[str] = set()
        mempool = 0
        while True:
            page = self._json(path, what=what)
            if not isinstance(page, list):
                raise MalformedResponseError(f"{self.url}: GET {path} returned {type(page).__name__}, not a list")
            last: str | None = None
            for entry in page:
                txid, confirmed = self._history_entry(entry, path)
                if not confirmed:
                    mempool += 1
                    continue
                if txid in seen:
                    raise MalformedResponseError(f"{self.url}: GET {path} repeats transaction {txid}: paging loops")
                seen.add(txid)
                txids.append(txid)
                last = txid
            if last is None or (limit is not None and len(txids) >= limit):
                break
            path = f"/address/{quoted}/txs/chain/{last}"
        self.mempool_skipped = mempool
        return txids if limit is None else txids[:limit]

    def transactions(self, txids: Iterable[str]) -> FrameSet:
        """Canonical ``transactions``, ``inputs`` and ``outputs`` of the given confirmed transactions.

        Each txid is fetched once (``GET /tx/:txid``), in the order given. A transaction that is
        not confirmed is left out and listed in :attr:`unconfirmed_skipped`.

        Raises
        ------
        NotFoundError
            The server does not know a txid (HTTP 404).
        InputError
            A txid is not 64 hexadecimal digits.
        MalformedResponseError
            A response of the wrong shape, an amount that is not an integer, a missing ``prevout``,
            a fee that contradicts the values, or a transaction missing from its block's txids.
        SchemaDriftError
            A ``scriptpubkey_type`` this adapter does not know.
        """
        tx_rows: dict[str, list[Any]] = {c: [] for c in TRANSACTIONS.columns}
        in_rows: dict[str, list[Any]] = {c: [] for c in INPUTS.columns}
        out_rows: dict[str, list[Any]] = {c: [] for c in OUTPUTS.columns}
        skipped: list[str] = []
        wanted: dict[str, None] = {}
        for txid in txids:
            if not isinstance(txid, str) or not _TXID.fullmatch(txid):
                raise InputError(f"txid {txid!r} is not 64 hexadecimal digits")
            wanted[txid.lower()] = None
        for txid in wanted:
            tx = self._json(f"/tx/{txid}", what=f"transaction {txid}")
            if not self._map_tx(tx, txid, tx_rows, in_rows, out_rows):
                skipped.append(txid)
        self.unconfirmed_skipped = tuple(skipped)
        return FrameSet(
            transactions=conform(pl.DataFrame(tx_rows, schema=TRANSACTIONS.polars_schema), TRANSACTIONS),
            inputs=conform(pl.DataFrame(in_rows, schema=INPUTS.polars_schema), INPUTS),
            outputs=conform(pl.DataFrame(out_rows, schema=OUTPUTS.polars_schema), OUTPUTS),
        )

    # -- mapping ----------------------------------------------------------------------------
    def _map_tx(
        self,
        tx: Any,
        txid: str,
        tx_rows: dict[str, list[Any]],
        in_rows: dict[str, list[Any]],
        out_rows: dict[str, list[Any]],
    ) -> bool:
        """Append one transaction's rows; ``False`` (nothing appended) when it is unconfirmed."""
        where = f"{self.url}: transaction {txid}"
        tx = _object(tx, where)
        if str(tx.get("txid", "")).lower() != txid:
            raise MalformedResponseError(f"{where}: the server answered with transaction {tx.get('txid')!r}")
        status = _object(tx.get("status"), f"{where} status")
        if status.get("confirmed") is not True:
            if status.get("confirmed") is not False:
                raise MalformedResponseError(f"{where}: status.confirmed is {status.get('confirmed')!r}")
            return False
        height = _count(status.get("block_height"), f"{where} block_height")
        timestamp = _count(status.get("block_time"), f"{where} block_time")
        block_hash = status.get("block_hash")
        if not isinstance(block_hash, str) or not _TXID.fullmatch(block_hash):
            raise MalformedResponseError(f"{where}: block_hash {block_hash!r} is not a block hash")
        vin, vout = tx.get("vin"), tx.get("vout")
        if not isinstance(vin, list) or not vin or not isinstance(vout, list):
            raise MalformedResponseError(f"{where}: vin and vout must be lists (vin non-empty)")

        new_inputs: list[tuple[Any, ...]] = []
        is_coinbase = False
        total_in = 0
        for index, item in enumerate(vin):
            entry = _object(item, f"{where} input {index}")
            if entry.get("is_coinbase") is True:
                is_coinbase = True
                new_inputs.append((index, None, None, None, None))
                continue
            prev_txid = entry.get("txid")
            if not isinstance(prev_txid, str) or not _TXID.fullmatch(prev_txid):
                raise MalformedResponseError(f"{where} input {index}: txid {prev_txid!r} is not a txid")
            prev_index = _count(entry.get("vout"), f"{where} input {index} vout")
            prevout = entry.get("prevout")
            if not isinstance(prevout, Mapping):
                raise MalformedResponseError(f"{where} input {index}: no prevout (this server omits spent outputs)")
            address, _ = self._script(prevout, f"{where} prevout of input {index}")
            value = _count(prevout.get("value"), f"{where} prevout value of input {index}")
            total_in += value
            new_inputs.append((index, prev_txid.lower(), prev_index, address, value))

        new_outputs: list[tuple[Any, ...]] = []
        total_out = 0
        for index, item in enumerate(vout):
            output = _object(item, f"{where} output {index}")
            address, script_type = self._script(output, f"{where} output {index}")
            value = _count(output.get("value"), f"{where} output {index} value")
            total_out += value
            new_outputs.append((index, address, script_type, value))

        reported = _count(tx.get("fee"), f"{where} fee")
        computed = 0 if is_coinbase else total_in - total_out
        if computed < 0:
            raise MalformedResponseError(f"{where} spends {total_in} but creates {total_out}")
        if reported != computed:
            raise MalformedResponseError(f"{where}: server reports fee {reported}, values give {computed}")
        position = self._position(block_hash.lower(), txid)

        key, source = self.chain.key, self.source
        for index, prev_txid, prev_index, address, value in new_inputs:
            for column, cell in zip(INPUTS.columns, (key, txid, index, prev_txid, prev_index, address, value, source),
                                    strict=True):
                in_rows[column].append(cell)
        for index, address, script_type, value in new_outputs:
            for column, cell in zip(OUTPUTS.columns, (key, txid, index, address, script_type, value, source),
                                    strict=True):
                out_rows[column].append(cell)
        row = (key, txid, height, block_hash.lower(), position, timestamp, Decimal(computed), is_coinbase, source)
        for column, cell in zip(TRANSACTIONS.columns, row, strict=True):
            tx_rows[column].append(cell)
        return True

    def _script(self, spk: Mapping[str, Any], what: str) -> tuple[str | None, str]:
        """``(address or None, canonical script_type)`` of an Esplora output or prevout object."""
        esplora_type = spk.get("scriptpubkey_type")
        script_hex = spk.get("scriptpubkey", "")
        if not isinstance(script_hex, str):
            raise MalformedResponseError(f"{what}: scriptpubkey is not hex text")
        try:
            script = bytes.fromhex(script_hex)
        except ValueError:
            raise MalformedResponseError(f"{what}: scriptpubkey {script_hex[:80]!r} is not hex") from None
        script_type = ESPLORA_SCRIPT_TYPES.get(str(esplora_type))
        if script_type is None:
            raise SchemaDriftError(f"{what} has unknown scriptpubkey_type {esplora_type!r}")
        if esplora_type in _REFINED:
            script_type = _refine(str(esplora_type), script)
        if script_type in _NO_ADDRESS:
            return None, script_type
        address = spk.get("scriptpubkey_address")
        if address is not None and not isinstance(address, str):
            raise MalformedResponseError(f"{what}: scriptpubkey_address is {address!r}")
        if address is None and script_type == "p2pk":
            address = _p2pk_address(_p2pk_asm(script), self.chain)
        if address is not None and self.chain.bech32_hrp and address.lower().startswith(self.chain.bech32_hrp + "1"):
            address = address.lower()
        return address, script_type

    def _position(self, block_hash: str, txid: str) -> int:
        positions = self._positions.get(block_hash)
        if positions is None:
            path = f"/block/{block_hash}/txids"
            listed = self._json(path, what=f"txids of block {block_hash}")
            if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
                raise MalformedResponseError(f"{self.url}: GET {path} is not a list of txids")
            positions = {t.lower(): i for i, t in enumerate(listed)}
            self._positions[block_hash] = positions
        if txid not in positions:
            raise MalformedResponseError(f"{self.url}: transaction {txid} is not among the txids of block {block_hash}")
        return positions[txid]

    def _history_entry(self, entry: Any, path: str) -> tuple[str, bool]:
        if not isinstance(entry, Mapping):
            raise MalformedResponseError(f"{self.url}: GET {path} lists a {type(entry).__name__}, not a transaction")
        txid = entry.get("txid")
        status = entry.get("status")
        if not isinstance(txid, str) or not _TXID.fullmatch(txid) or not isinstance(status, Mapping):
            raise MalformedResponseError(f"{self.url}: GET {path} lists an entry without txid and status")
        confirmed = status.get("confirmed")
        if not isinstance(confirmed, bool):
            raise MalformedResponseError(f"{self.url}: GET {path}: status.confirmed of {txid} is {confirmed!r}")
        return txid.lower(), confirmed

    # -- transport --------------------------------------------------------------------------
    def _json(self, path: str, *, what: str) -> Any:
        response = self._get(path, what=what)
        try:
            return json.loads(response.content, parse_float=Decimal, parse_constant=_refuse_constant)
        except ValueError:
            snippet = response.text[:200].strip()
            raise MalformedResponseError(
                f"{self.url}: GET {path} ({what}) answered HTTP {response.status_code} with non-JSON body: {snippet!r}"
            ) from None

    def _get(self, path: str, *, what: str) -> requests.Response:
        last: Exception | None = None
        delay: float | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                wait = delay if delay is not None else self.backoff * (2 ** (attempt - 1))
                wait *= 1 + random.random() / 2  # noqa: S311 - jitter, not cryptography
                log.info("retrying GET %s on %s in %.2fs after: %s", path, self.url, wait, last)
                time.sleep(wait)
                delay = None
            try:
                # no redirects unless third parties are allowed: a self-hosted URL must not hand the
                # query on to a public explorer
                response = self._session.get(
                    self._base + path, auth=self._auth, timeout=self.timeout, allow_redirects=self._third_party
                )
            except requests.Timeout:
                last = NodeUnavailableError(f"{self.url}: GET {path} ({what}) timed out after {self.timeout:g}s")
                continue
            except requests.ConnectionError:
                last = NodeUnavailableError(
                    f"{self.url}: cannot connect (is the Esplora server running?) during GET {path} ({what})"
                )
                continue
            except requests.RequestException as exc:
                last = NodeUnavailableError(f"{self.url}: GET {path} ({what}) failed: {type(exc).__name__}")
                continue
            status = response.status_code
            if status == 200:
                return response
            if 300 <= status < 400:
                target = redact_url(response.headers.get("Location", "?"))
                raise ThirdPartyRefusedError(
                    f"{self.url}: GET {path} was redirected to {target}; not followed (a redirect could hand the "
                    "query to a third party). Point --esplora at the final server."
                )
            body = response.text[:200].strip()
            if status in _RETRY_STATUS:
                last = NodeUnavailableError(f"{self.url}: server busy or failing (HTTP {status}) on GET {path}")
                delay = _retry_after(response)
                continue
            if status == 404:
                raise NotFoundError(f"{self.url}: {what} not found (HTTP 404 on GET {path})")
            if status in (401, 403):
                raise NodeAuthError(f"{self.url}: access refused (HTTP {status}) on GET {path}")
            if status == 400:
                raise InputError(f"{self.url}: server rejected {what} (HTTP 400 on GET {path}): {body!r}")
            raise MalformedResponseError(f"{self.url}: unexpected HTTP {status} on GET {path} ({what}): {body!r}")
        assert last is not None
        raise last


# --- helpers -------------------------------------------------------------------------------------


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedResponseError(f"{what} is a {type(value).__name__}, expected a JSON object")
    return value


def _count(value: Any, what: str) -> int:
    """A non-negative JSON integer (satoshis, heights, indexes); fractions and booleans refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedResponseError(f"{what} is {value!r}, not an integer (Esplora amounts are satoshi integers)")
    if value < 0:
        raise MalformedResponseError(f"{what} is negative ({value})")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not a number")


def _retry_after(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After", "")
    try:
        return min(max(float(header), 0.0), _MAX_RETRY_AFTER) if header.strip() else None
    except ValueError:
        return None  # an HTTP date: fall back to exponential backoff


def _p2pk_asm(script: bytes) -> str:
    """Core's ``asm`` of a ``<pubkey> OP_CHECKSIG`` script (Esplora's asm spells pushes differently)."""
    if len(script) >= 3 and script[0] == len(script) - 2 and script[-1] == 0xAC:
        return f"{script[1:-1].hex()} OP_CHECKSIG"
    return ""


def _refine(esplora_type: str, script: bytes) -> str:
    """Core's class of a script that Esplora calls ``op_return``, ``unknown``, ``empty`` or ``provably_unspendable``."""
    if script[:1] == b"\x6a" and _push_only(script[1:]):
        return "nulldata"
    witness = _witness_program(script)
    if witness is not None:
        version, program = witness
        if version == 1 and program == b"\x4e\x73":
            return "p2a"
        if version != 0:
            return "witness_unknown"
    return "nonstandard"


def _push_only(script: bytes) -> bool:
    """Only data pushes (and ``OP_1NEGATE``, ``OP_RESERVED``, ``OP_1``..``OP_16``), all complete: Core's IsPushOnly."""
    i = 0
    while i < len(script):
        op = script[i]
        i += 1
        if op > 0x60:
            return False
        size = 0
        if 0x01 <= op <= 0x4B:
            size = op
        elif op in (0x4C, 0x4D, 0x4E):
            width = {0x4C: 1, 0x4D: 2, 0x4E: 4}[op]
            if i + width > len(script):
                return False
            size = int.from_bytes(script[i:i + width], "little")
            i += width
        if i + size > len(script):
            return False
        i += size
    return True


def _witness_program(script: bytes) -> tuple[int, bytes] | None:
    """``(version, program)`` when ``script`` is a witness program (BIP-141), else ``None``."""
    if not 4 <= len(script) <= 42 or script[1] + 2 != len(script):
        return None
    if script[0] == 0x00:
        return 0, script[2:]
    if 0x51 <= script[0] <= 0x60:
        return script[0] - 0x50, script[2:]
    return None
