# SPDX-License-Identifier: Apache-2.0
"""Chain I/O: node RPC and files in, canonical frames (``tracer.schema``) out.

Adapters never write to a graph store and hold no tracing logic.
"""
