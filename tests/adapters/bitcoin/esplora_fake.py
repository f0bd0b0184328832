# SPDX-License-Identifier: Apache-2.0
"""A stand-in Esplora server built from a real ``litecoind -regtest`` node's data (tests only).

**This is not Esplora.** No real Esplora / electrs (nor Bitcoin Core or an Electrum server) can
be installed on these machines (shared design notes §1), so :class:`FakeEsplora` serves the
subset of the Esplora HTTP API (https://github.com/Blockstream/esplora/blob/master/API.md) that
``adapters.bitcoin.esplora`` uses, with JSON built from what the node itself says:

* On :meth:`FakeEsplora.start` it scans the node once (``getblockcount``, ``getblockhash``,
  ``getblock <hash> 2`` for every block from genesis, ``getrawmempool`` and ``getrawtransaction``
  for mempool transactions and for any spent output not found in the scan) and builds the
  Esplora transaction JSON: ``status`` from the block (``block_time`` = the header ``time``),
  ``prevout`` from the spent output, ``fee`` = sum(prevouts) - sum(outputs) (0 for a coinbase),
  values as satoshi integers, ``scriptpubkey_type`` translated from Core's type names
  (:data:`CORE_TO_ESPLORA`), no ``scriptpubkey_address`` for P2PK, bare multisig, OP_RETURN and
  nonstandard scripts (as electrs). ``scriptpubkey_asm``/``scriptsig_asm`` are Core's ``asm``
  text, not electrs' ``OP_PUSHBYTES_n`` spelling; ``size``/``weight`` are Core's.
* Paging follows the API: ``/address/:a/txs`` gives up to 50 mempool transactions then the first
  25 confirmed ones, newest first; ``/address/:a/txs/chain[/:last_seen_txid]`` the next 25
  confirmed ones after ``last_seen_txid`` (an unknown ``last_seen_txid`` gives ``[]``). "Newest
  first" here is (height, position in block) descending; electrs orders ties within a block
  differently, which the client must not (and does not) depend on.
* The data is a snapshot taken at start: transactions made later are not served.

Endpoints: ``/blocks/tip/height``, ``/blocks/tip/hash``, ``/tx/:txid``, ``/block/:hash/txids``,
``/address/:address/txs``, ``/address/:address/txs/chain[/:last_seen_txid]``; anything else
is HTTP 404. For error tests, :attr:`FakeEsplora.mode` switches every answer to HTTP 500
(``"error500"``), HTTP 429 with ``Retry-After: 0`` (``"error429"``), a non-JSON 200 body
(``"malformed"``), no answer until the client gives up (``"hang"``), a wrong ``fee``
(``"bad_fee"``) or amounts written as JSON fractions (``"float_amounts"``).
:attr:`FakeEsplora.paths` records every path requested.
"""

from __future__ import annotations

import copy
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from adapters.jsonrpc import Call
from testing.devnodes import LitecoinRegtest
from tracer.units import to_base_units

__all__ = ["FakeEsplora", "CORE_TO_ESPLORA", "MODES"]

#: Bitcoin Core ``scriptPubKey.type`` -> Esplora ``scriptpubkey_type``.
CORE_TO_ESPLORA = {
    "pubkeyhash": "p2pkh",
    "scripthash": "p2sh",
    "witness_v0_keyhash": "v0_p2wpkh",
    "witness_v0_scripthash": "v0_p2wsh",
    "witness_v1_taproot": "v1_p2tr",
    "nulldata": "op_return",
    "pubkey": "p2pk",
    "multisig": "multisig",
    "nonstandard": "unknown",
    "witness_unknown": "unknown",
}
_NO_ADDRESS = frozenset({"pubkey", "multisig", "nulldata", "nonstandard"})
MODES = ("ok", "error500", "error429", "malformed", "hang", "bad_fee", "float_amounts")
PAGE = 25
MEMPOOL_PAGE = 50
_CHUNK = 100


