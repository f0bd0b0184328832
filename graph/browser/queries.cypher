// SPDX-License-Identifier: Apache-2.0
// Saved Cypher queries for analysts browsing a tracer graph in Neo4j Browser (graph/model.py).
// Read-only. Every query is parameterized; set the parameters once per session:
//   :param case => 'case-2026-001'
//   :param chain => 'eth'
//   :param address => '0x...'
//   :param limit => 100
// Queries that do not filter by chain or address accept $chain => null for "all chains".
//
// Amounts: UTXO values (Output.value, HAS_OUTPUT.value) are integers in base units (satoshi).
// TRANSFER.value and Transaction.fee are exact DECIMAL STRINGS (uint256 does not fit Neo4j's
// 64-bit integers): never toInteger()/sum() them (wrong or an error above 2^63). To order by
// amount, ORDER BY size(value) DESC, value DESC: for non-negative integers written without
// leading zeros, the longer string is the larger number and equal lengths compare like numbers.
// Hop limits in variable-length patterns (*..6) must be literals in Cypher: edit them in place.
// Paths follow the money: each hop no earlier than the one before it (time order), in one asset,
// and never through a fee (TRANSFER kind 'fee': paid to the miner / 0x000... or burned).
// Trace results (graph push): (:Case)-[:RAN]->(:Trace)-[:REACHED]->(:Address) for the endings and
// (:Address)-[:FLOW]->(:Address) for every traced hop; FLOW.amount / REACHED.amount are exact
// decimal strings in base units, amount_coins the same in coin units, time epoch seconds.
// Sanctioned = a Tag with category 'sanctioned' OR a label mentioning OFAC (case-insensitive),
// because OFAC SDN imports are labelled, not always categorised.
// Each query below is one "// name:" line, one "// description:" line and the query.

// name: case-seeds
// description: Seed addresses of case $case with the seed label and the tags of each seed.
MATCH (c:Case {name: $case})-[s:SEED]->(a:Address)
OPTIONAL MATCH (a)-[:HAS_TAG]->(t:Tag)
RETURN a.chain AS chain, a.address AS address, s.label AS seed_label, s.source AS seed_source,
       collect(DISTINCT t.label) AS tags, collect(DISTINCT t.category) AS categories
ORDER BY chain, address
LIMIT $limit;

// name: case-graph
// description: Case $case, its seeds and their tags as a graph (a starting view to expand from).
MATCH p = (c:Case {name: $case})-[:SEED]->(a:Address)
OPTIONAL MATCH q = (a)-[:HAS_TAG]->(:Tag)
RETURN p, q
LIMIT $limit;

// name: seed-to-exchange-transfers
// description: Account chains: TRANSFER paths of up to 6 hops from a seed of case $case to an address tagged exchange, in time order, one asset, no fees.
MATCH (c:Case {name: $case})-[:SEED]->(s:Address)
MATCH p = (s)-[ts:TRANSFER*1..6]->(x:Address)-[:HAS_TAG]->(t:Tag {category: 'exchange'})
WHERE x <> s AND none(r IN ts WHERE r.kind = 'fee') AND all(r IN ts WHERE r.asset = head(ts).asset)
  AND all(i IN range(0, size(ts) - 2) WHERE ts[i].timestamp <= ts[i + 1].timestamp)
RETURN p, size(ts) AS hops, [r IN ts | r.txid] AS txids, last(ts).value AS value, last(ts).asset AS asset
ORDER BY hops, txids
LIMIT $limit;

// name: seed-to-exchange-outputs
// description: UTXO chains: output/spend chains of up to 6 transactions from outputs locked to a seed of case $case to an output locked to an address tagged exchange.
MATCH (c:Case {name: $case})-[:SEED]->(s:Address)<-[:LOCKED_TO]-(o:Output)
MATCH p = (o)-[:SPENT_IN|HAS_OUTPUT*2..12]->(hit:Output)-[:LOCKED_TO]->(x:Address)-[:HAS_TAG]->(t:Tag {category: 'exchange'})
WHERE x <> s
RETURN s, p, (length(p) - 2) / 2 AS transactions
ORDER BY transactions
LIMIT $limit;

