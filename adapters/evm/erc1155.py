# SPDX-License-Identifier: Apache-2.0
"""ERC-1155 multi-token transfer events, decoded from a receipt log (pure, no I/O).

EIP-1155 (https://eips.ethereum.org/EIPS/eip-1155) defines two events a compliant contract MUST
emit for every balance change (mints come ``from`` the zero address, burns go ``to`` it)::

    TransferSingle(address indexed _operator, address indexed _from, address indexed _to,
                   uint256 _id, uint256 _value)
    TransferBatch(address indexed _operator, address indexed _from, address indexed _to,
                  uint256[] _ids, uint256[] _values)

:func:`decode_erc1155` returns the items of one such log; :func:`adapters.evm.mappers.map_block`
turns each into a ``transfers`` row (kind ``token``, ``asset`` = the contract, ``token_id`` = the id
in decimal, ``value`` = how many of that id moved). A batch's items are told apart by
``trace_path = "item.<i>"`` (the item's position in the arrays), so the natural key
``(chain, txid, kind, log_index, trace_path)`` stays unique; a single transfer has ``trace_path``
null. The operator (who called, e.g. a marketplace) is not a party to the value movement and is not
kept.

A log with the right topic0 but another shape (not 4 topics, an indexed address whose upper 12
bytes are not zero, data that is not the ABI encoding of the arguments, arrays of different
lengths) gives ``None``: the caller counts it as a skipped log, as it does for odd ``Transfer`` logs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["TRANSFER_SINGLE_TOPIC", "TRANSFER_BATCH_TOPIC", "ERC1155_TOPICS", "Erc1155Transfer", "decode_erc1155"]

#: keccak256("TransferSingle(address,address,address,uint256,uint256)")
TRANSFER_SINGLE_TOPIC = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
#: keccak256("TransferBatch(address,address,address,uint256[],uint256[])")
TRANSFER_BATCH_TOPIC = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
ERC1155_TOPICS = frozenset({TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC})

_TOPIC_ADDRESS = re.compile(r"^0x0{24}([0-9a-fA-F]{40})$")
_WORD = 64  # hex digits in one 32-byte ABI word


@dataclass(frozen=True, slots=True)
class Erc1155Transfer:
    """One decoded ERC-1155 event. Addresses are lower-case ``0x`` hex (the caller spells them EIP-55)."""

    operator: str
    sender: str
    recipient: str
    #: ``(id, amount)`` per item, in the event's order (one item for ``TransferSingle``)
    items: tuple[tuple[int, int], ...]
    batch: bool

    def rows(self, checksum: Callable[[str], str]) -> Iterator[tuple[str | None, str, str, str, int]]:
        """``(trace_path, token_id, from, to, amount)`` of each item, addresses spelled by ``checksum``."""
        sender, recipient = checksum(self.sender), checksum(self.recipient)
        for i, (token_id, amount) in enumerate(self.items):
            yield (f"item.{i}" if self.batch else None), str(token_id), sender, recipient, amount


def decode_erc1155(topics: list[str], data: str) -> Erc1155Transfer | None:
    """The items of a ``TransferSingle`` / ``TransferBatch`` log, or ``None`` if it has another shape.

    ``topics`` and ``data`` are the log's fields as the node returns them (``data`` already checked
    to be ``0x`` + hex bytes); ``topics[0]`` must be one of :data:`ERC1155_TOPICS`.
    """
    if len(topics) != 4:
        return None
    parties = [_TOPIC_ADDRESS.fullmatch(t) if isinstance(t, str) else None for t in topics[1:]]
    if any(p is None for p in parties):
        return None
    operator, sender, recipient = ("0x" + p.group(1).lower() for p in parties if p is not None)
    body = data[2:]
    topic0 = str(topics[0]).lower()
    if topic0 == TRANSFER_SINGLE_TOPIC:
        if len(body) != 2 * _WORD:
            return None
        return Erc1155Transfer(operator, sender, recipient, ((_word(body, 0), _word(body, 1)),), False)
    if topic0 != TRANSFER_BATCH_TOPIC:
        return None
    ids = _uint_array(body, 0)
    values = _uint_array(body, 1)
    if ids is None or values is None or len(ids) != len(values):
        return None
    return Erc1155Transfer(operator, sender, recipient, tuple(zip(ids, values, strict=True)), True)


def _word(body: str, index: int) -> int:
    return int(body[index * _WORD : (index + 1) * _WORD], 16)


def _uint_array(body: str, head_slot: int) -> list[int] | None:
    """The ``uint256[]`` whose offset is in head slot ``head_slot`` (ABI dynamic encoding), or None
    when the offset or length points outside the data."""
    words = len(body) // _WORD
    if len(body) % _WORD or words < 2:
        return None
    offset = _word(body, head_slot)
    if offset % 32 or offset // 32 >= words:
        return None
    start = offset // 32
    length = _word(body, start)
    if length > words - start - 1:
        return None
    return [_word(body, start + 1 + i) for i in range(length)]
