# SPDX-License-Identifier: Apache-2.0
"""Tron addresses: Base58Check (version 0x41) and hex forms, normalized to Base58; a bad checksum is
an error naming the address. Good addresses come from the recorded TronGrid answers in
``fixtures/tron/ledger-live`` and from the OFAC list in ``../shared``."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.addresses import parse_address
from adapters.tron.addresses import from_evm_word, parse_tron, to_hex
from tracer.chains import default_registry
from tracer.errors import InvalidAddressError

TRX = default_registry().get("trx")
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
HOLDER = "TL24LCps5FKwp3PoU1MvrYrwhi5LU1tHre"  # the account of the recorded answers
HOLDER_HEX = "416e3b44b96104b26f84057974a1f0c9880f7c9b13"


def test_the_registry_knows_tron() -> None:
    assert (TRX.key, TRX.symbol, TRX.decimals, TRX.is_account, TRX.is_evm) == ("trx", "TRX", 6, True, False)
    assert default_registry().get("tron") is TRX


@pytest.mark.parametrize(("given", "normal"), [
    (USDT, USDT), (USDT_HEX, USDT), ("0x" + USDT_HEX, USDT), (USDT_HEX.upper(), USDT),
    (HOLDER_HEX, HOLDER), (HOLDER, HOLDER)])
def test_both_forms_give_the_base58_spelling(given: str, normal: str) -> None:
    assert parse_address(TRX, given).address == normal
    assert to_hex(normal) == (USDT_HEX if normal == USDT else HOLDER_HEX)


def test_a_log_word_is_an_address() -> None:
    assert from_evm_word("0000000000000000000000006e3b44b96104b26f84057974a1f0c9880f7c9b13") == HOLDER
    assert from_evm_word("a614f803b6fd780986a42c78ec9c7f77e6ded13c") == USDT


@pytest.mark.parametrize("bad", [USDT[:-1] + "u", USDT[:5] + ("Z" if USDT[5] != "Z" else "Y") + USDT[6:]])
def test_a_flipped_character_is_a_checksum_error_naming_the_address(bad: str) -> None:
    with pytest.raises(InvalidAddressError) as caught:
        parse_address(TRX, bad)
    assert bad in str(caught.value) and "checksum" in caught.value.reason


@pytest.mark.parametrize(("bad", "why"), [
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "Ethereum-style"),
    ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "version byte 0x00"),  # a Bitcoin address: right checksum, wrong version
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6", "characters"),
    ("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj60", "not Base58")])
def test_other_texts_are_refused_with_the_reason(bad: str, why: str) -> None:
    with pytest.raises(InvalidAddressError) as caught:
        parse_address(TRX, bad)
    assert why in caught.value.reason


def test_a_tron_address_is_not_a_bitcoin_or_ethereum_one() -> None:
    registry = default_registry()
    for key in ("btc", "eth"):
        with pytest.raises(InvalidAddressError):
            parse_address(registry.get(key), USDT)


def test_the_ofac_trx_and_usdt_addresses_validate(shared_data: Path) -> None:
    lists = [shared_data / "sanctions" / f"sanctioned_addresses_{c}.txt" for c in ("TRX", "USDT")]
    tron = [a.strip() for p in lists for a in p.read_text().split() if a.strip().startswith("T")]
    assert len(tron) >= 6
    assert [parse_tron(a) for a in tron] == tron
