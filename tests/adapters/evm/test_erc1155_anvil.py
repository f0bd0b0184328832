# SPDX-License-Identifier: Apache-2.0
"""ERC-1155 transfers on a real chain: ``TransferSingle`` and ``TransferBatch`` from anvil become token rows.

The contract is ``fixtures/contracts/MultiToken.sol`` (a minimal EIP-1155 emitter compiled with the
project's solc-js flow; committed ABI + bytecode), deployed on the session's anvil and read back
through :class:`adapters.evm.node.EvmNode`.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from adapters.evm.node import EvmNode
from testing import devcontracts as dc
from testing.devnodes import Anvil
from tracer.chains import default_registry

ZERO = "0x0000000000000000000000000000000000000000"


def test_mint_single_and_batch_transfers_are_token_rows_with_ids(anvil: Anvil) -> None:
    with anvil.rpc() as rpc:
        acc = dc.accounts(rpc)
        token = dc.deploy(rpc, "MultiToken", sender=acc[6])
        mint = dc.transact(rpc, "MultiToken", token, "mint", [acc[6], 7, 1_000], sender=acc[6])
        dc.receipt(rpc, dc.transact(rpc, "MultiToken", token, "mint", [acc[6], 2**160, 5], sender=acc[6]))
        single = dc.transact(rpc, "MultiToken", token, "safeTransferFrom", [acc[6], acc[7], 7, 250, b""],
                             sender=acc[6])
        batch = dc.transact(rpc, "MultiToken", token, "safeBatchTransferFrom",
                            [acc[6], acc[8], [7, 2**160], [50, 5], b""], sender=acc[6])
        heights = [int(dc.receipt(rpc, t)["blockNumber"], 16) for t in (mint, single, batch)]
    with EvmNode(anvil.url, default_registry().get("anvil")) as node:
        fetched = node.fetch(list(range(heights[0], heights[-1] + 1)))
    rows = fetched.frames.transfers.filter(pl.col("kind") == "token").sort("block_height", "log_index", "trace_path")
    assert set(rows["asset"]) == {token}
    picked = rows.filter(pl.col("txid").is_in([mint.lower(), single.lower(), batch.lower()]))
    assert picked.select("trace_path", "token_id", "from_address", "to_address", "value").rows() == [
        (None, "7", ZERO, acc[6], Decimal(1_000)),
        (None, "7", acc[6], acc[7], Decimal(250)),
        ("item.0", "7", acc[6], acc[8], Decimal(50)),
        ("item.1", str(2**160), acc[6], acc[8], Decimal(5)),
    ]
    assert fetched.stats.skipped_transfer_logs == 0
