# SPDX-License-Identifier: Apache-2.0
"""Pure tracing algorithms and the project's shared vocabulary.

``tracer`` does no I/O: it holds the canonical frame schemas, the chain registry, exact
amount arithmetic and (in later modules) the taint models and heuristics. The other
packages import it; it imports none of them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tracer-engine")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
