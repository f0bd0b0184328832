# SPDX-License-Identifier: Apache-2.0
"""``ingest frames`` checks every address of an export once per chain. Ethereum-family addresses are
confirmed in bulk (one keccak each, the case mapping vectorized): that check must agree exactly
with the address validator, which judges everything the bulk check does not confirm."""

from __future__ import annotations

import random

import polars as pl

from adapters.addresses import parse_address
from jobs.frames_ingest import _eip55_normal
from tracer.chains import default_registry
from tracer.errors import InvalidAddressError

ETH = default_registry().get("eth")


def _normal_by_validator(text: str) -> bool:
    try:
        return parse_address(ETH, text).address == text
    except InvalidAddressError:
        return False


def test_the_bulk_eip55_check_agrees_with_the_validator() -> None:
    rng = random.Random(24)
    samples = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
               "Robert'); DROP TABLE--", "", "0x123", "0x" + "G" * 40, "0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
               " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "rltc1qqyqszqgpqyqszqgpqyqszqgpqyqszqgpjt8zj4"]
    for _ in range(2_000):
        body = f"{rng.getrandbits(160):040x}"
        normal = parse_address(ETH, "0x" + body).address
        flipped = normal[:-1] + normal[-1].swapcase()
        samples += [normal, "0x" + body, "0x" + body.upper(), flipped, "0x" + normal[2:].swapcase()]
    confirmed = _eip55_normal(pl.Series(samples, dtype=pl.String)).to_list()
    assert confirmed == [_normal_by_validator(s) for s in samples]
    assert confirmed[:2] == [True, False]  # the EIP-55 example; its lower-case spelling is valid, not normal
