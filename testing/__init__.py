# SPDX-License-Identifier: Apache-2.0
"""Development-only helpers: local nodes, test workloads and a Bolt test server.

Used by ``tests/``, ``benchmarks/`` and ``scripts/`` only. The product packages (``tracer``,
``adapters``, ``graph``, ``cli``, ``jobs``) never import this package, and it is not installed
with them (``[tool.setuptools.packages.find]`` in ``pyproject.toml``): it is imported from the
repository root (pytest's ``pythonpath``; the benchmarks and scripts put the root on ``sys.path``).

* :mod:`testing.devnodes` starts and stops ``litecoind -regtest`` and ``anvil`` on 127.0.0.1.
* :mod:`testing.regtest_workload` makes chain data on a regtest ``litecoind``.
* :mod:`testing.devcontracts` deploys and drives the test contracts (``fixtures/contracts/``) on anvil.
* :mod:`testing.devserver` runs ArcadeDB with its Neo4j Bolt listener in a subprocess
  (:mod:`testing.arcadedb_child`).
"""
