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
// description: Account chains: TRANSFER paths of up to 6 hops from a seed of case $case to an address tagged exchange.
MATCH (c:Case {name: $case})-[:SEED]->(s:Address)
MATCH p = (s)-[:TRANSFER*1..6]->(x:Address)-[:HAS_TAG]->(t:Tag {category: 'exchange'})
WHERE x <> s
RETURN p, length(p) - 1 AS hops
ORDER BY hops
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
// description: Largest single amounts leaving address $address on chain $chain (TRANSFER, or outputs of transactions it spends in), exact decimal strings ordered by the length trick.
CALL {
  MATCH (a:Address {chain: $chain, address: $address})-[r:TRANSFER]->(b:Address)
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
MATCH p = (t)<-[:HAS_TAG]-(x)-[:TRANSFER]-(:Address)
RETURN p
LIMIT $limit
UNION
MATCH (x:Address)-[:HAS_TAG]->(t:Tag)
WHERE (t.category = 'sanctioned' OR toUpper(t.label) CONTAINS 'OFAC') AND ($chain IS NULL OR x.chain = $chain)
MATCH p = (t)<-[:HAS_TAG]-(x)<-[:LOCKED_TO]-(:Output)-[:HAS_OUTPUT|SPENT_IN]-(:Transaction)
RETURN p
LIMIT $limit;

// name: case-sanctioned-paths
// description: Paths of up to 6 TRANSFER hops between a seed of case $case and a sanctioned address, in either direction.
MATCH (c:Case {name: $case})-[:SEED]->(s:Address)
MATCH p = (s)-[:TRANSFER*1..6]-(x:Address)-[:HAS_TAG]->(t:Tag)
WHERE x <> s AND (t.category = 'sanctioned' OR toUpper(t.label) CONTAINS 'OFAC')
RETURN p
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
// description: Members of the cluster(s) of address $address on chain $chain with their tags.
MATCH (a:Address {chain: $chain, address: $address})-[:IN_CLUSTER]->(cl:Cluster)<-[:IN_CLUSTER]-(m:Address)
OPTIONAL MATCH (m)-[:HAS_TAG]->(t:Tag)
RETURN cl.cluster_id AS cluster, cl.source AS heuristic, m.address AS member,
       collect(DISTINCT t.label) AS tags, collect(DISTINCT t.category) AS categories
ORDER BY cluster, member
LIMIT $limit;
