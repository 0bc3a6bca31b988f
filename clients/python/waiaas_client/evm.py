"""Just enough EVM encoding to build an unsigned transaction without an Ethereum library: RLP and the EIP-1559
(type 2) envelope. The appliance decodes and judges every byte it signs itself; this only spares simple agents a
dependency. Anything fancier (ABI encoding, access lists of real contracts) is better built with web3.py or eth-account
and passed to ``signer.sign_evm_transaction`` as bytes.
"""
from __future__ import annotations

from typing import List, Sequence, Union

RlpItem = Union[bytes, int, str, Sequence["RlpItem"]]
"""bytes; a non-negative int (big-endian, no leading zeros; 0 is the empty string); a "0x..." hex str; or a list."""


def _to_bytes(item: Union[bytes, int, str]) -> bytes:
    if isinstance(item, bool):
        raise TypeError("rlp: bool is not an RLP item")
    if isinstance(item, int):
        if item < 0:
            raise ValueError("rlp: negative integer")
        return item.to_bytes((item.bit_length() + 7) // 8, "big")
    if isinstance(item, str):
        h = item[2:] if item.startswith(("0x", "0X")) else item
        if len(h) % 2:
            h = "0" + h
        return bytes.fromhex(h)
    return bytes(item)


def _length_prefix(length: int, short: int) -> bytes:
    if length < 56:
        return bytes([short + length])
    n = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([short + 55 + len(n)]) + n


def rlp_encode(item: RlpItem) -> bytes:
    """Recursive Length Prefix encoding of an item (see RlpItem)."""
    if isinstance(item, (list, tuple)):
        payload = b"".join(rlp_encode(x) for x in item)
        return _length_prefix(len(payload), 0xC0) + payload
    b = _to_bytes(item)  # type: ignore[arg-type]
    if len(b) == 1 and b[0] < 0x80:
        return b
    return _length_prefix(len(b), 0x80) + b


def unsigned_eip1559(
    *,
    chain_id: int,
    nonce: int,
    to: str,
    value: int,
    gas: int,
    max_fee_per_gas: int,
    max_priority_fee_per_gas: int,
    data: bytes = b"",
) -> bytes:
    """The unsigned EIP-1559 transaction ``0x02 || rlp([chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas,
    gas, to, value, data, access_list=[]])``, exactly the bytes that are hashed and signed."""
    to_bytes = _to_bytes(to)
    if len(to_bytes) != 20:
        raise ValueError(f"to: {to!r} is not a 20-byte address")
    fields: List[RlpItem] = [chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas, to_bytes, value, bytes(data), []]
    return b"\x02" + rlp_encode(fields)
