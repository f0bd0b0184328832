"""Addresses are validated per chain and stored in one normal form.

Bitcoin family: Base58Check with the chain's version bytes, Bech32 (segwit v0) and Bech32m
(taproot). Ethereum family: EIP-55. Vectors are from BIP-173/BIP-350 and well-known mainnet
addresses.
"""

from pathlib import Path

import pytest

from adapters.addresses import parse_address
from tracer.chains import default_registry
from tracer.errors import InvalidAddressError

CHAINS = default_registry()


@pytest.mark.parametrize(
    ("chain", "address", "normal", "kind"),
    [
        ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "p2pkh"),
        ("btc", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "p2sh"),
        # BIP-173 vector, upper case accepted and lowered
        ("btc", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "p2wpkh"),
        ("btc", "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
         "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "p2wsh"),
        # BIP-350 taproot vector (Bech32m)
        ("btc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
         "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "p2tr"),
        ("btc-testnet", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "p2pkh"),
        ("ltc", "LM2WMpR1Rp6j3Sa59cMXMs1SPzj9eXpGc1", "LM2WMpR1Rp6j3Sa59cMXMs1SPzj9eXpGc1", "p2pkh"),
        ("ltc", "MQMcJhpWHYVeQArcZR3sBgyPZxxRtnH441", "MQMcJhpWHYVeQArcZR3sBgyPZxxRtnH441", "p2sh"),
        # Litecoin still accepts Bitcoin-style "3..." P2SH
        ("ltc", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "p2sh"),
        ("eth", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "account"),
        ("eth", "0xFB6916095CA1DF60BB79CE92CE3EA74C37C5D359", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "account"),
        ("eth", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "account"),
    ],
)
def test_valid_addresses_are_normalized(chain: str, address: str, normal: str, kind: str) -> None:
    info = parse_address(CHAINS.get(chain), address)
    assert (info.chain, info.address, info.kind) == (CHAINS.get(chain).key, normal, kind)


@pytest.mark.parametrize(
    ("chain", "address", "reason"),
    [
        ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "checksum mismatch"),
        ("btc", "LM2WMpR1Rp6j3Sa59cMXMs1SPzj9eXpGc1", "used by ltc"),
        ("ltc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "used by btc"),
        ("btc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "Bech32"),
        # BIP-350: a v1 program with a Bech32 (not Bech32m) checksum is invalid
        ("btc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "Bech32"),
        ("btc", "Bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "Bech32"),  # mixed case
        ("ltc", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bech32 address of btc"),
        ("btc", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359", "Ethereum-style"),
        ("eth", "0xFB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "EIP-55 checksum mismatch"),
        ("eth", "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d35", "40 hexadecimal"),
        ("eth", "fb6916095ca1df60bb79ce92ce3ea74c37c5d359", "40 hexadecimal"),
        ("btc", "", "empty"),
        ("btc", "not an address", "not a Base58"),
    ],
)
def test_invalid_addresses_say_why(chain: str, address: str, reason: str) -> None:
    with pytest.raises(InvalidAddressError, match=reason):
        parse_address(CHAINS.get(chain), address)


def test_regtest_litecoin_bech32_uses_rltc() -> None:
    # rltc1 is Litecoin regtest's human-readable part; the same program under tltc1 is another chain
    info = parse_address(CHAINS.get("ltc-regtest"), "rltc1qs43p47v5mjpyqees0su7jj58e9qqwhuarld237")
    assert info.kind == "p2wpkh"
    with pytest.raises(InvalidAddressError):
        parse_address(CHAINS.get("ltc-testnet"), "rltc1qs43p47v5mjpyqees0su7jj58e9qqwhuarld237")


@pytest.mark.parametrize(("currency", "chain"), [("XBT", "btc"), ("LTC", "ltc"), ("ETH", "eth")])
def test_ofac_sanctioned_addresses_validate(shared_data: Path, currency: str, chain: str) -> None:
    """Every address of OFAC's list validates, except one TRON address filed under XBT."""
    lines = (shared_data / "sanctions" / f"sanctioned_addresses_{currency}.txt").read_text().split()
    rejected = []
    for address in lines:
        try:
            normal = parse_address(CHAINS.get(chain), address).address
            # OFAC files some Ethereum addresses in lower case; their normal form is EIP-55
            assert normal == address or (chain == "eth" and normal.lower() == address.lower())
        except InvalidAddressError:
            rejected.append(address)
    assert rejected == (["TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"] if currency == "XBT" else [])
    assert len(lines) > 0


@pytest.mark.parametrize("address", ["A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "11A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"])
def test_base58_with_missing_or_extra_leading_ones_is_refused(address: str) -> None:
    # a leading "1" encodes a zero byte: dropping or adding one is a different (invalid) string
    with pytest.raises(InvalidAddressError, match="25 bytes"):
        parse_address(CHAINS.get("btc"), address)
