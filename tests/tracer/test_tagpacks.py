# SPDX-License-Identifier: Apache-2.0
"""Reading attribution tags: GraphSense TagPacks, tag CSVs and plain address lists (``tracer/tagpacks.py``).

Small inline TagPacks pin each rule (inheritance, confidence, currency mapping, the line of a bad
entry); the real TagPacks and OFAC lists in ``../shared/data`` show the rules hold on real files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.addresses import parse_address
from tracer.chains import Chain, default_registry
from tracer.errors import InputError
from tracer.tagpacks import (
    CONFIDENCE_LEVELS,
    SanctionsList,
    TagFileError,
    TagImport,
    parse_address_list,
    parse_confidence,
    parse_tag_csv,
    parse_tagpack,
)

REGISTRY = default_registry()
BTC = REGISTRY.get("btc")
ETH = REGISTRY.get("eth")

# Real mainnet addresses (the first entries of the shared walletexplorer and OFAC files).
HUOBI = "1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG"
BITTREX = "1JoFwz68wWLPHmEBeiBHA9XkanVLcWALNt"
SANCTIONED_ETH = "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1"


def normalize(chain: Chain, address: str) -> str:
    return parse_address(chain, address, registry=REGISTRY).address


def parse(text: str, **kwargs: bool) -> TagImport:
    return parse_tagpack(text, "pack.yaml", REGISTRY, normalize=normalize, **kwargs)


HEADER = """title: Test pack
creator: unit test
currency: BTC
category: exchange
source: https://example.org/header
confidence: service_data
lastmod: 2024-01-02
tags:
"""


def test_header_fields_are_inherited_unless_the_tag_overrides_them() -> None:
    result = parse_tagpack(HEADER + f"""- address: {HUOBI}
  label: Huobi.com
- address: {BITTREX}
  label: Bittrex hot wallet
  category: mixing_service
  source: https://example.org/tag
  confidence: 90
""", "pack.yaml", REGISTRY, normalize=normalize)
    rows = {r["address"]: r for r in result.tags.to_dicts()}
    assert rows[HUOBI] == {"chain": "btc", "address": HUOBI, "label": "Huobi.com", "category": "exchange",
                           "confidence": 50, "tagpack": "Test pack", "source": "https://example.org/header"}
    assert rows[BITTREX] == {"chain": "btc", "address": BITTREX, "label": "Bittrex hot wallet",
                             "category": "mixing_service", "confidence": 90, "tagpack": "Test pack",
                             "source": "https://example.org/tag"}
    assert result.name == "Test pack" and result.read == 2 and result.rows == 2
    assert result.meta == {"title": "Test pack", "creator": "unit test", "lastmod": "2024-01-02"}


def test_category_falls_back_to_abuse_then_to_the_first_concept() -> None:
    text = """title: t
source: s
currency: ETH
label: l
abuse: ransomware
tags:
- address: '0x0000000000000000000000000000000000000001'
- address: '0x0000000000000000000000000000000000000002'
  category: Exchange
"""
    rows = parse(text).tags.select("address", "category").rows()
    assert rows == [("0x0000000000000000000000000000000000000001", "ransomware"),
                    ("0x0000000000000000000000000000000000000002", "exchange")]
    concepts = text.replace("abuse: ransomware\n", "concepts:\n- mixing_service\n- exchange\n")
    assert parse(concepts).tags["category"].to_list() == ["mixing_service", "exchange"]


def test_confidence_levels_follow_graphsense_and_integers_are_accepted() -> None:
    assert CONFIDENCE_LEVELS["ownership"] == 100 and CONFIDENCE_LEVELS["authority_data"] == 60
    assert CONFIDENCE_LEVELS["web_crawl"] == 20 and CONFIDENCE_LEVELS["unknown"] == 5
    assert [parse_confidence(v) for v in ("forensic", "Heuristic", "0", 100, None)] == [50, 10, 0, 100, None]
    for bad in ("101", "-1", "sure", True):
        with pytest.raises(Exception, match="confidence"):
            parse_confidence(bad)


def test_a_bad_confidence_in_a_tagpack_names_its_line() -> None:
    with pytest.raises(TagFileError, match=r"pack\.yaml, line 11: unknown confidence 'very_sure'"):
        parse(HEADER + f"- address: {HUOBI}\n  label: x\n  confidence: very_sure\n")


def test_currencies_map_to_our_chains_and_others_are_skipped_and_counted() -> None:
    text = """title: Mixed
source: s
label: l
tags:
- address: 1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG
  currency: XBT
- address: LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfb
  currency: LTC
