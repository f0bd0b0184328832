# SPDX-License-Identifier: Apache-2.0
"""Nothing leaked: secrets stay out of logs, and data cannot take over the analyst's terminal.

* ``--debug`` turns on the HTTP library's request log, which prints every request's path and
  query; node providers keep API keys in both, and the Etherscan key travels as ``apikey=``. A
  filter on every log handler redacts URLs and request targets (the project's ``redact_url`` rule)
  and every secret of the configuration, so a run against a node at ``/v2/<key>?apikey=<key>`` and
  an Etherscan-compatible API with a configured key shows neither key (tested in a real process,
  whose stderr is what the analyst sees).
* Labels from seeds and third-party TagPacks are data: an ESC sequence in one must not clear the
  screen or recolour the output. Everything printed for people shows control characters as escapes;
  ``--json`` and the files keep the exact text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Cli

REPO = Path(__file__).resolve().parents[2]
PATH_KEY = "pathKey7fd0c2a9"
QUERY_KEY = "queryKey51b3e8"
CONFIG_KEY = "configKeyEtherscan93a1"
SUSPECT = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
CLEAR_AND_RED = "\x1b[2J\x1b[31m"


class _Server(BaseHTTPRequestHandler):
    """Answers JSON-RPC ``eth_chainId`` as anvil (31337) and Etherscan-style GETs with no rows."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        calls = body if isinstance(body, list) else [body]
        replies = [{"jsonrpc": "2.0", "id": c["id"], "result": "0x7a69" if c["method"] == "eth_chainId" else None}
                   for c in calls]
        self._send(replies if isinstance(body, list) else replies[0])

    def do_GET(self) -> None:  # noqa: N802
        self._send({"status": "0", "message": "No transactions found", "result": []})

    def _send(self, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _tracer(*args: str) -> subprocess.CompletedProcess[str]:
    """``tracer ARGS`` in its own process (stderr is what a terminal would show)."""
    return subprocess.run([sys.executable, "-c", "from cli.app import main; main()", *args], cwd=REPO,
                          env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False)


def test_debug_logs_show_no_key_of_a_node_url_path_or_query(tracer_home: Path, http_server: str) -> None:
    node = f"{http_server}/v2/{PATH_KEY}?apikey={QUERY_KEY}"
    run = _tracer("--debug", "ingest", "evm", "--chain", "eth-devnet", "--node", node, "--from", "0", "--to", "0")
    assert 'DEBUG urllib3.connectionpool: http://127.0.0.1' in run.stderr  # the request log was on
    assert '"POST /***?*** HTTP/1.1" 200' in run.stderr
    assert PATH_KEY not in run.stderr and QUERY_KEY not in run.stderr
    assert PATH_KEY not in run.stdout and QUERY_KEY not in run.stdout


def test_debug_logs_show_no_etherscan_key_from_the_config(tracer_home: Path, http_server: str) -> None:
    tracer_home.mkdir(parents=True)
    (tracer_home / "config.toml").write_text(f'[etherscan]\nkey = "{CONFIG_KEY}"\n')
    assert _tracer("case", "create", "op-keys").returncode == 0
    assert _tracer("case", "seed", "add", "op-keys", SUSPECT, "--chain", "eth").returncode == 0
    run = _tracer("--debug", "ingest", "seeds", "op-keys", "--etherscan", f"{http_server}/api")
    assert '"GET /***?*** HTTP/1.1" 200' in run.stderr  # the API was asked, with the key in the query
    assert CONFIG_KEY not in run.stderr and CONFIG_KEY not in run.stdout


def test_a_configured_secret_is_masked_wherever_a_log_line_carries_it(cli: Cli, tracer_home: Path) -> None:
    """Beyond URLs: any log record that quotes a configured secret (here a node path key in a
    message of the record's own) shows ``***`` instead."""
    import logging

    from cli.app import RedactingFilter
    from cli.context import app_context

    tracer_home.mkdir(parents=True)
    (tracer_home / "config.toml").write_text(f'[nodes]\neth = "https://eth.example/v2/{PATH_KEY}"\n'
                                             f'[etherscan]\nkey = "{CONFIG_KEY}"\n')
    assert cli("config", "show").exit_code == 0  # loads the settings of this invocation
    assert app_context().settings.secrets() == [CONFIG_KEY, PATH_KEY]
    record = logging.LogRecord("adapters.x", logging.INFO, __file__, 1, "key %s and %s in %s", (
        PATH_KEY, CONFIG_KEY, f"https://eth.example/v2/{PATH_KEY}"), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "key *** and *** in https://eth.example/***"


def test_labels_cannot_drive_the_terminal_but_json_keeps_them_exact(cli: Cli, tmp_path: Path) -> None:
    label = f"vendor{CLEAR_AND_RED} payout\u202eevil"
    cli("case", "create", "op-labels", "--description", f"ref 2026/118{CLEAR_AND_RED}")
    assert cli("case", "seed", "add", "op-labels", SUSPECT, "--chain", "eth", "--label", label).exit_code == 0
    shown = cli("case", "show", "op-labels").stdout
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "vendor\\x1b[2J\\x1b[31m payout\\u202eevil" in shown
    assert "ref 2026/118\\x1b[2J\\x1b[31m" in shown
    assert cli.json("case", "seed", "list", "op-labels")[0]["label"] == label

    tagpack = tmp_path / "hostile.yaml"
    hostile = "Exchange\x1b]0;owned\x07\rAlpha"  # sets the window title, then overwrites the line
    tagpack.write_text(json.dumps({"title": "Hostile pack", "creator": "someone", "currency": "ETH",
                                   "category": "exchange", "confidence": "web_crawl",
                                   "source": "https://example.org/pack",
                                   "tags": [{"address": SUSPECT, "label": hostile}]}))
    assert cli("tags", "import", str(tagpack)).exit_code == 0
    tags = cli("tags", "show", SUSPECT).stdout
    assert "\x1b" not in tags and "\x07" not in tags and "\r" not in tags
    assert "Exchange\\x1b]0;owned\\x07\\x0dAlpha" in tags
    assert cli.json("tags", "show", SUSPECT)["tags"][0]["label"] == hostile


def test_error_lines_escape_what_the_input_carried(cli: Cli, tmp_path: Path) -> None:
    """A refused CSV's error line quotes its header: a column name cannot clear the screen."""
    path = tmp_path / "export.csv"
    path.write_text(f"Tx,From,To,Amount{CLEAR_AND_RED}\n")
    cli("case", "create", "op-csv")
    refused = cli("ingest", "csv", "op-csv", str(path), "--chain", "eth", "--map", "from=From,to=To,value=V,txid=Tx")
    assert refused.exit_code == 2
    assert refused.stderr == ("error: line 1: no column 'V' (for value); the header has: Tx, From, To, "
                              "Amount\\x1b[2J\\x1b[31m\n")
