# SPDX-License-Identifier: Apache-2.0
"""The prose of ``docs/error-rates.md`` (method, literature, limits); every number there comes from the JSON file."""

METHOD = """## Method

**Ground truth.** `testing/economy.py` runs an economy on `litecoind -regtest` (Litecoin Core
0.21, the same JSON-RPC as Bitcoin Core 0.21). Every entity has its **own legacy wallet**, so coin
selection, change outputs and change addresses come from the wallet software, not from the script:
a miner; exchanges with a hot wallet, one deposit address per customer (reused for every deposit),
batched withdrawals (`sendmany`) and periodic consolidation of the deposits; users; vendors (some
publish one reused address) who cash out at their exchange; a market that takes orders at fresh
addresses and pays vendors in batches; a CoinJoin coordinator building JoinMarket-style (3–5
participants, equal outputs plus change), Wasabi-1.0-style (10–14 participants, ~0.1 LTC, a
coordinator fee) and Whirlpool-style (5 × 0.01 LTC, remixes and new entrants fed by their own tx0)
rounds, where each participant's wallet funds (`fundrawtransaction`) and signs its own part; and two
launderers who collect ransoms, consolidate them and peel them out one wallet payment at a time
(`launderer-2` first mixes as a JoinMarket taker). The true owner of every address is asked of the
wallets (`listaddressgroupings`, `getaddressinfo`); the true kind of every transaction is recorded
as it is made. A seed fixes every decision of the plan (who pays whom, how much, when, which rounds);
the wallets' keys and coin selection are their own, so a regenerated file differs within the
intervals, not exactly.

**What is measured** is the code the commands run: `tracer cluster run` (CoinJoin detection,
multi-input links with CoinJoins skipped, with `--change` the one-time-change links) and `tracer
trace` (the trace engine under each taint model, and the CoinJoin and peel-chain findings of its
result), over the canonical frames of the economy's blocks read back through the project's own
node adapter. Every definition (pairwise precision and recall, purity, link precision, true- and
wrong-entity share, ...) is in the docstring of `tracer/error_rates.py`.

**The trace rates** isolate the taint model: the seeds are a launderer's ransom receipts and every
address not the launderer's is tagged with its true owner, so each trail stops at the first other
entity; the truth is what the launderer's own transactions paid each entity (and what it still
holds). With perfect attribution everywhere else, what goes wrong is the model's choice of which
outputs the tainted value went to — in this economy, only where the value passes a CoinJoin.

**Regenerate** with `python benchmarks/heuristics.py` (a fresh node per seed; a few minutes a
seed); `--render-only` rebuilds this page from the JSON file. The test suite runs one small
economy and checks its rates against this file (`tests/heuristics/`)."""

LITERATURE = """## Compared with published evaluations

- **Meiklejohn et al., "A Fistful of Bitcoins: Characterizing Payments Among Men with No Names",
  IMC 2013** — introduced heuristic 1 (multi-input) and heuristic 2 (one-time change). They had no
  complete ground truth: they labelled addresses by transacting with services themselves and
  named clusters from those labels. They report that the naive change rule collapses into super-clusters
  (large services merged), and they refine it (no self-change, a waiting period for reuse, excluding
  some services) to keep false positives low. `tracer` implements the unrefined rule, off by
  default: the measured one-time-change precision and the clustering rates with `--change` above
  show what it costs here.
- **Ermilov, Panov, Yanovich, "Automatic Bitcoin Address Clustering", ICMLA 2017** — combine the
  on-chain heuristics with off-chain information (addresses published together on forums and
  sites) and evaluate clusterings against that partial ground truth. Their ground truth is a set
  of known addresses on the real chain; ours is complete but synthetic.
- **Kappos, Yousaf, Stütz, Rollet, Haslhofer, Meiklejohn, "How to Peel a Million: Validating and
  Expanding Bitcoin Clusters", USENIX Security 2022** — a heuristic that follows peel chains (and so
  clusters their transactions and addresses), used with a machine-learning validation method to
  validate and expand existing clusterings, evaluated against a ground-truth dataset of real
  entities. Our peel-chain rate
  judges the simpler structural rule `tracer` uses (1-input, 2-output runs, as BlockSci's
  `looksLikePeelingChain`): its recall on true peel steps, its precision against every ordinary
  wallet that spends its own change the same way, and whether it picks the right output as the peel.
- **Möser and Narayanan, "Resurrecting Address Clustering in Bitcoin", FC 2022** — build a ground
  truth of transactions with known change from the real chain, measure the false-positive rates of
  individual change heuristics, train a model with low false-positive rates, and
  show how false change links collapse clusters. The one-time-change rates here are on one wallet
  software's behaviour only, which is the largest difference from their data.
- **J. Nick, "Data-Driven De-Anonymization in Bitcoin", ETH Zürich 2015** — ground truth for 37,585
  real wallets (from a Bloom-filter leak): with the multi-input heuristic alone an adversary finds on
  average 68.59 % of a victim's addresses. That is a per-wallet address recall; the pairwise recall
  above counts pairs, which weighs large entities (exchanges) more and is lower for the same clusters.

## Where this economy differs from a real chain

- **One wallet software.** Every entity runs Litecoin Core 0.21's legacy wallet; real chains mix
  many wallets whose change and coin selection differ (address types, output order, round amounts),
  which the change heuristics depend on.
- **Few, small entities** (dozens, not millions), a few hundred to a few thousand transactions, and
  scripted services: deposit addresses reused per customer, batched withdrawals, consolidation.
- **Imitated CoinJoins.** The shapes are those the detector looks for, at Litecoin amounts and with
  the pool denomination it knows; real rounds have their coordinators' fee structures, Tx0 outputs
  and toxic change, and remix histories. Recall here is an upper bound for these shapes.
- **Co-spending.** The only transactions that spend several entities' coins are the CoinJoins; a
  real chain also has PayJoins, shared custody and services spending customers' coins, so the
  multi-input precision here is an upper bound.
- **Complete data.** The frames hold every block of the economy; a case holds a slice, so "never
  seen before" in the one-time-change rule misfires more often in a case than here.
- **Perfect attribution in the trace.** Every address but the suspect's carries its true owner; a
  real trace also inherits the errors of its tags and clusters.

These rates are measured properties of the heuristics under the conditions above; they describe the
direction and size of each heuristic's failure modes, not the error of a particular case."""

