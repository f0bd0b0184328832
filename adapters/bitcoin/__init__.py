# SPDX-License-Identifier: Apache-2.0
"""Bitcoin-family (UTXO) adapters: Bitcoin Core JSON-RPC and its forks (litecoind)."""
