# SPDX-License-Identifier: Apache-2.0
"""The test fixtures start real nodes: litecoind in regtest and anvil, on 127.0.0.1."""

import time
from decimal import Decimal

from adapters.jsonrpc import JsonRpcClient
from testing.devnodes import Anvil, LitecoinRegtest

#: regtest block subsidy before the first halving, in litoshi
INITIAL_SUBSIDY = 50 * 100_000_000
#: regtest halves the subsidy every 150 blocks (mainnet: 840,000)
HALVING_INTERVAL = 150


def regtest_subsidy(height: int) -> int:
    """The coinbase subsidy (litoshi) at ``height`` on regtest: 50 LTC, halved every 150 blocks."""
    halvings = height // HALVING_INTERVAL
    return INITIAL_SUBSIDY >> halvings if halvings < 64 else 0


def _wait_for_receipt(node: JsonRpcClient, tx_hash: str, timeout: float = 10.0) -> dict[str, str]:
    """anvil mines a sent transaction right away, but its receipt can trail the send by a moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = node.call("eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.05)
    raise AssertionError(f"no receipt for {tx_hash} after {timeout}s")


def test_litecoind_mines_blocks_and_serves_them_back(litecoind: LitecoinRegtest) -> None:
    with litecoind.rpc() as node, litecoind.rpc(wallet="miner") as wallet:
        address = wallet.call("getnewaddress", "", "bech32")
        assert address.startswith("rltc1")
        start = node.call("getblockcount")
        hashes = node.call("generatetoaddress", 3, address)
        assert node.call("getblockcount") == start + 3
        block = node.call("getblock", hashes[-1], 2)
        coinbase = block["tx"][0]
        assert "coinbase" in coinbase["vin"][0]
        paid = [o for o in coinbase["vout"] if o["scriptPubKey"].get("addresses", [o["scriptPubKey"].get("address")])
                == [address]]
        # the subsidy depends on the height (other modules may have mined past a halving first), and
        # the coinbase also collects the fees of anything else in the block
        assert block["height"] == start + 3
        stats = node.call("getblockstats", hashes[-1], ["subsidy", "totalfee"])
        assert stats["subsidy"] == regtest_subsidy(block["height"])
        assert len(paid) == 1
        assert isinstance(paid[0]["value"], Decimal)  # amounts stay exact on the way in
        assert paid[0]["value"] == Decimal(regtest_subsidy(block["height"]) + stats["totalfee"]) / 10**8


def test_litecoind_has_a_transaction_index(litecoind: LitecoinRegtest) -> None:
    with litecoind.rpc() as node:
        info = node.call("getindexinfo")
        assert info["txindex"]["synced"] is True


def test_anvil_sends_an_eth_transfer_and_reads_it_back(anvil: Anvil) -> None:
    with anvil.rpc() as node:
        sender, receiver = node.call("eth_accounts")[:2]
        before = int(node.call("eth_getBalance", receiver, "latest"), 16)
        value = 1_234_567_890_123_456_789  # 1.234... ETH in wei
        tx_hash = node.call("eth_sendTransaction", {"from": sender, "to": receiver, "value": hex(value)})
        receipt = _wait_for_receipt(node, tx_hash)
        tx = node.call("eth_getTransactionByHash", tx_hash)
        assert int(tx["value"], 16) == value
        assert tx["to"].lower() == receiver.lower()
        assert receipt["status"] == "0x1"
        after = int(node.call("eth_getBalance", receiver, "latest"), 16)
        assert after - before == value
        assert int(node.call("eth_chainId"), 16) == 31337
