# SPDX-License-Identifier: Apache-2.0
"""The application layer: the work a command starts.

Ingest pipelines, trace, screening and cluster runs, the case workspace with its audit log, the
tag library and the case index. ``jobs`` wires ``adapters`` (chain I/O) and ``graph`` (stores) to
``tracer`` (pure algorithms); ``cli`` parses, calls one job and renders. Nothing here prints.
"""
