# SPDX-License-Identifier: Apache-2.0
"""Load ``bitcoinlib`` with a data directory the project controls, and teach it Litecoin regtest.

``bitcoinlib`` writes its data directory (``$BCL_DATA_DIR``, default ``~/.bitcoinlib``) the first
time it is imported and has no ``litecoin_regtest`` network (shared design notes §1). Every module
that needs ``bitcoinlib`` calls :func:`bitcoinlib_modules` instead of importing it at module level,
so the directory is chosen before the first import and nothing happens at our import time.
"""

from __future__ import annotations

import copy
import gc
import os
import warnings
from functools import cache
from pathlib import Path
from types import ModuleType

import platformdirs

__all__ = ["bitcoinlib_modules", "LITECOIN_REGTEST"]

LITECOIN_REGTEST = "litecoin_regtest"


@cache
def bitcoinlib_modules() -> tuple[ModuleType, ModuleType]:
    """Return ``(bitcoinlib.encoding, bitcoinlib.networks)`` after a one-time set-up."""
    if not os.environ.get("BCL_DATA_DIR"):
        data_dir = Path(platformdirs.user_cache_dir("tracer-engine")) / "bitcoinlib"
        data_dir.mkdir(parents=True, exist_ok=True)
        os.environ["BCL_DATA_DIR"] = str(data_dir)
    with warnings.catch_warnings():
        # bitcoinlib 0.7 leaves a file open and uses a deprecated SQLAlchemy call at import time;
        # neither is ours to fix, and collecting here keeps the ResourceWarning inside this block.
        warnings.simplefilter("ignore")
        import bitcoinlib.encoding as encoding
        import bitcoinlib.networks as networks

        gc.collect()

    definitions = networks.NETWORK_DEFINITIONS
    if LITECOIN_REGTEST not in definitions and "litecoin_testnet" in definitions:
        regtest = copy.deepcopy(definitions["litecoin_testnet"])
        regtest.update(
            {
                "description": "Litecoin Regression Test Network",
                "prefix_bech32": "rltc",
                "currency_name": "regtest-litecoin",
                "priority": 0,
            }
        )
        definitions[LITECOIN_REGTEST] = regtest
    return encoding, networks