- address: '0x01e2919679362dfbc9ee1644ba9c6da6d6245bb1'
  currency: eth
- address: '0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2'
  currency: USDC
  network: ETH
- address: qpf2cphc5dkuclkqur7lhj2yuqq9pk3hmukle77vhq
  currency: BCH
- address: t1MMXtBrSp1XG38Lx9cePcNUCJj5vdWfUWL
  currency: ZEC
- address: TX5GV4DyfxNB3rPkzZJhmqZ1efVmL4rEqG
  currency: USDT
- tx_hash: ab12
  currency: BTC
"""
    result = parse(text)
    assert result.tags.select("chain", "address").rows() == [
        ("btc", HUOBI),
        ("eth", SANCTIONED_ETH),  # normalized to its EIP-55 spelling
        ("eth", "0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2"),  # a USDC tag on the Ethereum network
        ("ltc", "LNf2JDiuunBz7GMDKFYHN4rq5meXWxiwfb"),
    ]
    assert result.skipped == {
        "currency BCH: no chain here": 1, "currency USDT: no chain here": 1, "currency ZEC: no chain here": 1,
        "no address (transaction or entity tag)": 1,
    }
    assert result.read == 8


def test_an_unknown_currency_is_refused_with_its_line() -> None:
    with pytest.raises(TagFileError, match=r"pack\.yaml, line 13: unknown currency 'DOGEZ'"):
        parse(HEADER + f"- address: {HUOBI}\n  label: a\n- address: {BITTREX}\n  label: b\n  currency: DOGEZ\n")
    with pytest.raises(TagFileError, match=r"line 3: unknown currency 'FOO'"):  # inherited from the header
        parse(HEADER.replace("currency: BTC", "currency: FOO") + f"- address: {HUOBI}\n  label: a\n")


def test_an_invalid_address_is_refused_with_its_line_unless_skipping_is_asked_for() -> None:
    text = HEADER + f"- address: {HUOBI}\n  label: a\n- address: 1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dX\n  label: b\n"
    with pytest.raises(TagFileError) as caught:
        parse(text)
    assert caught.value.line == 11 and caught.value.name == "pack.yaml"
    assert "checksum" in str(caught.value) and "nothing was imported" in str(caught.value)
    result = parse(text, skip_invalid=True)
    assert result.rows == 1 and result.skipped == {"invalid address": 1}
    assert result.skipped_lines == (11,)


def test_missing_label_or_source_and_broken_yaml_are_refused() -> None:
    with pytest.raises(TagFileError, match=r"line 9: tag has no label"):
        parse(HEADER + f"- address: {HUOBI}\n")
    with pytest.raises(TagFileError, match=r"line 8: tag has no source"):
        parse(HEADER.replace("source: https://example.org/header\n", "") + f"- address: {HUOBI}\n  label: a\n")
    with pytest.raises(TagFileError, match=r"line 4: not valid YAML \(mapping values are not allowed"):
        parse("title: x\ntags:\n- address: a\n   label: b\n")
    with pytest.raises(TagFileError, match="needs a 'tags:' list"):
        parse("title: x\n")
    with pytest.raises(TagFileError, match="empty"):
        parse("")


def test_duplicate_tags_are_kept_once_in_key_order() -> None:
    result = parse(HEADER + f"- address: {HUOBI}\n  label: a\n- address: {HUOBI}\n  label: a\n"
                   f"- address: {BITTREX}\n  label: a\n")
    assert result.duplicates == 1 and result.rows == 2
    assert result.tags["address"].to_list() == sorted([HUOBI, BITTREX])


def test_an_address_list_takes_its_fields_from_the_caller_and_ignores_comments() -> None:
    text = f"# OFAC SDN, ETH\n\n{SANCTIONED_ETH.lower()}\n0x983a81ca6FB1e441266D2FbcB7D8E530AC2E05A2  # Tornado\n"
    result = parse_address_list(text, "eth.txt", ETH, normalize=normalize, label="OFAC SDN", category="User",
                                source="https://www.treasury.gov/ofac/downloads/sdnlist.txt",
                                confidence="authority_data")
    assert result.name == "eth.txt (eth: OFAC SDN)" and result.format == "list" and result.read == 2
    assert result.tags.to_dicts()[0] == {
        "chain": "eth", "address": SANCTIONED_ETH, "label": "OFAC SDN", "category": "user", "confidence": 60,
        "tagpack": "eth.txt (eth: OFAC SDN)", "source": "https://www.treasury.gov/ofac/downloads/sdnlist.txt"}
    defaults = parse_address_list(text, "eth.txt", ETH, normalize=normalize)
    assert defaults.tags.row(0, named=True)["label"] == "eth" and defaults.tags["source"].unique().to_list() == [
        "eth.txt"]


def test_an_address_list_with_a_bad_line_is_refused_with_that_line() -> None:
    with pytest.raises(TagFileError, match=r"btc\.txt, line 3: invalid btc address '0xabc'"):
        parse_address_list(f"{HUOBI}\n\n0xabc\n", "btc.txt", BTC, normalize=normalize)


# ---- the real files ------------------------------------------------------------------------------


def _real(shared_data: Path, name: str, **kwargs: bool) -> TagImport:
    path = shared_data / "tagpacks" / name
    return parse_tagpack(path.read_text(encoding="utf-8"), name, REGISTRY, normalize=normalize, **kwargs)


def csv_tags(text: str, **kwargs: Any) -> TagImport:
    return parse_tag_csv(text, "attributions.csv", REGISTRY, normalize=normalize, **kwargs)


def test_a_tag_csv_gives_each_row_its_own_label_and_category() -> None:
    result = csv_tags(f"address,label,category\n{HUOBI},Huobi.com,exchange\n{BITTREX},Bittrex,exchange\n"
                      f"1Lud76Q98VRHCUiyK7XUs7AgFofrqXeP78,WannaCry,ransomware\n", chain=BTC)
    assert result.tags.select("address", "label", "category", "source").rows() == [
        ("1JoFwz68wWLPHmEBeiBHA9XkanVLcWALNt", "Bittrex", "exchange", "attributions.csv"),
        ("1Lud76Q98VRHCUiyK7XUs7AgFofrqXeP78", "WannaCry", "ransomware", "attributions.csv"),
        ("1vdXJDiDSzeUAoM7eAcWZPhM9wEKmH8dG", "Huobi.com", "exchange", "attributions.csv"),
    ]
    assert (result.name, result.format, result.read) == ("attributions.csv", "csv", 3)


def test_a_tag_csv_may_carry_source_confidence_and_chain_per_row() -> None:
    text = ("Address,Label,Category,Source,Confidence,Chain,Notes\n"
            f"{HUOBI},Huobi.com,exchange,https://www.walletexplorer.com,service_data,BTC,seen 2019\n"
            f"{SANCTIONED_ETH.lower()},SDN entry,,OFAC,authority_data,eth,\n"
            "qq3ym9lr0wnt5m0ln2rjpw3a5d8hcmrd3cxmh9lhm9,Some BCH,,x,,BCH,\n")
    result = csv_tags(text, category="user")
    assert result.tags.select("chain", "address", "label", "category", "confidence", "source").rows() == [
        ("btc", HUOBI, "Huobi.com", "exchange", 50, "https://www.walletexplorer.com"),
        ("eth", SANCTIONED_ETH, "SDN entry", "user", 60, "OFAC"),  # EIP-55 form; the default category
    ]
    assert result.skipped == {"currency BCH: no chain here": 1}
    assert result.meta == {"ignored_columns": "notes"}


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        (f"{HUOBI}\n", {"chain": BTC}, "attributions.csv, line 1: a tag CSV needs a header row with an 'address'"),
        (f"address,label\n{HUOBI},a,b\n", {"chain": BTC}, "line 2: 3 fields, the header has 2"),
        (f"address,label\n{HUOBI},a\n", {}, "line 2: no chain: add a 'chain' column or give"),
        (f"address,chain\n{HUOBI},DOGE2\n", {}, "line 2: unknown chain or currency 'DOGE2'"),
        (f"address,confidence\n{HUOBI},sure\n", {"chain": BTC}, "line 2: unknown confidence 'sure'"),
        (f"address,label\n\n{HUOBI}x,a\n", {"chain": BTC}, "line 3: invalid btc address"),
    ],
)
def test_a_bad_tag_csv_is_refused_with_its_line(text: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TagFileError, match="nothing was imported") as caught:
        csv_tags(text, **kwargs)
    assert message in str(caught.value)


def test_a_sanctions_list_is_named_and_dated() -> None:
    assert SanctionsList("OFAC SDN", "2024-09-27").label == "OFAC SDN (2024-09-27)"
    for name, day in (("", "2024-09-27"), ("OFAC SDN", "2024-9-27"), ("OFAC SDN", "yesterday")):
        with pytest.raises(InputError):
            SanctionsList(name, day)


def test_walletexplorer_tags_service_addresses(shared_data: Path) -> None:
    result = _real(shared_data, "walletexplorer.yaml")
    assert result.name == "WalletExplorer Tag Pack" and result.chains == {"btc": 386}
    huobi = result.tags.filter(address=HUOBI).to_dicts()
    assert huobi == [{"chain": "btc", "address": HUOBI, "label": "Huobi.com", "category": "exchange",
                      "confidence": 50, "tagpack": "WalletExplorer Tag Pack",
                      "source": f"https://www.walletexplorer.com/address/{HUOBI}"}]
    counts = dict(result.tags.group_by("category").len().iter_rows())
    assert counts["exchange"] == 120 and counts["mixing_service"] == 37 and counts["market"] == 16


def test_etherscan_addresses_take_their_eip55_form_and_the_header_category(shared_data: Path) -> None:
    result = _real(shared_data, "etherscan-wordcloud-exchange.yaml")
    assert result.chains == {"eth": 646}
    row = result.tags.filter(label="2GT_token (2GT)").row(0, named=True)
    # written in lower case in the file, stored checksummed
    assert row["address"] == "0xC96c1609A1a45CcC667B2b7FA6508e29617f7b69"
    assert (row["category"], row["confidence"]) == ("exchange", 20)  # web_crawl


def test_ransomware_tags_take_the_header_abuse_as_category(shared_data: Path) -> None:
    result = _real(shared_data, "ransomware.yaml")
    assert result.rows == 7178 and result.tags["category"].unique().to_list() == ["ransomware"]
    row = result.tags.filter(address="1Lud76Q98VRHCUiyK7XUs7AgFofrqXeP78").row(0, named=True)
    assert (row["label"], row["confidence"]) == ("7ev3n", 50)
    assert row["source"] == "https://zenodo.org/record/1238041#.XLQwopMzZR4"


def test_hacks_tagpack_mixes_categories_and_abuses(shared_data: Path) -> None:
    result = _real(shared_data, "hacks.yaml")
    assert result.rows == 608 and result.chains == {"btc": 608}
    row = result.tags.filter(address="11XgsFNfg8k1AuEwEDy5YiBBXAvc8hhS2").row(0, named=True)
    assert (row["label"], row["category"]) == ("Bitfinex hack", "service_hack")


def test_the_real_ofac_tagpack_has_a_tron_address_listed_as_btc(shared_data: Path) -> None:
    with pytest.raises(TagFileError, match=r"ofac\.yaml, line 1069: invalid btc address 'TUCsTq7TofTCJ"):
        _real(shared_data, "ofac.yaml")
    result = _real(shared_data, "ofac.yaml", skip_invalid=True)
    assert result.chains == {"btc": 384, "eth": 147, "ltc": 8, "trx": 3}  # Tron sanctioned wallets load too
    assert result.skipped_lines == (1069,) and result.read == 572
    assert result.skipped == {
        "currency BCH: no chain here": 7, "currency BSV: no chain here": 1, "currency BTG: no chain here": 1,
        "currency DASH: no chain here": 3, "currency USDT: no chain here": 9,
        "currency XMR: no chain here": 3, "currency XRP: no chain here": 1, "currency XVG: no chain here": 1,
        "currency ZEC: no chain here": 3, "invalid address": 1,
    }
    row = result.tags.filter(address="3K35dyL85fR9ht7UgzPfd1gLRRXQtNTqE3").row(0, named=True)
    assert row["label"] == "Asset listed under US Treasury OFAC Sanctions List" and row["category"] == "user"
    assert row["confidence"] is None  # the OFAC TagPack states no confidence


def test_every_real_tagpack_parses(shared_data: Path) -> None:
    files = sorted((shared_data / "tagpacks").glob("*.yaml"))
    assert len(files) == 5
    for path in files:
        result = _real(shared_data, path.name, skip_invalid=True)
        assert result.rows > 0 and result.tags["label"].null_count() == 0


@pytest.mark.parametrize(("name", "chain", "rows", "bad_lines"), [
    ("sanctioned_addresses_XBT.txt", "btc", 434, (355,)),
    ("sanctioned_addresses_ETH.txt", "eth", 152, ()),
    ("sanctioned_addresses_LTC.txt", "ltc", 10, ()),
])
def test_the_real_ofac_lists_parse(shared_data: Path, name: str, chain: str, rows: int,
                                   bad_lines: tuple[int, ...]) -> None:
    text = (shared_data / "sanctions" / name).read_text(encoding="utf-8")
    result = parse_address_list(text, name, REGISTRY.get(chain), normalize=normalize, skip_invalid=True)
    assert result.rows == rows and result.skipped_lines == bad_lines
    if bad_lines:
        with pytest.raises(TagFileError, match=rf"line {bad_lines[0]}: invalid btc address 'TUCsTq7"):
            parse_address_list(text, name, REGISTRY.get(chain), normalize=normalize)