// name: largest-flows-out
// description: Largest single amounts leaving address $address on chain $chain (TRANSFER without fees, or outputs of transactions it spends in), exact decimal strings ordered by the length trick.
CALL {
  MATCH (a:Address {chain: $chain, address: $address})-[r:TRANSFER]->(b:Address)
  WHERE r.kind <> 'fee'
  RETURN r.txid AS txid, r.kind AS kind, r.asset AS asset, [b.address] AS counterparties, r.value AS value
  UNION ALL
  MATCH (a:Address {chain: $chain, address: $address})<-[:LOCKED_TO]-(:Output)-[:SPENT_IN]->(tx:Transaction)
  WITH DISTINCT a, tx
  MATCH (tx)-[h:HAS_OUTPUT]->(:Output)-[:LOCKED_TO]->(b:Address)
  WHERE b <> a
  RETURN tx.txid AS txid, 'output' AS kind, 'native' AS asset, [b.address] AS counterparties, toString(h.value) AS value
}
RETURN txid, kind, asset, counterparties, value
ORDER BY size(value) DESC, value DESC
LIMIT $limit;

// name: largest-flows-in
// description: Largest single amounts reaching address $address on chain $chain (TRANSFER, or outputs locked to it with the addresses that funded the transaction).
CALL {
  MATCH (b:Address)-[r:TRANSFER]->(a:Address {chain: $chain, address: $address})
  WHERE r.kind <> 'fee'
  RETURN r.txid AS txid, r.kind AS kind, r.asset AS asset, [b.address] AS counterparties, r.value AS value
  UNION ALL
  MATCH (tx:Transaction)-[h:HAS_OUTPUT]->(:Output)-[:LOCKED_TO]->(a:Address {chain: $chain, address: $address})
  OPTIONAL MATCH (tx)<-[:SPENT_IN]-(:Output)-[:LOCKED_TO]->(b:Address)
  WITH tx, h, collect(DISTINCT b.address) AS senders
  RETURN tx.txid AS txid, 'output' AS kind, 'native' AS asset, senders AS counterparties, toString(h.value) AS value
}
RETURN txid, kind, asset, counterparties, value
ORDER BY size(value) DESC, value DESC
LIMIT $limit;

// name: sanctioned-exposure
// description: Everything touching a sanctioned address (Tag category sanctioned or label containing OFAC) on chain $chain (null = all chains): transfers in and out, outputs locked to it and the transactions that created or spent them.
MATCH (x:Address)-[:HAS_TAG]->(t:Tag)
WHERE (t.category = 'sanctioned' OR toUpper(t.label) CONTAINS 'OFAC') AND ($chain IS NULL OR x.chain = $chain)
MATCH p = (t)<-[:HAS_TAG]-(x)-[r:TRANSFER]-(:Address)
WHERE r.kind <> 'fee'
RETURN p
LIMIT $limit
UNION
MATCH (x:Address)-[:HAS_TAG]->(t:Tag)
WHERE (t.category = 'sanctioned' OR toUpper(t.label) CONTAINS 'OFAC') AND ($chain IS NULL OR x.chain = $chain)
MATCH p = (t)<-[:HAS_TAG]-(x)<-[:LOCKED_TO]-(:Output)-[:HAS_OUTPUT|SPENT_IN]-(:Transaction)
RETURN p
LIMIT $limit;

// name: case-sanctioned-paths
// description: Paths of up to 6 TRANSFER hops (no fees) between a seed of case $case and a sanctioned address, in either direction, shortest first.
MATCH (c:Case {name: $case})-[:SEED]->(s:Address)
MATCH p = (s)-[ts:TRANSFER*1..6]-(x:Address)-[:HAS_TAG]->(t:Tag)
WHERE x <> s AND (t.category = 'sanctioned' OR toUpper(t.label) CONTAINS 'OFAC')
  AND none(r IN ts WHERE r.kind = 'fee')
RETURN p, size(ts) AS hops, x.address AS sanctioned, [r IN ts | r.txid] AS txids
ORDER BY hops, txids
LIMIT $limit;

// name: address-transactions
// description: Transactions of address $address on chain $chain: UTXO via LOCKED_TO/HAS_OUTPUT/SPENT_IN, account chains via TRANSFER, in block order (unconfirmed last).
CALL {
  MATCH (a:Address {chain: $chain, address: $address})<-[:LOCKED_TO]-(:Output)<-[:HAS_OUTPUT]-(tx:Transaction)
  RETURN tx.txid AS txid, tx.block_height AS block_height, tx.position AS position, tx.timestamp AS timestamp,
         'receives' AS role
  UNION
  MATCH (a:Address {chain: $chain, address: $address})<-[:LOCKED_TO]-(:Output)-[:SPENT_IN]->(tx:Transaction)
  RETURN tx.txid AS txid, tx.block_height AS block_height, tx.position AS position, tx.timestamp AS timestamp,
         'spends' AS role
  UNION
  MATCH (a:Address {chain: $chain, address: $address})-[r:TRANSFER]->(:Address)
  RETURN r.txid AS txid, r.block_height AS block_height, r.tx_index AS position, r.timestamp AS timestamp,
         'sends' AS role
  UNION
  MATCH (:Address)-[r:TRANSFER]->(a:Address {chain: $chain, address: $address})
  RETURN r.txid AS txid, r.block_height AS block_height, r.tx_index AS position, r.timestamp AS timestamp,
         'receives' AS role
}
RETURN txid, block_height, position, timestamp, collect(DISTINCT role) AS roles
ORDER BY block_height, position, txid
LIMIT $limit;

