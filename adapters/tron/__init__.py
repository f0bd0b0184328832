# SPDX-License-Identifier: Apache-2.0
"""Tron: addresses, the HTTP API's JSON -> canonical frames, node / TronGrid clients, TronScan CSV."""