class FakeEsplora:
    """Esplora-shaped JSON over HTTP on 127.0.0.1, built from a litecoind snapshot (see module docstring)."""

    def __init__(self, node: LitecoinRegtest) -> None:
        self.node = node
        self.mode = "ok"
        self.hang_seconds = 30.0
        self.paths: list[str] = []
        self.txs: dict[str, dict[str, Any]] = {}
        self.block_txids: dict[str, list[str]] = {}
        self.confirmed: dict[str, list[str]] = {}  # address -> txids, newest first
        self.mempool: dict[str, list[str]] = {}  # address -> txids, newest first
        self.tip_height = -1
        self.tip_hash = ""
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------
    @classmethod
    def start(cls, node: LitecoinRegtest) -> FakeEsplora:
        fake = cls(node)
        fake.scan()
        handler = type("Handler", (_Handler,), {"fake": fake})
        fake._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        fake._thread = threading.Thread(target=fake._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-esplora", daemon=True)
        fake._thread.start()
        return fake

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._release.set()  # let hanging handlers return
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeEsplora:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requested(self, prefix: str) -> list[str]:
        """Paths requested so far that start with ``prefix``."""
        with self._lock:
            return [p for p in self.paths if p.startswith(prefix)]

    # -- snapshot of the node ---------------------------------------------------------------
    def scan(self) -> None:
        """Read every block and the mempool from the node and build the Esplora JSON."""
        with self.node.rpc(timeout=120) as rpc:
            self.tip_height = int(rpc.call("getblockcount"))
            hashes: list[str] = []
            for start in range(0, self.tip_height + 1, _CHUNK):
                stop = min(start + _CHUNK, self.tip_height + 1)
                hashes += rpc.batch([Call("getblockhash", [h]) for h in range(start, stop)])
            self.tip_hash = hashes[-1]
            outputs: dict[tuple[str, int], dict[str, Any]] = {}
            pending: list[tuple[dict[str, Any], dict[str, Any] | None]] = []  # (core tx, block)
            for start in range(0, len(hashes), _CHUNK):
                for block in rpc.batch([Call("getblock", [h, 2]) for h in hashes[start:start + _CHUNK]]):
                    self.block_txids[block["hash"]] = [tx["txid"] for tx in block["tx"]]
                    for tx in block["tx"]:
                        _index_outputs(tx, outputs)
                        pending.append((tx, block))
            mempool_ids = rpc.call("getrawmempool")
            mempool_txs = rpc.batch([Call("getrawtransaction", [t, True]) for t in mempool_ids])
            for tx in mempool_txs:
                _index_outputs(tx, outputs)
                pending.append((tx, None))
            missing = sorted({(vin["txid"], vin["vout"]) for tx, _ in pending for vin in tx["vin"]
                              if "coinbase" not in vin and (vin["txid"], vin["vout"]) not in outputs})
            for tx in rpc.batch([Call("getrawtransaction", [t, True]) for t in sorted({m[0] for m in missing})]):
                _index_outputs(tx, outputs)

        history: dict[str, list[tuple[int, int, str]]] = {}
        for tx, block in pending:
            esplora = _esplora_tx(tx, block, outputs)
            txid = esplora["txid"]
            self.txs[txid] = esplora
            touched = {o["scriptpubkey_address"] for o in esplora["vout"] if "scriptpubkey_address" in o}
            touched |= {v["prevout"]["scriptpubkey_address"] for v in esplora["vin"]
                        if v["prevout"] and "scriptpubkey_address" in v["prevout"]}
            if block is None:
                for address in touched:
                    self.mempool.setdefault(address, []).insert(0, txid)
            else:
                key = (int(block["height"]), self.block_txids[block["hash"]].index(txid), txid)
                for address in touched:
                    history.setdefault(address, []).append(key)
        for address, keys in history.items():
            self.confirmed[address] = [txid for _, _, txid in sorted(keys, reverse=True)]

    # -- answers ----------------------------------------------------------------------------
    def answer(self, path: str) -> tuple[int, str, str]:
        """``(status, content type, body)`` for ``path`` in the current :attr:`mode`."""
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if parts == ["blocks", "tip", "height"]:
            return 200, "text/plain", str(self.tip_height)
        if parts == ["blocks", "tip", "hash"]:
            return 200, "text/plain", self.tip_hash
        if len(parts) == 2 and parts[0] == "tx":
            tx = self.txs.get(parts[1].lower())
            return (404, "text/plain", "Transaction not found") if tx is None else self._json(self._tx(tx))
        if len(parts) == 3 and parts[0] == "block" and parts[2] == "txids":
            txids = self.block_txids.get(parts[1].lower())
            return (404, "text/plain", "Block not found") if txids is None else self._json(txids)
        if len(parts) >= 3 and parts[0] == "address" and parts[2] == "txs":
            address = parts[1]
            chain = self.confirmed.get(address, [])
            if len(parts) == 3:
                listed = self.mempool.get(address, [])[:MEMPOOL_PAGE] + chain[:PAGE]
            elif parts[3] == "chain" and len(parts) in (4, 5):
                after = parts[4].lower() if len(parts) == 5 else None
                start = 0 if after is None else (chain.index(after) + 1 if after in chain else len(chain))
                listed = chain[start:start + PAGE]
            else:
                return 404, "text/plain", "Not Found"
            return self._json([self._tx(self.txs[t]) for t in listed])
        return 404, "text/plain", "Not Found"

    def _tx(self, tx: dict[str, Any]) -> dict[str, Any]:
        if self.mode == "bad_fee":
            return {**tx, "fee": tx["fee"] + 1}
        if self.mode == "float_amounts":
            tx = copy.deepcopy(tx)
            for vout in tx["vout"]:
                vout["value"] = vout["value"] + 0.5
        return tx

    @staticmethod
    def _json(body: Any) -> tuple[int, str, str]:
        return 200, "application/json", json.dumps(body)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeEsplora
    server_version = "FakeEsplora/0 (litecoind snapshot; not electrs)"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server looks for
        fake = self.fake
        with fake._lock:
            fake.paths.append(self.path)
        mode = fake.mode
        if mode == "hang":
            fake._release.wait(fake.hang_seconds)
            return  # close without answering
        headers: dict[str, str] = {}
        if mode == "error500":
            status, ctype, body = 500, "text/plain", "Internal Server Error"
        elif mode == "error429":
            status, ctype, body = 429, "text/plain", "Too Many Requests"
            headers["Retry-After"] = "0"
        elif mode == "malformed":
            status, ctype, body = 200, "application/json", "<html>upstream proxy error</html>"
        else:
            status, ctype, body = fake.answer(self.path)
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass


# --- Core JSON -> Esplora JSON --------------------------------------------------------------------


def _sats(value: Decimal) -> int:
    return to_base_units(value, 8)


def _index_outputs(tx: dict[str, Any], outputs: dict[tuple[str, int], dict[str, Any]]) -> None:
    for i, vout in enumerate(tx["vout"]):
        outputs[(tx["txid"], int(vout.get("n", i)))] = _esplora_output(vout)


def _esplora_output(vout: dict[str, Any]) -> dict[str, Any]:
    spk = vout["scriptPubKey"]
    core_type = spk["type"]
    out: dict[str, Any] = {
        "scriptpubkey": spk["hex"],
        "scriptpubkey_asm": spk.get("asm", ""),
        "scriptpubkey_type": CORE_TO_ESPLORA[core_type],
    }
    address = spk.get("address")
    if address is None and isinstance(spk.get("addresses"), list) and len(spk["addresses"]) == 1:
        address = spk["addresses"][0]
    if address is not None and core_type not in _NO_ADDRESS:
        out["scriptpubkey_address"] = address
    out["value"] = _sats(vout["value"])
    return out


def _esplora_tx(tx: dict[str, Any], block: dict[str, Any] | None,
                outputs: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    vin: list[dict[str, Any]] = []
    coinbase = False
    total_in = 0
    for entry in tx["vin"]:
        if "coinbase" in entry:
            coinbase = True
            item: dict[str, Any] = {"txid": "0" * 64, "vout": 0xFFFFFFFF, "prevout": None,
                                    "scriptsig": entry["coinbase"], "scriptsig_asm": "", "is_coinbase": True,
                                    "sequence": entry["sequence"]}
        else:
            prevout = outputs[(entry["txid"], int(entry["vout"]))]
            total_in += prevout["value"]
            item = {"txid": entry["txid"], "vout": int(entry["vout"]), "prevout": prevout,
                    "scriptsig": entry["scriptSig"]["hex"], "scriptsig_asm": entry["scriptSig"]["asm"],
                    "is_coinbase": False, "sequence": entry["sequence"]}
        if "txinwitness" in entry:
            item["witness"] = entry["txinwitness"]
        vin.append(item)
    vout = [_esplora_output(v) for v in tx["vout"]]
    status: dict[str, Any] = {"confirmed": False}
    if block is not None:
        status = {"confirmed": True, "block_height": int(block["height"]), "block_hash": block["hash"],
                  "block_time": int(block["time"])}
    return {
        "txid": tx["txid"],
        "version": tx["version"],
        "locktime": tx["locktime"],
        "vin": vin,
        "vout": vout,
        "size": tx["size"],
        "weight": tx["weight"],
        "fee": 0 if coinbase else total_in - sum(o["value"] for o in vout),
        "status": status,
    }

