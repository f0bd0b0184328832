# SPDX-License-Identifier: Apache-2.0
"""Graph stores: the embedded LadybugDB store (default) and Neo4j, behind one interface."""