ACCOUNT_METHOD = """## Method: the account side

**Ground truth.** `testing/economy_evm.py` runs an account economy on a private `anvil` (Foundry,
chain id 31337) per seed. Every address is derived from the seed and a label, and sent from with
`anvil_autoImpersonateAccount`, so the owner of every address is known by construction and the
same seed gives the same addresses, amounts, blocks and transaction ids (the ownership file's
SHA-256 is in the table above; only block times differ between runs). Each block's transactions go
out in one JSON-RPC batch with explicit nonces, at a fixed legacy gas price. Entities: a funder;
exchanges, each with a hot wallet and one deposit address per customer (issued at the first
deposit, reused for every later one) that sweeps to the hot wallet after a delay (usually one
block, sometimes 2-5 or 8-15, so that deposits arriving meanwhile are swept together), ETH as the
balance minus the gas, tokens after the hot wallet has sent the gas (a "top-up"), withdrawals
sometimes paid straight into the customer's deposit address at another exchange; users with 2-4
addresses each who deposit from any of them, pay merchants and each other and move funds between
their own addresses; merchants, half of whom publish their exchange deposit address as their payment
address; and a launderer who drains victims' addresses (ETH and an ERC-20 token deployed from
`fixtures/contracts/TestToken.sol`), splits the loot over fresh addresses, forwards the ETH through
more fresh addresses (each hop forwards its whole balance minus gas), pays the token addresses'
gas from a separate address of its own, and pays out to its own deposit address at one exchange,
to a merchant and to an over-the-counter buyer (a user who then spends as usual). The chain is
read back through the project's own EVM adapter (`trace_block`, receipts, token logs).

**What is measured** is `tracer/deposit_reuse.py` at its default parameters (above) over the
canonical `transfers` frame: the user clusters its deposit-reuse links make (pairwise precision,
recall, purity, link precision, over-merged clusters, over every address not an exchange's), the
deposit addresses it assigns to hot wallets (exchange attribution), and the account trace engine
(`tracer trace` on an account chain) under haircut and FIFO, seeded with the launderer's theft
address, with **only the hot wallets tagged** (category exchange): the trail must pass the deposit
addresses to reach an exchange, and runs on through merchants and users, who are not tagged. The
truth of the trace is what the launderer's own transfers paid each entity (a deposit address is
its exchange's). Definitions: the docstring of `tracer/error_rates_account.py`.

**Regenerate** only this side with `python benchmarks/heuristics.py --side account` (seconds; the
UTXO numbers are kept as they are in the JSON file). `tests/heuristics/test_economy_account.py` runs
one small account economy in the test suite and checks its rates against this file.

### Compared with Victor (FC 2020)

- **F. Victor, "Address Clustering Heuristics for Ethereum", Financial Cryptography 2020 (LNCS
  12059, pp. 617-633)** — proposes the deposit-address heuristic (with airdrop multi-participation
  and token-authorization heuristics), starting from exchange addresses known from labels and
  matching each forward to an exchange with a receipt of the forwarding address at most 3,200
  blocks earlier and at most 0.01 ether larger (token amounts equal). Over the first four years of
  Ethereum the heuristics together cluster 17.9 % of all active externally owned accounts into more
  than 340,000 entities that likely control several addresses, the deposit-address heuristic being
  the most effective. That is a measure of **applicability** (how many addresses get linked), not
  of error: the paper has no ground truth of owners, so it reports no precision or recall, and the
  rates above cannot be compared with a number of its. What can be compared is the mechanism: here
  the hot wallets are inferred (at least `min_deposits` single-destination forwarders, not itself
  one), the amount test is a share of what was received so that batched sweeps count, and the
  measured failures are those the paper's design implies: merchants who give out an exchange
  deposit address link their paying customers, and deposits swept late or never are missed.

### Where the account economy differs from a real chain

- **Scripted behaviour, few entities**: a few dozen addresses per entity kind, hundreds of
  transactions over a few dozen blocks; every sweep delay is far below the 3,200-block window, so
  "swept too late" never happens here and exchange-attribution recall is an upper bound.
- **Only externally owned accounts and one token**: no contract wallets, no exchange that sweeps
  through a contract (many do, with internal transactions), no DEX, no bridges.
- **No cold wallets and no hot-wallet consolidation**; real exchanges run several hot wallets
  and move funds among them, which the inferred hot-wallet rule can mistake for deposits.
- **Perfect tags for the trace**: every hot wallet carries its exchange; a real trace inherits the
  errors of its tags, and any deposit-address attribution it adds."""