// name: address-neighbourhood
// description: Address $address on chain $chain with its tags, cluster, transfers and outputs, as a graph.
MATCH (a:Address {chain: $chain, address: $address})
OPTIONAL MATCH p = (a)-[:HAS_TAG|IN_CLUSTER|TRANSFER|LOCKED_TO]-()
RETURN a, p
LIMIT $limit;

// name: cluster-members
// description: Members of the cluster(s) of address $address on chain $chain (the address included) with their tags.
MATCH (a:Address {chain: $chain, address: $address})-[:IN_CLUSTER]->(cl:Cluster)
MATCH (cl)<-[:IN_CLUSTER]-(m:Address)
OPTIONAL MATCH (m)-[:HAS_TAG]->(t:Tag)
RETURN cl.cluster_id AS cluster, cl.source AS heuristic, m.address AS member,
       collect(DISTINCT t.label) AS tags, collect(DISTINCT t.category) AS categories
ORDER BY cluster, member
LIMIT $limit;

// name: case-traces
// description: Trace runs of case $case pushed to this database: run, question, model and manifest hash (the case's evidence).
MATCH (c:Case {name: $case})-[:RAN]->(t:Trace)
RETURN t.number AS number, t.run AS run, t.chain AS chain, t.direction AS direction, t.model AS model,
       t.seed_value AS seed_value, t.flows AS flows, t.manifest_sha256 AS manifest_sha256
ORDER BY number
LIMIT $limit;

// name: case-trail
// description: The FLOW trail of case $case's pushed traces, hop by hop in time order (amounts in coin units; returns paths too, for the graph view).
MATCH (c:Case {name: $case})-[:RAN]->(t:Trace)
MATCH p = (a:Address)-[f:FLOW]->(b:Address)
WHERE f.trace = t.uid
RETURN t.number AS trace, t.model AS model, f.time AS time, f.time_utc AS time_utc, a.address AS from_address,
       b.address AS to_address, f.amount AS value, f.amount_coins AS amount, f.symbol AS symbol, f.txid AS txid,
       f.hop_id AS hop, p
ORDER BY trace, time, hop
LIMIT $limit;

// name: trace-endings
// description: Where case $case's traces ended (REACHED), largest amount first within each trace, with the share of the seeds' value.
MATCH (c:Case {name: $case})-[:RAN]->(t:Trace)-[r:REACHED]->(a:Address)
RETURN t.number AS trace, t.model AS model, r.ending AS ending, a.address AS address, r.label AS label,
       r.category AS category, r.asset AS asset, r.amount AS value, r.amount_coins AS amount, r.symbol AS symbol,
       r.share AS share
ORDER BY trace, size(value) DESC, value DESC, address
LIMIT $limit;

// name: seed-to-exchange-trail
// description: Traced FLOW paths of each trace of case $case from a seed to an address tagged exchange, in time order: what each trace says reached the exchange and how (the trace uid in the pattern keeps the expansion to one trace).
MATCH (c:Case {name: $case})-[:RAN]->(t:Trace)
WITH c, t, t.uid AS run
MATCH (c)-[:SEED]->(s:Address)
MATCH p = (s)-[fs:FLOW*1..12 {trace: run}]->(x:Address)-[:HAS_TAG]->(g:Tag {category: 'exchange'})
WHERE all(i IN range(0, size(fs) - 2) WHERE fs[i].time <= fs[i + 1].time)
  AND all(f IN fs WHERE f.asset = head(fs).asset)
RETURN t.number AS trace, t.model AS model, s.address AS seed, x.address AS exchange_address, size(fs) AS hops,
       last(fs).amount AS value, last(fs).amount_coins AS amount, last(fs).symbol AS symbol, p
ORDER BY trace, hops, seed, exchange_address
LIMIT $limit;
