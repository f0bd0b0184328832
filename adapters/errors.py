# SPDX-License-Identifier: Apache-2.0
"""Errors raised while talking to nodes and reading chain data (extends ``tracer.errors``)."""

from __future__ import annotations

from tracer.errors import InputError, SourceUnavailableError, TracerError

__all__ = [
    "NodeUnavailableError",
    "NodeAuthError",
    "RpcError",
    "MalformedResponseError",
    "SchemaDriftError",
    "WrongNetworkError",
    "HeightPastTipError",
    "ChainChangedError",
]


class NodeUnavailableError(SourceUnavailableError):
    """The node could not be reached, timed out, or is busy (HTTP 5xx, work queue full)."""


class NodeAuthError(InputError):
    """The node refused our credentials (HTTP 401/403): a configuration problem the user must fix."""


class RpcError(TracerError):
    """The node answered a call with a JSON-RPC error object."""

    def __init__(self, node: str, method: str, code: int | None, message: str) -> None:
        self.node = node
        self.method = method
        self.code = code
        self.message = message
        super().__init__(f"{node}: {method} failed (code {code}): {message}")


class MalformedResponseError(SourceUnavailableError):
    """The node answered with something that is not the JSON-RPC response we asked for."""


class SchemaDriftError(TracerError):
    """A node response carries fields the mapper does not know: a node upgrade we must review."""


class WrongNetworkError(InputError):
    """The node serves another network or coin than the chain asked for (Bitcoin-family nodes:
    ``getblockchaininfo.chain`` or the client's ``subversion``; EVM nodes: ``eth_chainId`` is not
    the chain id the registry gives the chain)."""


class HeightPastTipError(InputError):
    """A requested block height is above the node's best (latest) block."""


class ChainChangedError(SourceUnavailableError):
    """The node's best chain changed while a batch of blocks was fetched (blocks do not link, or a
    receipt or trace belongs to another block with the same height): retry after repairing.

    ``height`` is the block height at which the change was seen.
    """

    def __init__(self, message: str, height: int) -> None:
        super().__init__(message)
        self.height = height
