# SPDX-License-Identifier: Apache-2.0
"""How a long job reports progress without knowing who watches: the CLI hands in a rich progress
bar on stderr, a library caller :data:`NO_PROGRESS`."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "NO_PROGRESS"]


class Progress(Protocol):
    """Progress of one job: ``start`` once the amount of work is known (``None``: unknown), ``advance``
    as items (blocks, addresses, wallets) are done with the transactions they held, ``stop`` at the end."""

    def start(self, total: int | None, unit: str, *, done: int = 0) -> None: ...

    def advance(self, items: int, transactions: int = 0) -> None: ...

    def stop(self) -> None: ...


class _NoProgress:
    def start(self, total: int | None, unit: str, *, done: int = 0) -> None:
        pass

    def advance(self, items: int, transactions: int = 0) -> None:
        pass

    def stop(self) -> None:
        pass


#: reports nothing
NO_PROGRESS: Progress = _NoProgress()
