# SPDX-License-Identifier: Apache-2.0
"""Regenerate the published error rates of the heuristics (issue 23): ``docs/error-rates.json`` and ``.md``.

For each seed, a private ``litecoind -regtest -txindex`` runs one ground-truth economy
(:mod:`testing.economy`, the benchmark size: about a thousand wallet transactions over about a
hundred blocks, every entity with its own Core wallet), the economy is read back with the true
owner of every address, and :func:`tracer.error_rates_measure.measure` counts every heuristic's
errors against it. The counts of all seeds are pooled with their intervals
(:func:`tracer.error_rates.summarize`) into the JSON file, and the Markdown table is rendered
**from the JSON file** (no rate is typed by hand; ``--render-only`` re-renders it).

    python benchmarks/heuristics.py                  # seeds 1-5, benchmark size (~2-3 min per seed)
    python benchmarks/heuristics.py --quick          # seeds 1-2, the test suite's size, to a temp file
    python benchmarks/heuristics.py --render-only    # docs/error-rates.md from docs/error-rates.json
    python benchmarks/heuristics.py --keep DIR       # also save every economy (frames + truth)
    python benchmarks/heuristics.py --from DIR       # measure saved economies again, no node
    python benchmarks/heuristics.py --side account   # only the account side (anvil, seconds), merged into
                                                     # the existing JSON: the UTXO numbers are kept as they are

The account side (:mod:`testing.economy_evm` on a private ``anvil`` per seed; deposit-address reuse,
exchange attribution and the account trace, :func:`tracer.error_rates_account.measure_account`) is
stored under the JSON file's ``account`` key; ``--side utxo`` regenerates only the UTXO side and keeps
the ``account`` block. ``--keep``/``--from`` use ``DIR/seed-N`` (UTXO) and ``DIR/account-seed-N``.

Not in CI (minutes); the test suite runs one small economy of each side (``tests/heuristics``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testing.devnodes import Anvil, LitecoinRegtest  # noqa: E402
from testing.economy import ECONOMY_VERSION, EconomyConfig, generate  # noqa: E402
from testing.economy_evm import CHAIN as ACCOUNT_CHAIN  # noqa: E402
from testing.economy_evm import (  # noqa: E402
    ECONOMY_EVM_VERSION,
    AccountEconomy,
    AccountEconomyConfig,
    generate_account,
)
from testing.economy_truth import CHAIN, Economy  # noqa: E402
from tracer.deposit_reuse import DepositParams  # noqa: E402
from tracer.error_rates import METRICS, Count, summarize  # noqa: E402
from tracer.error_rates_account import ACCOUNT_METRICS, measure_account  # noqa: E402
from tracer.error_rates_measure import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
JSON_OUT = ROOT / "docs" / "error-rates.json"
FORMAT = "tracer-error-rates/1"
INTERVALS = ("95 % intervals. 'wilson': Wilson score interval of the count pooled over all seeds (rates over "
             "transactions or links, each judged once). 't': Student t interval of the per-seed values (mean ± "
             "t(0.975, n-1)·s/√n, clipped to [0, 1]; pair counts and value shares, which are not independent "
             "items). 'value' is the pooled k/n; both intervals are stored for every rate.")


def economy_of(seed: int, config: EconomyConfig, keep: Path | None, saved: Path | None) -> Economy:
    """One economy on a fresh node (saved under ``keep``), or read back from ``saved`` (``--from``)."""
    if saved is not None:
        return Economy.load(saved / f"seed-{seed}")
    node = LitecoinRegtest.start()
    try:
        with node.rpc() as rpc:
            rpc.call("createwallet", "miner")
        started = time.monotonic()
        economy = generate(node, config)
        seconds = time.monotonic() - started
    finally:
        node.stop()
    if keep is not None:
        economy.save(keep / f"seed-{seed}")
    print(f"seed {seed}: {economy.frames.transactions.height} transactions, generated in {seconds:.0f} s",
          file=sys.stderr)
    return economy


def build(seeds: list[int], quick: bool, keep: Path | None, saved: Path | None = None) -> dict[str, Any]:
    summaries, per_seed = [], []
    for seed in seeds:
        config = EconomyConfig.small(seed) if quick else EconomyConfig.benchmark(seed)
        economy = economy_of(seed, config, keep, saved)
        if economy.seed != seed or economy.sizes != config.sizes() or economy.version != ECONOMY_VERSION:
            raise SystemExit(f"seed {seed}: the saved economy is not {ECONOMY_VERSION} at this size")
        counts = measure(economy.frames, economy.owners, economy.transactions, CHAIN, economy.heights)
        summaries.append(economy.summary())
        per_seed.append({k: {"k": c.k, "n": c.n} for k, c in counts.items()})
    rates = summarize([{k: Count(v["k"], v["n"]) for k, v in c.items()} for c in per_seed])
    sizes = (EconomyConfig.small(0) if quick else EconomyConfig.benchmark(0)).sizes()
    return {"format": FORMAT, "generator": ECONOMY_VERSION, "chain": CHAIN, "node": summaries[0]["node"],
            "seeds": seeds, "sizes": sizes, "intervals": INTERVALS,
            "economies": [{k: v for k, v in s.items() if k != "node"} for s in summaries],
            "counts_per_seed": per_seed, "rates": rates}


def account_economy_of(seed: int, config: AccountEconomyConfig, keep: Path | None,
                       saved: Path | None) -> AccountEconomy:
    """One account economy on a fresh anvil (saved under ``keep``), or read back from ``saved``."""
    if saved is not None:
        return AccountEconomy.load(saved / f"account-seed-{seed}")
    node = Anvil.start()
    try:
        started = time.monotonic()
        economy = generate_account(node, config)
        seconds = time.monotonic() - started
    finally:
        node.stop()
    if keep is not None:
        economy.save(keep / f"account-seed-{seed}")
    print(f"account seed {seed}: {economy.frames.transactions.height} transactions, generated in {seconds:.1f} s",
          file=sys.stderr)
    return economy


def build_account(seeds: list[int], quick: bool, keep: Path | None, saved: Path | None = None) -> dict[str, Any]:
    """The ``account`` block of the results file: economies, per-seed counts and pooled rates."""
    summaries, per_seed = [], []
    for seed in seeds:
        config = AccountEconomyConfig.small(seed) if quick else AccountEconomyConfig.benchmark(seed)
        economy = account_economy_of(seed, config, keep, saved)
        if economy.seed != seed or economy.sizes != config.sizes() or economy.version != ECONOMY_EVM_VERSION:
            raise SystemExit(f"account seed {seed}: the saved economy is not {ECONOMY_EVM_VERSION} at this size")
        counts = measure_account(economy.frames, economy.owners, economy.transactions, ACCOUNT_CHAIN,
                                 economy.heights)
        summaries.append(economy.summary())
        per_seed.append({k: {"k": c.k, "n": c.n} for k, c in counts.items()})
    rates = summarize([{k: Count(v["k"], v["n"]) for k, v in c.items()} for c in per_seed], ACCOUNT_METRICS)
    sizes = (AccountEconomyConfig.small(0) if quick else AccountEconomyConfig.benchmark(0)).sizes()
    return {"generator": ECONOMY_EVM_VERSION, "chain": ACCOUNT_CHAIN, "node": summaries[0]["node"],
            "seeds": seeds, "sizes": sizes, "parameters": DepositParams().__dict__,
            "economies": [{k: v for k, v in s.items() if k != "node"} for s in summaries],
            "counts_per_seed": per_seed, "rates": rates}


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def render_markdown(results: dict[str, Any], json_name: str) -> str:
    """The Markdown page, every number taken from ``results`` (the JSON file)."""
    from heuristics_text import ACCOUNT_METHOD, LITERATURE, METHOD

    eco = results["economies"]
    lines = [
        "# Error rates of the heuristics, measured on ground truth",
        "",
        f"Generated by `python benchmarks/heuristics.py` from `{json_name}` — do not edit by hand. "
        f"Generator `{results['generator']}`, node `{results['node']}`, chain `{results['chain']}`, "
        f"seeds {', '.join(str(s) for s in results['seeds'])}.",
        "",
        "| seed | blocks | transactions | addresses | entities | CoinJoins | peel steps |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in eco:
        kinds = e["kinds"]
        lines.append(f"| {e['seed']} | {e['blocks']} | {e['transactions']} | {e['addresses']} | {e['entities']} | "
                     f"{kinds.get('coinjoin', 0)} | {kinds.get('peel', 0)} |")
    lines += ["", "Sizes per seed: " + ", ".join(f"{k} {v}" for k, v in results["sizes"].items()) + ".", "",
              "## Measured rates", "", results["intervals"], "",
              "| rate | value | 95 % interval | interval | k / n (pooled) | per seed |",
              "|---|---:|---|---|---:|---|"]
    lines += _rate_rows(results["rates"], METRICS)
    account = results.get("account")
    if account is not None:
        lines += ["", *_account_section(account)]
    return "\n".join(lines + ["", METHOD, "", *([ACCOUNT_METHOD, ""] if account else []), LITERATURE, ""])


def _rate_rows(rates: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    lines = []
    for key in metrics:
        r = rates.get(key)
        if r is None:
            continue
        interval = "—" if r["lo"] is None else f"{r['lo']:.3f} – {r['hi']:.3f}"
        lines.append(f"| {r['name']} (`{key}`) | {_fmt(r['value'])} | {interval} | {r['interval']} | "
                     f"{r['k']:,} / {r['n']:,} | {', '.join(f'{v:.3f}' for v in r['per_seed'])} |")
    return lines


def _account_section(account: dict[str, Any]) -> list[str]:
    """The account side's tables, every number from the JSON file's ``account`` block."""
    params = ", ".join(f"{k} {v}" for k, v in account["parameters"].items())
    lines = [
        "## Account side: deposit-address reuse and the account trace",
        "",
        f"Generator `{account['generator']}`, node `{account['node']}`, chain `{account['chain']}`, seeds "
        f"{', '.join(str(s) for s in account['seeds'])}; heuristic parameters: {params}.",
        "",
        "| seed | blocks | transactions | transfers | addresses | entities | deposit addresses | sweeps | "
        "ownership file (sha256) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for e in account["economies"]:
        lines.append(f"| {e['seed']} | {e['blocks']} | {e['transactions']} | {e['transfers']} | {e['addresses']} | "
                     f"{e['entities']} | {e['deposit_addresses']} | {e['kinds'].get('sweep', 0)} | "
                     f"`{e['owners_sha256'][:16]}…` |")
    lines += ["", "Sizes per seed: " + ", ".join(f"{k} {v}" for k, v in account["sizes"].items()) + ".", "",
              "| rate | value | 95 % interval | interval | k / n (pooled) | per seed |",
              "|---|---:|---|---|---:|---|"]
    return lines + _rate_rows(account["rates"], ACCOUNT_METRICS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 1,2,3,4,5; --quick 1,2)")
    parser.add_argument("--quick", action="store_true", help="the test suite's economy size, to a temp file")
    parser.add_argument("--out", type=Path, default=None, help=f"results JSON (default {JSON_OUT})")
    parser.add_argument("--keep", type=Path, default=None, help="also save each economy's frames and truth here")
    parser.add_argument("--from", dest="saved", type=Path, default=None,
                        help="measure economies saved earlier with --keep (DIR/seed-N) instead of generating")
    parser.add_argument("--render-only", action="store_true", help="only re-render the .md from the JSON")
    parser.add_argument("--json", action="store_true", help="print the results JSON on stdout")
    parser.add_argument("--side", choices=("both", "utxo", "account"), default="both",
                        help="regenerate only one side and keep the other's block of the existing JSON as it is")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    out = args.out or (Path(tempfile.mkdtemp(prefix="error-rates-")) / "error-rates.json" if args.quick
                       else JSON_OUT)
    if not args.render_only:
        seeds = [int(s) for s in (args.seeds or ("1,2" if args.quick else "1,2,3,4,5")).split(",")]
        previous = json.loads(out.read_text()) if args.side != "both" and out.exists() else None
        if args.side == "account":
            if previous is None:
                raise SystemExit(f"--side account merges into an existing results file; {out} has none")
            results = previous
        else:
            results = build(seeds, args.quick, args.keep, args.saved)
        if args.side != "utxo":
            results["account"] = build_account(seeds, args.quick, args.keep, args.saved)
        elif previous is not None and "account" in previous:
            results["account"] = previous["account"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    results = json.loads(out.read_text())
    out.with_suffix(".md").write_text(render_markdown(results, out.name))
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    if args.json:
        print(json.dumps(results["rates"] | results.get("account", {}).get("rates", {}), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
