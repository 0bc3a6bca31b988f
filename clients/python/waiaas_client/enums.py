"""The API's enums as Python IntEnums (same numbers as the protobuf enums, without their prefixes).

Each value can be passed wherever the generated code expects the protobuf enum, and each protobuf enum value read
from a response converts with e.g. ``SignRequestState(sign_request.state)``. The tests check that these stay equal
to the generated descriptors.
"""
from __future__ import annotations

import enum
from typing import Union


class Chain(enum.IntEnum):
    """Chain family of a wallet (``waiaas.v1.Chain``)."""

    UNSPECIFIED = 0
    SOLANA = 1
    EVM = 2


class KeyAlgorithm(enum.IntEnum):
    """Signature algorithm of a wallet's HSM key (``waiaas.v1.KeyAlgorithm``)."""

    UNSPECIFIED = 0
    ED25519 = 1
    SECP256K1 = 2


class Verdict(enum.IntEnum):
    """The policy engine's decision (``waiaas.v1.Verdict``). The strictest matching rule wins."""

    UNSPECIFIED = 0
    INSTANT = 1
    NOTIFY = 2
    DELAY = 3
    APPROVAL = 4
    DENY = 5


class SignRequestState(enum.IntEnum):
    """Where a sign request is in its life (``waiaas.v1.SignRequestState``)."""

    UNSPECIFIED = 0
    PENDING = 1
    SIGNING = 2
    SIGNED = 3
    REFUSED = 4
    FAILED = 5
    CANCELLED = 6
    EXPIRED = 7

    @property
    def is_final(self) -> bool:
        """True for the states a request never leaves (SIGNED, REFUSED, FAILED, CANCELLED, EXPIRED)."""
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        SignRequestState.SIGNED,
        SignRequestState.REFUSED,
        SignRequestState.FAILED,
        SignRequestState.CANCELLED,
        SignRequestState.EXPIRED,
    }
)


class OwnerKeyType(enum.IntEnum):
    """The kind of key an owner signs with (``waiaas.v1.OwnerKeyType``)."""

    UNSPECIFIED = 0
    ED25519 = 1
    EVM = 2


class OwnerState(enum.IntEnum):
    """How far a wallet's ownership is established (``waiaas.v1.OwnerState``)."""

    UNSPECIFIED = 0
    NONE = 1
    GRACE = 2
    LOCKED = 3


class ApprovalAction(enum.IntEnum):
    """What an owner's signature decides (``waiaas.v1.ApprovalAction``)."""

    UNSPECIFIED = 0
    APPROVE = 1
    REJECT = 2


ChainLike = Union[Chain, int, str]
"""A chain given as ``Chain.EVM``, its number, or its name (``"evm"``, ``"solana"``, case-insensitive)."""


def to_chain(chain: ChainLike) -> Chain:
    """Normalises a ChainLike; raises ValueError for anything else."""
    if isinstance(chain, str):
        name = chain.strip().upper()
        if name.startswith("CHAIN_"):
            name = name[len("CHAIN_"):]
        try:
            return Chain[name]
        except KeyError:
            raise ValueError(f"unknown chain {chain!r} (expected 'solana' or 'evm')") from None
    return Chain(int(chain))
