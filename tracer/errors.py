# SPDX-License-Identifier: Apache-2.0
"""One error tree for the whole project.

Every error the user can cause or fix derives from :class:`TracerError`. The CLI maps each
branch to one line of text and one exit code (see ``cli/errors.py``); library code never
exits or prints. ``adapters/errors.py`` and ``graph/errors.py`` extend this tree.
"""

from __future__ import annotations

__all__ = [
    "TracerError",
    "InputError",
    "InvalidAddressError",
    "UnknownChainError",
    "NotFoundError",
    "ConflictError",
    "ConfigError",
    "SchemaError",
    "SourceUnavailableError",
    "IntegrityError",
]


class TracerError(Exception):
    """Base of every error this project raises on purpose."""


class InputError(TracerError):
    """The user gave something we cannot accept (bad value, bad file, bad option)."""


class InvalidAddressError(InputError):
    """An address that fails its chain's encoding, checksum or prefix rules."""

    def __init__(self, address: str, chain: str, reason: str) -> None:
        self.address = address
        self.chain = chain
        self.reason = reason
        super().__init__(f"invalid {chain} address {address!r}: {reason}")


class UnknownChainError(InputError):
    """A chain key that the registry does not know."""

    def __init__(self, chain: str, known: list[str]) -> None:
        self.chain = chain
        self.known = known
        super().__init__(f"unknown chain {chain!r}; known chains: {', '.join(known)}")


class NotFoundError(InputError):
    """A named thing (case, seed, file) that does not exist."""


class ConflictError(InputError):
    """Creating something that already exists (e.g. a duplicate case name)."""


class ConfigError(InputError):
    """A configuration file or variable that cannot be read or is invalid."""


class SchemaError(InputError):
    """A frame that does not match its canonical schema (missing column, wrong type, bad value)."""


class SourceUnavailableError(TracerError):
    """A node, store or service that could not be reached or answered with an error.

    Distinct from :class:`InputError` so batch jobs can retry later (exit code 4).
    """


class IntegrityError(TracerError):
    """A result that breaks an invariant it must hold, e.g. trace endings that do not add up to the
    seed value under a value-conserving model (shared design notes §5). Not the user's input: a bug
    or damaged data, so it is not an :class:`InputError` (exit code 1)."""
