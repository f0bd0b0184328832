# SPDX-License-Identifier: Apache-2.0
"""Exit codes and the one place where library errors become one-line messages.

Exit codes (documented in README and ``tracer --help``):

====  =====================================================================
0     success (for ``screen``: no hits)
1     failure: an unexpected error, a data integrity problem, a node error
2     usage error or bad input: invalid address, unknown chain or case,
      duplicate case, bad file or configuration; nothing was written
3     ``screen`` finished and found hits
4     a node, store or service was unreachable or busy; retry later
130   interrupted (Ctrl-C)
====  =====================================================================
"""

from __future__ import annotations

from tracer.errors import InputError, SourceUnavailableError, TracerError

__all__ = [
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_BAD_INPUT",
    "EXIT_HITS",
    "EXIT_UNAVAILABLE",
    "EXIT_INTERRUPTED",
    "exit_code_for",
    "EXIT_CODES_HELP",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_HITS = 3
EXIT_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 failure; 2 bad input or usage (nothing written); "
    "3 screening found hits; 4 node/store unreachable, retry later; 130 interrupted."
)


def exit_code_for(error: TracerError) -> int:
    """The exit code for a library error."""
    if isinstance(error, InputError):
        return EXIT_BAD_INPUT
    if isinstance(error, SourceUnavailableError):
        return EXIT_UNAVAILABLE
    return EXIT_FAILURE
