# SPDX-License-Identifier: Apache-2.0
"""The ``tracer`` command line: a thin Typer layer over the library."""
