# SPDX-License-Identifier: Apache-2.0
"""``tracer report CASE``: the main job's case as one self-contained HTML file, as an investigator
hands it on.

The report of the fixture case states what ``fixtures/op-fixture/STORY.md`` says happened, in exact
amounts: the 10.5 LTC of sales traced forward, Exchange Alpha reached (6.4999 LTC under poison, the
1.5 LTC of direct peels under FIFO), the CoinJoin named as such. Every transaction link resolves to an
appendix entry with the raw records; nothing is fetched from the network (no script, no external
resource); the same case gives the same bytes and the same file; bad input is one line, exit 2, and
nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.report.conftest import FIXTURE

CASE = "op-fixture"


def _story() -> dict:
    return dict(json.loads((FIXTURE / "story.json").read_text()))


def _report(cli: Cli, *args: str) -> tuple[dict, str]:
    data = cli.json("report", CASE, *args)
    return data, Path(data["html"]).read_text(encoding="utf-8")


def test_the_default_report_holds_the_latest_run_of_each_question_and_model(cli: Cli, case_home: Path) -> None:
    data, html = _report(cli)
    # run 1 (forward haircut) was answered again by run 3 (--model all): the latest is shown
    assert [name.split("-")[0] for name in data["runs"]] == ["0002", "0003", "0004", "0005", "0006", "0007", "0008"]
    assert Path(data["html"]).parent == case_home / "cases" / CASE / "reports"
    assert Path(data["html"]).name == f"report-{hashlib.sha256(html.encode()).hexdigest()[:12]}.html"
    for section in ("Case and seeds", "Method", "Flow graph", "Value from seeds to endings",
                    "The models side by side", "Endings, ranked by amount", "Appendix A: transactions as ingested"):
        assert section in html


def test_the_report_states_the_story_in_exact_amounts(cli: Cli, case_home: Path) -> None:
    story = _story()
    _, html = _report(cli)
    assert "Exchange Alpha" in html
    assert "10.5 rLTC" in html                      # the sales, traced (story: 1,050,000,000 litoshi)
    assert "6.4999 rLTC (61.90%)" in html           # poison: all Exchange Alpha deposits after the sales
    assert "1.5 rLTC (14.28%)" in html              # FIFO: the four direct peels, 0.4 + 0.55 + 0.3 + 0.25
    assert "CoinJoin (joinmarket)" in html
    for txid in (story["ltc"]["exchange_deposit"]["txid"], story["ltc"]["coinjoin"]["txid"]):
        assert f'id="tx-ltc-regtest-{txid}"' in html
    assert "1250 fUSD" in html                      # the Ethereum leg's token, in its own units
    # the measured error rates the manifests carry (docs/error-rates.json), with their intervals
    assert "Measured error rates of these methods" in html and "trace.haircut.true_entity_share" in html


def test_every_link_resolves_and_nothing_is_fetched(cli: Cli, case_home: Path) -> None:
    _, html = _report(cli)
    anchors = set(re.findall(r'id="([^"]+)"', html))
    links = set(re.findall(r'href="#([^"]+)"', html)) | set(re.findall(r'xlink:href="#([^"]+)"', html))
    assert links and links <= anchors, sorted(links - anchors)[:5]
    assert "<script" not in html and "<link" not in html and "@import" not in html
    style = html[html.index("<style>"):html.index("</style>")]
    assert '"DejaVu Sans"' in style and "&#34;" not in style     # the style sheet reaches the browser unescaped
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_appendix_rows_are_the_records_as_ingested(cli: Cli, case_home: Path) -> None:
    story = _story()
    _, html = _report(cli, "--trace", "3")
    deposit = story["ltc"]["exchange_deposit"]
    start = html.index(f'id="tx-ltc-regtest-{deposit["txid"]}"')
    entry = html[start:html.index("</div>", start)]
    assert "block 113" in entry and "2026-03-09 11:00 UTC" in entry and "rpc:http://127.0.0.1" in entry
    assert deposit["address"] in entry and "4.9999 rLTC" in entry     # output 0: 499,990,000 litoshi
    assert "fee 0.0001 rLTC" in entry


def test_the_same_case_gives_the_same_bytes(cli: Cli, case_home: Path) -> None:
    first, html = _report(cli, "--trace", "3", "--trace", "8")
    again = cli.json("report", CASE, "--trace", "3", "--trace", "8")
    # the audit log gained an entry for the first report, so the head it names moved: compare without it
    second = Path(again["html"]).read_text(encoding="utf-8")
    assert re.sub(r"Audit log head</th><td>.*?</td>", "", html) == re.sub(r"Audit log head</th><td>.*?</td>", "",
                                                                            second)
    assert first["html"] != again["html"]
    assert Path(first["html"]).read_text(encoding="utf-8") == html   # the earlier report is untouched


def test_a_chosen_output_file_is_never_overwritten(cli: Cli, case_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "for-prosecutor.html"
    target.write_text("an earlier report")
    result = cli("report", CASE, "--out", str(target))
    assert result.exit_code == 2
    assert "never overwritten" in result.output
    assert target.read_text() == "an earlier report"


def test_fiat_values_come_from_the_rates_the_user_gives(cli: Cli, case_home: Path, tmp_path: Path) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("chain,asset,time,price,currency,source\n"
                     "ltc-regtest,native,2026-03-09T00:00:00Z,80.00,EUR,analyst's exchange statement\n")
    _, html = _report(cli, "--trace", "3", "--rates", str(rates))
    # the deposit at 2026-03-09 11:00 UTC: 1.20295689 rLTC x 80.00 = 96.24 EUR
    assert "96.24 EUR" in html and "analyst&#39;s exchange statement" in html
    assert "no rate" in html        # transactions before 2026-03-08 have no rate within a day


@pytest.mark.parametrize(("args", "message"), [
    (("--trace", "99"), "has no trace run '99'"),
    (("--trace", "0003-forward-nope"), "has no trace run"),
    (("--min-share", "abc"), "not a percentage"),
])
def test_bad_input_is_one_line_and_writes_nothing(cli: Cli, case_home: Path, args: tuple[str, ...],
                                                  message: str) -> None:
    before = (case_home / "cases" / CASE / "audit.jsonl").read_bytes()
    result = cli("report", CASE, *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (case_home / "cases" / CASE / "reports").exists()
    assert (case_home / "cases" / CASE / "audit.jsonl").read_bytes() == before


def test_a_case_without_traces_says_what_to_run(cli: Cli, case_home: Path) -> None:
    assert cli("case", "create", "empty-case").exit_code == 0
    result = cli("report", "empty-case")
    assert result.exit_code == 2
    assert "has no trace runs yet: run `tracer trace empty-case` first" in result.output


def test_a_missing_graphviz_is_named_with_how_to_install_it(cli: Cli, case_home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = cli("report", CASE)
    assert result.exit_code == 2
    assert "Graphviz is not installed" in result.output and "apt-get install graphviz" in result.output
    assert not (case_home / "cases" / CASE / "reports").exists()


def test_the_report_is_recorded_in_the_audit_log_and_the_case_still_verifies(cli: Cli, case_home: Path) -> None:
    data, html = _report(cli, "--pdf")
    entries = [json.loads(line) for line in (case_home / "cases" / CASE / "audit.jsonl").read_text().splitlines()]
    written = entries[-1]
    assert written["action"] == "report.written"
    assert written["details"]["files"][Path(data["html"]).name] == hashlib.sha256(html.encode()).hexdigest()
    assert written["details"]["files"][Path(data["pdf"]).name] == hashlib.sha256(
        Path(data["pdf"]).read_bytes()).hexdigest()
    assert cli("case", "verify", CASE).exit_code == 0


def test_a_price_service_is_asked_only_when_the_user_allows_it(cli: Cli, case_home: Path) -> None:
    import http.server
    import threading

    asked: list[str] = []

    class Prices(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            body = b'{"prices": [[1772323200000, 80.5]]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Prices)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v3"
        refused = cli("report", CASE, "--rates-api", url)
        assert refused.exit_code == 2 and "--allow-third-party" in refused.output
        assert asked == [] and not (case_home / "cases" / CASE / "reports").exists()
        # regtest and devnet coins have no market price: with permission, nothing is asked and nothing invented
        _, html = _report(cli, "--trace", "3", "--rates-api", url, "--allow-third-party")
        assert asked == []
        assert "no rate" in html and " EUR" not in html.split("Appendix A")[1]
    finally:
        server.shutdown()
        server.server_close()


def test_case_verify_notices_a_report_edited_after_it_was_written(cli: Cli, case_home: Path) -> None:
    data, html = _report(cli, "--trace", "3")
    assert cli("case", "verify", CASE).exit_code == 0
    Path(data["html"]).write_text(html.replace("Exchange Alpha", "Exchange Beta"), encoding="utf-8")
    result = cli("case", "verify", CASE)
    assert result.exit_code != 0
    assert f"report {Path(data['html']).name} was changed after it was written" in result.output
