# SPDX-License-Identifier: Apache-2.0
"""Ethereum-family (EVM) adapter: pure mappers from JSON-RPC responses to canonical frames (``mappers``)."""
