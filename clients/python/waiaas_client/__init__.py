"""Python client for WAIaaS Signer: typed, blocking gRPC calls over mutual TLS.

    from waiaas_client import WaiaasClient, WaiaasDeniedError

    with WaiaasClient("localhost:7443", ca="ca.pem", cert="agent.pem", key="agent.key") as client:
        wallet = client.wallets.create("evm")
        signed = client.signer.sign_evm_transaction(wallet.wallet_id, unsigned_tx, chain_id=1)

See clients/python/README.md.
"""
from .client import (
    Approvals,
    Owners,
    PendingSignature,
    Policies,
    Requests,
    Signed,
    Signer,
    WaiaasClient,
    Wallets,
    make_owner,
)
from .enums import FINAL_STATES, ApprovalAction, Chain, KeyAlgorithm, OwnerKeyType, OwnerState, SignRequestState, Verdict
from .errors import (
    DeniedRule,
    WaiaasDeniedError,
    WaiaasError,
    WaiaasRequestEndedError,
    WaiaasTimeoutError,
)
from . import pb

__version__ = "0.1.0"

__all__ = [
    "WaiaasClient",
    "Wallets",
    "Signer",
    "Policies",
    "Requests",
    "Owners",
    "Approvals",
    "Signed",
    "PendingSignature",
    "make_owner",
    "Chain",
    "KeyAlgorithm",
    "Verdict",
    "SignRequestState",
    "FINAL_STATES",
    "OwnerKeyType",
    "OwnerState",
    "ApprovalAction",
    "WaiaasError",
    "DeniedRule",
    "WaiaasDeniedError",
    "WaiaasTimeoutError",
    "WaiaasRequestEndedError",
    "pb",
]
