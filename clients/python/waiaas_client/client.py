"""The Python client agents import: typed, blocking access to the appliance over mutual TLS.

    client = WaiaasClient("localhost:7443", ca="ca.pem", cert="agent.pem", key="agent.key")
    wallet = client.wallets.create("evm", request_id="create-trader-1")
    signed = client.signer.sign_evm_transaction(wallet.wallet_id, unsigned, chain_id=1)   # bytes, ready to send

Every method returns the generated protobuf messages (``waiaas_client.pb``) and raises WaiaasError (or one of its
subclasses) when the call fails.
"""
from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from typing import Any, Callable, Generator, Iterable, List, Literal, Mapping, Optional, Sequence, Tuple, TypeVar, Union, overload

import grpc

try:
    from ._gen.waiaas.v1 import (
        agent_pb2_grpc,
        approval_pb2,
        approval_pb2_grpc,
        audit_pb2_grpc,
        owner_pb2,
        owner_pb2_grpc,
        policy_pb2,
        policy_pb2_grpc,
        sign_request_pb2,
        sign_request_pb2_grpc,
        signer_pb2,
        signer_pb2_grpc,
        wallet_pb2,
        wallet_pb2_grpc,
    )
except ImportError as e:  # pragma: no cover - a checkout without generated code
    raise ImportError(
        "waiaas_client: the generated protobuf code is missing or broken "
        f"({e}); run clients/python/generate.sh (needs protoc and grpc_python_plugin)"
    ) from e

from .enums import FINAL_STATES, ApprovalAction, ChainLike, OwnerKeyType, SignRequestState, Verdict, to_chain
from .errors import WaiaasDeniedError, WaiaasError, WaiaasRequestEndedError, WaiaasTimeoutError, from_rpc_error

Wallet = wallet_pb2.Wallet
Policy = policy_pb2.Policy
SignRequest = sign_request_pb2.SignRequest
WalletOwnership = owner_pb2.WalletOwnership
Owner = owner_pb2.Owner
OwnerSignature = owner_pb2.OwnerSignature
PendingRequest = approval_pb2.PendingRequest
EvaluatePolicyResponse = policy_pb2.EvaluatePolicyResponse

PathOrPem = Union[str, "os.PathLike[str]", bytes]
"""A PEM file's path, or its contents as bytes."""

DEFAULT_CALL_TIMEOUT = 30.0

_T = TypeVar("_T")
# gRPC codes after which a watch is opened again (with backoff) rather than failing the wait.
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _enum(value: int) -> Any:
    """An enum value for a generated message's constructor (typed there as the protobuf enum type)."""
    return int(value)


def _state(value: int) -> SignRequestState:
    """A SignRequestState from a message field (an unknown number reads as UNSPECIFIED)."""
    try:
        return SignRequestState(value)
    except ValueError:
        return SignRequestState.UNSPECIFIED


def _read_pem(value: PathOrPem, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        with open(value, "rb") as f:
            return f.read()
    except OSError as e:
        raise WaiaasError(f"cannot read the {what} file {os.fspath(value)!r}: {e.strerror}", grpc.StatusCode.INVALID_ARGUMENT) from None


# ---------------------------------------------------------------------------------------------------------------
# Results of the sign helpers
# ---------------------------------------------------------------------------------------------------------------


class Signed(bytes):
    """The signed bytes, ready to use, with where they came from.

    - transactions: the signed transaction (Solana wire format; EVM raw transaction for eth_sendRawTransaction);
    - EVM messages and typed data: the 65-byte signature r || s || v (v = 27 + y_parity);
    - Solana messages: the 64-byte Ed25519 signature.

    It *is* ``bytes`` (compare it, ``.hex()`` it, send it); the attributes hold the rest of the answer.
    """

    sign_request_id: str
    verdict: Verdict
    signer_address: str
    policy_hash: str
    sign_request: SignRequest
    """The request's record when it was signed (effects, matched rules, ``result``)."""

    def __new__(cls, data: bytes, *, sign_request_id: str, verdict: int, signer_address: str, policy_hash: str, sign_request: SignRequest) -> "Signed":
        obj = super().__new__(cls, data)
        obj.sign_request_id = sign_request_id
        obj.verdict = Verdict(verdict)
        obj.signer_address = signer_address
        obj.policy_hash = policy_hash
        obj.sign_request = sign_request
        return obj

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:  # copy and pickle keep the attributes
        return (_make_signed, (bytes(self), self.sign_request_id, int(self.verdict), self.signer_address, self.policy_hash, self.sign_request))

    @property
    def result(self) -> "sign_request_pb2.SignResult":
        """The SignResult: signed_transaction, signature, transaction_hash, y_parity, digest, signed_message."""
        return self.sign_request.result

    def __repr__(self) -> str:
        return f"Signed({bytes(self)!r}, sign_request_id={self.sign_request_id!r}, verdict={self.verdict.name})"


def _make_signed(data: bytes, sign_request_id: str, verdict: int, signer_address: str, policy_hash: str, sign_request: SignRequest) -> Signed:
    return Signed(data, sign_request_id=sign_request_id, verdict=verdict, signer_address=signer_address, policy_hash=policy_hash, sign_request=sign_request)


class PendingSignature:
    """A request the policy sent to DELAY or APPROVAL, returned by a sign helper called with ``wait=False``."""

    sign_request_id: str
    verdict: Verdict
    delay_seconds: int
    sign_request: SignRequest
    """The record as the sign call returned it (state PENDING)."""
    response: Any
    """The sign call's whole response (e.g. SignEvmTransactionResponse)."""

    def __init__(self, client: "WaiaasClient", response: Any, extract: Callable[[SignRequest], bytes]) -> None:
        self._client = client
        self._extract = extract
        self.response = response
        self.sign_request = response.sign_request
        self.sign_request_id = response.sign_request_id
        self.verdict = Verdict(response.verdict)
        self.delay_seconds = response.sign_request.delay_seconds

    def wait(self, timeout: Optional[float] = None, *, cancel_on_timeout: bool = False, on_update: Optional[Callable[[SignRequest], None]] = None) -> Signed:
        """Waits until the request is signed and returns the signed bytes (see wait_for_signature for errors)."""
        final = self._client.wait_for_signature(self.sign_request_id, timeout, cancel_on_timeout=cancel_on_timeout, on_update=on_update)
        return Signed(
            self._extract(final),
            sign_request_id=self.sign_request_id,
            verdict=final.verdict or self.response.verdict,
            signer_address=self.response.signer_address,
            policy_hash=final.policy_hash or self.response.policy_hash,
            sign_request=final,
        )

    def cancel(self) -> SignRequest:
        """Cancels the request (releasing its reservation); returns it, now CANCELLED."""
        return self._client.requests.cancel(self.sign_request_id)

    def __repr__(self) -> str:
        return f"PendingSignature(sign_request_id={self.sign_request_id!r}, verdict={self.verdict.name})"


# ---------------------------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------------------------


class _Service:
    def __init__(self, client: "WaiaasClient") -> None:
        self._client = client

    def _call(self, method: Callable[..., _T], request: Any, timeout: Optional[float] = None) -> _T:
        return self._client._unary(method, request, timeout)

    def _stream(self, method: Callable[..., Any], request: Any, timeout: Optional[float] = None) -> Generator[Any, None, None]:
        return self._client._server_stream(method, request, timeout)


def _request_id(request_id: Optional[str]) -> str:
    if request_id is None:
        return ""
    if not _REQUEST_ID.match(request_id):
        raise ValueError(f"request_id {request_id!r}: must be 1-128 characters of [A-Za-z0-9._:-]")
    return request_id


class Wallets(_Service):
    """WalletService: wallets whose keys live on the HSM."""

    def __init__(self, client: "WaiaasClient") -> None:
        super().__init__(client)
        self._stub = wallet_pb2_grpc.WalletServiceStub(client._channel)

    def create(self, chain: ChainLike, *, labels: Optional[Mapping[str, str]] = None, request_id: Optional[str] = None) -> Wallet:
        """Creates a wallet (a new key pair on the HSM). A retry with the same request_id returns the same wallet."""
        req = wallet_pb2.CreateWalletRequest(chain=_enum(to_chain(chain)), labels=dict(labels or {}), request_id=_request_id(request_id))
        return self._call(self._stub.CreateWallet, req).wallet

    def get(self, wallet_id: str) -> Wallet:
        """Returns one wallet. Errors: WAIAAS_WALLET_NOT_FOUND."""
        return self._call(self._stub.GetWallet, wallet_pb2.GetWalletRequest(wallet_id=wallet_id)).wallet

    def list(self, chain: Optional[ChainLike] = None, *, page_size: int = 0) -> List[Wallet]:
        """Every wallet (of one chain family, if given), in creation order; follows the pages."""
        out: List[Wallet] = []
        token = ""
        while True:
            req = wallet_pb2.ListWalletsRequest(page_size=page_size, page_token=token, chain=_enum(to_chain(chain) if chain is not None else 0))
            res = self._call(self._stub.ListWallets, req)
            out.extend(res.wallets)
            token = res.next_page_token
            if not token:
                return out


_SignResult = Union[Signed, PendingSignature]


class Signer(_Service):
    """SignerService. Each helper signs and, by default, waits through DELAY and APPROVAL.

    - ``wait=True`` (default): returns ``Signed`` (bytes) once the request is signed, waiting at most
      ``wait_timeout`` seconds (None: until the request ends; ``cancel_on_timeout`` cancels it when the time runs
      out) — see ``WaiaasClient.wait_for_signature`` for the errors.
    - ``wait=False``: returns ``Signed`` when signed at once, else a ``PendingSignature`` (``.wait()``, ``.cancel()``).

    A DENY raises WaiaasDeniedError (``reason == "WAIAAS_POLICY_DENIED"``, ``metadata["rule"]``).
    """

    def __init__(self, client: "WaiaasClient") -> None:
        super().__init__(client)
        self._stub = signer_pb2_grpc.SignerServiceStub(client._channel)

    def _sign(self, method: Callable[..., Any], request: Any, from_response: Callable[[Any], bytes], from_record: Callable[[SignRequest], bytes], wait: bool, wait_timeout: Optional[float], cancel_on_timeout: bool) -> _SignResult:
        res = self._call(method, request)
        rec = res.sign_request
        state = _state(res.state)
        if state == SignRequestState.SIGNED:
            return Signed(from_response(res), sign_request_id=res.sign_request_id, verdict=res.verdict, signer_address=res.signer_address, policy_hash=res.policy_hash, sign_request=rec)
        # The server answers a DENY with an error; a DENY record in an answer is treated the same way.
        if Verdict(res.verdict) == Verdict.DENY and res.HasField("sign_request"):
            raise WaiaasDeniedError.from_sign_request(rec)
        if state in FINAL_STATES and res.HasField("sign_request"):
            raise WaiaasRequestEndedError(rec)
        pending = PendingSignature(self._client, res, from_record)
        return pending.wait(wait_timeout, cancel_on_timeout=cancel_on_timeout) if wait else pending

    @overload
    def sign_solana_transaction(self, wallet_id: str, transaction: bytes, *, request_id: Optional[str] = ..., wait: Literal[True] = ..., wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> Signed: ...
    @overload
    def sign_solana_transaction(self, wallet_id: str, transaction: bytes, *, request_id: Optional[str] = ..., wait: bool, wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> _SignResult: ...

    def sign_solana_transaction(self, wallet_id: str, transaction: bytes, *, request_id: Optional[str] = None, wait: bool = True, wait_timeout: Optional[float] = None, cancel_on_timeout: bool = False) -> _SignResult:
        """Signs a Solana transaction in wire format; returns the signed transaction (wire format)."""
        req = signer_pb2.SignSolanaTransactionRequest(wallet_id=wallet_id, transaction=bytes(transaction), request_id=_request_id(request_id))
        return self._sign(self._stub.SignSolanaTransaction, req, lambda r: r.signed_transaction, lambda s: s.result.signed_transaction, wait, wait_timeout, cancel_on_timeout)

    @overload
    def sign_evm_transaction(self, wallet_id: str, unsigned_transaction: bytes, chain_id: int, *, request_id: Optional[str] = ..., wait: Literal[True] = ..., wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> Signed: ...
    @overload
    def sign_evm_transaction(self, wallet_id: str, unsigned_transaction: bytes, chain_id: int, *, request_id: Optional[str] = ..., wait: bool, wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> _SignResult: ...

    def sign_evm_transaction(self, wallet_id: str, unsigned_transaction: bytes, chain_id: int, *, request_id: Optional[str] = None, wait: bool = True, wait_timeout: Optional[float] = None, cancel_on_timeout: bool = False) -> _SignResult:
        """Signs an unsigned EVM transaction (typed envelope or legacy EIP-155) for ``chain_id``; returns the signed
        raw transaction (``.result.transaction_hash`` is its hash)."""
        req = signer_pb2.SignEvmTransactionRequest(wallet_id=wallet_id, unsigned_transaction=bytes(unsigned_transaction), chain_id=chain_id, request_id=_request_id(request_id))
        return self._sign(self._stub.SignEvmTransaction, req, lambda r: r.signed_transaction, lambda s: s.result.signed_transaction, wait, wait_timeout, cancel_on_timeout)

    @overload
    def sign_evm_message(self, wallet_id: str, message: Union[bytes, str], *, request_id: Optional[str] = ..., wait: Literal[True] = ..., wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> Signed: ...
    @overload
    def sign_evm_message(self, wallet_id: str, message: Union[bytes, str], *, request_id: Optional[str] = ..., wait: bool, wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> _SignResult: ...

    def sign_evm_message(self, wallet_id: str, message: Union[bytes, str], *, request_id: Optional[str] = None, wait: bool = True, wait_timeout: Optional[float] = None, cancel_on_timeout: bool = False) -> _SignResult:
        """Signs an EIP-191 personal message (str is UTF-8 encoded); returns the 65-byte signature r || s || v."""
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        req = signer_pb2.SignEvmMessageRequest(wallet_id=wallet_id, message=data, request_id=_request_id(request_id))
        return self._sign(self._stub.SignEvmMessage, req, lambda r: r.signature, lambda s: s.result.signature, wait, wait_timeout, cancel_on_timeout)

    @overload
    def sign_evm_typed_data(self, wallet_id: str, typed_data: Union[str, Mapping[str, Any]], *, request_id: Optional[str] = ..., wait: Literal[True] = ..., wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> Signed: ...
    @overload
    def sign_evm_typed_data(self, wallet_id: str, typed_data: Union[str, Mapping[str, Any]], *, request_id: Optional[str] = ..., wait: bool, wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> _SignResult: ...

    def sign_evm_typed_data(self, wallet_id: str, typed_data: Union[str, Mapping[str, Any]], *, request_id: Optional[str] = None, wait: bool = True, wait_timeout: Optional[float] = None, cancel_on_timeout: bool = False) -> _SignResult:
        """Signs EIP-712 typed data (JSON text, or a dict serialized to JSON); returns the 65-byte signature; the
        digest the server computed is ``.result.digest``."""
        text = typed_data if isinstance(typed_data, str) else json.dumps(typed_data)
        req = signer_pb2.SignEvmTypedDataRequest(wallet_id=wallet_id, typed_data=text, request_id=_request_id(request_id))
        return self._sign(self._stub.SignEvmTypedData, req, lambda r: r.signature, lambda s: s.result.signature, wait, wait_timeout, cancel_on_timeout)

    @overload
    def sign_solana_message(self, wallet_id: str, message: Union[bytes, str], *, request_id: Optional[str] = ..., wait: Literal[True] = ..., wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> Signed: ...
    @overload
    def sign_solana_message(self, wallet_id: str, message: Union[bytes, str], *, request_id: Optional[str] = ..., wait: bool, wait_timeout: Optional[float] = ..., cancel_on_timeout: bool = ...) -> _SignResult: ...

    def sign_solana_message(self, wallet_id: str, message: Union[bytes, str], *, request_id: Optional[str] = None, wait: bool = True, wait_timeout: Optional[float] = None, cancel_on_timeout: bool = False) -> _SignResult:
        """Signs a Solana off-chain message or UTF-8 text; returns the 64-byte Ed25519 signature (the exact bytes
        signed are ``.result.signed_message``)."""
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        req = signer_pb2.SignSolanaMessageRequest(wallet_id=wallet_id, message=data, request_id=_request_id(request_id))
        return self._sign(self._stub.SignSolanaMessage, req, lambda r: r.signature, lambda s: s.result.signature, wait, wait_timeout, cancel_on_timeout)


class Policies(_Service):
    """PolicyService: a wallet's policy document (docs/policy.md)."""

    def __init__(self, client: "WaiaasClient") -> None:
        super().__init__(client)
        self._stub = policy_pb2_grpc.PolicyServiceStub(client._channel)

    def get(self, wallet_id: str) -> Policy:
        """The current policy (``document`` is the canonical JSON). Errors: WAIAAS_POLICY_NOT_FOUND."""
        return self._call(self._stub.GetPolicy, policy_pb2.GetPolicyRequest(wallet_id=wallet_id)).policy

    def set(self, wallet_id: str, document: Union[str, Mapping[str, Any]]) -> Policy:
        """Validates and stores a new version (owners and admins). ``document``: JSON text or a dict.
        Errors: WAIAAS_POLICY_INVALID with ``metadata["field"]`` naming the field path."""
        text = document if isinstance(document, str) else json.dumps(document)
        req = policy_pb2.SetPolicyRequest(wallet_id=wallet_id, policy=policy_pb2.Policy(document=text))
        return self._call(self._stub.SetPolicy, req).policy

    def evaluate(
        self,
        wallet_id: str,
        *,
        solana_transaction: Optional[bytes] = None,
        evm_transaction: Optional[bytes] = None,
        chain_id: Optional[int] = None,
        evm_message: Optional[Union[bytes, str]] = None,
        evm_typed_data: Optional[Union[str, Mapping[str, Any]]] = None,
        solana_message: Optional[Union[bytes, str]] = None,
        candidate_document: Optional[Union[str, Mapping[str, Any]]] = None,
    ) -> EvaluatePolicyResponse:
        """Dry run: the verdict, deciding rule, matched rules and decoded effects of exactly one payload, against the
        current policy or ``candidate_document``. Never signs, never reserves. ``evm_transaction`` needs ``chain_id``."""
        given = [k for k, v in (("solana_transaction", solana_transaction), ("evm_transaction", evm_transaction), ("evm_message", evm_message), ("evm_typed_data", evm_typed_data), ("solana_message", solana_message)) if v is not None]
        if len(given) != 1:
            raise ValueError(f"evaluate: give exactly one payload (got {', '.join(given) or 'none'})")
        payload = sign_request_pb2.SignPayload()
        if solana_transaction is not None:
            payload.solana_transaction = bytes(solana_transaction)
        elif evm_transaction is not None:
            if chain_id is None:
                raise ValueError("evaluate: evm_transaction needs chain_id")
            payload.evm_transaction.CopyFrom(sign_request_pb2.EvmTransactionPayload(unsigned_transaction=bytes(evm_transaction), chain_id=chain_id))
        elif evm_message is not None:
            payload.evm_message = evm_message.encode("utf-8") if isinstance(evm_message, str) else bytes(evm_message)
        elif evm_typed_data is not None:
            payload.evm_typed_data = evm_typed_data if isinstance(evm_typed_data, str) else json.dumps(evm_typed_data)
        elif solana_message is not None:
            payload.solana_message = solana_message.encode("utf-8") if isinstance(solana_message, str) else bytes(solana_message)
        candidate = "" if candidate_document is None else candidate_document if isinstance(candidate_document, str) else json.dumps(candidate_document)
        req = policy_pb2.EvaluatePolicyRequest(wallet_id=wallet_id, payload=payload, candidate_document=candidate)
        return self._call(self._stub.EvaluatePolicy, req)


class Requests(_Service):
    """SignRequestService: read, watch and cancel sign requests (an agent sees only its own)."""

    def __init__(self, client: "WaiaasClient") -> None:
        super().__init__(client)
        self._stub = sign_request_pb2_grpc.SignRequestServiceStub(client._channel)

    def get(self, sign_request_id: str) -> SignRequest:
        """One request. Errors: WAIAAS_SIGN_REQUEST_NOT_FOUND."""
        return self._call(self._stub.GetSignRequest, sign_request_pb2.GetSignRequestRequest(sign_request_id=sign_request_id)).sign_request

    def list(self, wallet_id: str = "", *, state: Optional[SignRequestState] = None, page_size: int = 0, page_token: str = "") -> "sign_request_pb2.ListSignRequestsResponse":
        """One page of requests, newest first (``next_page_token`` continues)."""
        req = sign_request_pb2.ListSignRequestsRequest(wallet_id=wallet_id, state=_enum(state or 0), page_size=page_size, page_token=page_token)
        return self._call(self._stub.ListSignRequests, req)

    def watch(self, sign_request_id: str, *, timeout: Optional[float] = None) -> Generator[SignRequest, None, None]:
        """The request now, then again at every change of state; ends after a final state. ``timeout`` bounds the
        whole stream (then a WaiaasError with code DEADLINE_EXCEEDED). Closing the generator early cancels it."""
        stream = self._stream(self._stub.WatchSignRequest, sign_request_pb2.WatchSignRequestRequest(sign_request_id=sign_request_id), timeout)
        try:
            for r in stream:
                yield r.sign_request
        finally:
            stream.close()

    def cancel(self, sign_request_id: str) -> SignRequest:
        """Cancels a PENDING request and releases its reservation. Errors: WAIAAS_SIGN_REQUEST_NOT_PENDING."""
        return self._call(self._stub.CancelSignRequest, sign_request_pb2.CancelSignRequestRequest(sign_request_id=sign_request_id)).sign_request

    def wait(self, sign_request_id: str, timeout: Optional[float] = None, **kwargs: Any) -> SignRequest:
        """Same as ``WaiaasClient.wait_for_signature``."""
        return self._client.wait_for_signature(sign_request_id, timeout, **kwargs)


OwnerLike = Union[str, Owner, Mapping[str, Any]]
"""An owner: its key (``0x...`` EVM address, else a base58 Ed25519 address), an Owner message, or a dict with
``key``, optional ``label`` and ``key_type``."""


def make_owner(key: str, *, label: str = "", key_type: Optional[OwnerKeyType] = None) -> Owner:
    """An Owner; the key type is inferred from the key's form when not given (``0x`` + 40 hex: EVM)."""
    if key_type is None:
        key_type = OwnerKeyType.EVM if re.fullmatch(r"0[xX][0-9a-fA-F]{40}", key) else OwnerKeyType.ED25519
    return Owner(key=key, label=label, key_type=_enum(key_type))


def _to_owner(o: OwnerLike) -> Owner:
    if isinstance(o, Owner):
        return o
    if isinstance(o, str):
        return make_owner(o)
    kt = o.get("key_type")
    return make_owner(str(o["key"]), label=str(o.get("label", "")), key_type=OwnerKeyType(kt) if kt is not None else None)


def _signatures(signatures: Union[Mapping[str, bytes], Iterable[Tuple[str, bytes]], None]) -> List[OwnerSignature]:
    items = signatures.items() if isinstance(signatures, Mapping) else (signatures or ())
    return [OwnerSignature(key=k, signature=bytes(s)) for k, s in items]


class Owners(_Service):
    """OwnerService: a wallet's owners, threshold and freeze."""

    def __init__(self, client: "WaiaasClient") -> None:
        super().__init__(client)
        self._stub = owner_pb2_grpc.OwnerServiceStub(client._channel)

    def get(self, wallet_id: str) -> WalletOwnership:
        """Owners, threshold, state (NONE, GRACE, LOCKED) and freeze."""
        return self._call(self._stub.GetOwnership, owner_pb2.GetOwnershipRequest(wallet_id=wallet_id)).ownership

    def change_message(self, wallet_id: str, owners: Sequence[OwnerLike] = (), threshold: int = 0, *, unfreeze: bool = False) -> "owner_pb2.GetOwnerChangeMessageResponse":
        """The exact message the current owners must sign for this change (or for an unfreeze); ``message`` and
        ``expire_time``."""
        change = None if unfreeze else owner_pb2.OwnerChange(owners=[_to_owner(o) for o in owners], threshold=threshold)
        req = owner_pb2.GetOwnerChangeMessageRequest(wallet_id=wallet_id, change=change, unfreeze=unfreeze)
        return self._call(self._stub.GetOwnerChangeMessage, req)

    def set(self, wallet_id: str, owners: Sequence[OwnerLike], threshold: int = 1, *, message: str = "", signatures: Union[Mapping[str, bytes], Iterable[Tuple[str, bytes]], None] = None) -> WalletOwnership:
        """Replaces the owners and threshold. The admin alone while the wallet is NONE or GRACE; once LOCKED, the
        current owners' signatures (key -> signature) over ``change_message(...)``."""
        req = owner_pb2.SetOwnersRequest(wallet_id=wallet_id, change=owner_pb2.OwnerChange(owners=[_to_owner(o) for o in owners], threshold=threshold), message=message, signatures=_signatures(signatures))
        return self._call(self._stub.SetOwners, req).ownership

    def freeze(self, wallet_id: str = "", reason: str = "") -> int:
        """Freezes a wallet (or the whole appliance when wallet_id is ""); returns the pending requests cancelled."""
        return self._call(self._stub.Freeze, owner_pb2.FreezeRequest(wallet_id=wallet_id, reason=reason)).cancelled_requests

    def unfreeze(self, wallet_id: str = "", *, message: str = "", signatures: Union[Mapping[str, bytes], Iterable[Tuple[str, bytes]], None] = None) -> "owner_pb2.UnfreezeResponse":
        """Unfreezes a wallet (owners' signatures over ``change_message(wallet_id, unfreeze=True)``, or the admin
        while no owner is proven) or the appliance (admin, after the configured delay)."""
        req = owner_pb2.UnfreezeRequest(wallet_id=wallet_id, message=message, signatures=_signatures(signatures))
        return self._call(self._stub.Unfreeze, req)

    def appliance_state(self) -> "owner_pb2.GetApplianceStateResponse":
        """Appliance-wide freeze state and the appliance id."""
        return self._call(self._stub.GetApplianceState, owner_pb2.GetApplianceStateRequest())


class Approvals(_Service):
    """ApprovalService: owners decide pending requests by signing a message the appliance issues (Ed25519 keys sign
    its UTF-8 bytes; EVM keys sign it with EIP-191 personal_sign, 65 bytes r || s || v). Signing happens wherever the
    owner's key is: this client only carries the message and the signature."""

    def __init__(self, client: "WaiaasClient") -> None:
        super().__init__(client)
        self._stub = approval_pb2_grpc.ApprovalServiceStub(client._channel)

    def list(self, wallet_id: str = "") -> List[PendingRequest]:
        """Pending requests (of one wallet, or all the caller may see), oldest first."""
        return list(self._call(self._stub.ListPendingRequests, approval_pb2.ListPendingRequestsRequest(wallet_id=wallet_id)).requests)

    def get(self, sign_request_id: str) -> PendingRequest:
        """One request with its summary, payload hash, approvals so far and threshold."""
        return self._call(self._stub.GetPendingRequest, approval_pb2.GetPendingRequestRequest(sign_request_id=sign_request_id)).request

    def message(self, sign_request_id: str, action: ApprovalAction = ApprovalAction.APPROVE) -> "approval_pb2.GetApprovalMessageResponse":
        """The exact message to sign to approve (or reject) the request; ``message`` and ``expire_time``."""
        return self._call(self._stub.GetApprovalMessage, approval_pb2.GetApprovalMessageRequest(sign_request_id=sign_request_id, action=_enum(action)))

    def approve(self, sign_request_id: str, message: str, key: str, signature: bytes) -> PendingRequest:
        """Records owner ``key``'s signature over ``message``; at the threshold the request is signed."""
        req = approval_pb2.ApproveRequest(sign_request_id=sign_request_id, message=message, signature=OwnerSignature(key=key, signature=bytes(signature)))
        return self._call(self._stub.Approve, req).request

    def reject(self, sign_request_id: str, message: str, key: str, signature: bytes) -> PendingRequest:
        """Records a rejection (for DELAY: a veto): the request ends REFUSED."""
        req = approval_pb2.RejectRequest(sign_request_id=sign_request_id, message=message, signature=OwnerSignature(key=key, signature=bytes(signature)))
        return self._call(self._stub.Reject, req).request

    def watch(self, wallet_id: str = "", *, timeout: Optional[float] = None) -> Generator[PendingRequest, None, None]:
        """Every pending request, then each one that appears or changes, until the generator is closed."""
        stream = self._stream(self._stub.WatchPendingRequests, approval_pb2.WatchPendingRequestsRequest(wallet_id=wallet_id), timeout)
        try:
            for r in stream:
                yield r.request
        finally:
            stream.close()


# ---------------------------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------------------------


class WaiaasClient:
    """A connection to the appliance with one client certificate (agent, owner or admin).

    ``ca``, ``cert`` and ``key`` are PEM file paths (or their contents as bytes): the CA that signed the appliance's
    certificate, and this client's certificate and private key. ``address`` is ``host:port``; the host must be a
    name in the server certificate (``server_name`` overrides the name checked). ``call_timeout`` is the deadline
    of each unary call, in seconds. The channel connects lazily; use the client as a context manager or ``close()``.

    Services: ``wallets``, ``signer``, ``policies``, ``requests``, ``owners``, ``approvals``; the generated stubs of
    every service (including AgentService and AuditService) are in ``stubs``.
    """

    wallets: Wallets
    signer: Signer
    policies: Policies
    requests: Requests
    owners: Owners
    approvals: Approvals

    def __init__(
        self,
        address: str,
        ca: PathOrPem,
        cert: PathOrPem,
        key: PathOrPem,
        *,
        call_timeout: Optional[float] = DEFAULT_CALL_TIMEOUT,
        server_name: Optional[str] = None,
        options: Sequence[Tuple[str, Any]] = (),
    ) -> None:
        creds = grpc.ssl_channel_credentials(root_certificates=_read_pem(ca, "CA"), private_key=_read_pem(key, "key"), certificate_chain=_read_pem(cert, "certificate"))
        opts = list(options)
        if server_name:
            opts.append(("grpc.ssl_target_name_override", server_name))
        self.address = address
        self.call_timeout = call_timeout
        self._channel = grpc.secure_channel(address, creds, options=opts)
        self._closed = False
        self._lock = threading.Lock()
        self.wallets = Wallets(self)
        self.signer = Signer(self)
        self.policies = Policies(self)
        self.requests = Requests(self)
        self.owners = Owners(self)
        self.approvals = Approvals(self)
        self.stubs = _Stubs(self._channel)

    @classmethod
    def from_dev_state(cls, state_dir: Union[str, "os.PathLike[str]"], identity: str = "agent", *, address: Optional[str] = None, **kwargs: Any) -> "WaiaasClient":
        """A client for a development state folder (``node server/main.ts --dev-state DIR``, ``make run``):
        ``DIR/ca.pem`` and ``DIR/<identity>.pem|.key`` (identity: agent, owner, admin). The address defaults to
        ``server.listen`` of ``DIR/config.toml``, a loopback or wildcard host dialled as ``localhost`` (the name in
        the development server certificate); give ``address`` when it listens on port 0."""
        d = os.fspath(state_dir)
        if identity not in ("agent", "owner", "admin"):
            raise ValueError(f"identity {identity!r}: expected agent, owner or admin")
        if address is None:
            address = _dev_state_address(os.path.join(d, "config.toml"))
        return cls(address, os.path.join(d, "ca.pem"), os.path.join(d, f"{identity}.pem"), os.path.join(d, f"{identity}.key"), **kwargs)

    # -- waiting ---------------------------------------------------------------------------------------------------

    def wait_for_signature(
        self,
        sign_request_id: str,
        timeout: Optional[float] = None,
        *,
        cancel_on_timeout: bool = False,
        on_update: Optional[Callable[[SignRequest], None]] = None,
        resubscribe: float = 60.0,
    ) -> SignRequest:
        """Waits until the request is SIGNED and returns its record (``state == SIGNED``, ``result`` filled).

        Waiting is watching (SignRequestService.WatchSignRequest, a server stream), not polling: each subscription
        first reports the current state, then every change. A stream that drops (the appliance restarting, a network
        blip) is opened again with backoff, and each subscription is renewed after ``resubscribe`` seconds so a
        silently dead connection is noticed. ``on_update`` is called with the request at each report.

        ``timeout`` in seconds; None waits until the request ends (a pending request expires after its policy's
        ``pending_timeout_seconds``). Raises:
        - WaiaasTimeoutError when ``timeout`` runs out first; the request is left PENDING (wait again, or cancel
          it), or cancelled when ``cancel_on_timeout`` (then ``err.cancelled`` is True);
        - WaiaasRequestEndedError when it ends CANCELLED, EXPIRED, REFUSED (an owner rejected or vetoed it) or FAILED;
        - WaiaasError of a call that cannot succeed (NOT_FOUND, PERMISSION_DENIED, ...).
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        last: Optional[SignRequest] = None
        failures = 0
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            window = resubscribe if remaining is None else min(resubscribe, remaining)
            opened = time.monotonic()
            stream = self.requests.watch(sign_request_id, timeout=window)
            try:
                for sr in stream:
                    failures = 0
                    last = sr
                    if on_update is not None:
                        on_update(sr)
                    state = _state(sr.state)
                    if state == SignRequestState.SIGNED:
                        if sr.HasField("result"):
                            return sr
                        # A SIGNED record always carries its result; read it again if this one did not.
                        again = self.requests.get(sign_request_id)
                        if again.HasField("result"):
                            return again
                        raise WaiaasError(f"sign request {sign_request_id} is SIGNED but has no result", grpc.StatusCode.INTERNAL)
                    if state in FINAL_STATES:
                        raise WaiaasRequestEndedError(sr)
                # The stream ended without a final state: open it again (after a pause).
            except WaiaasRequestEndedError:
                raise
            except WaiaasError as e:
                if e.code not in _RETRYABLE or e.reason == "WAIAAS_SIGN_REQUEST_NOT_FOUND":
                    raise
                # The end of a subscription window (or of the whole wait) is expected: no pause for it.
                if e.code == grpc.StatusCode.DEADLINE_EXCEEDED and time.monotonic() - opened >= window / 2:
                    continue
            finally:
                stream.close()
            pause = min(5.0, 0.2 * 2**failures) * (0.5 + random.random() / 2)
            failures += 1
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)

        # Timed out.
        cancelled = False
        if cancel_on_timeout:
            try:
                cancelled = _state(self.requests.cancel(sign_request_id).state) == SignRequestState.CANCELLED
            except WaiaasError as e:
                # Signed or ended in the meantime: report what it is now.
                if e.reason == "WAIAAS_SIGN_REQUEST_NOT_PENDING":
                    now = self.requests.get(sign_request_id)
                    if _state(now.state) == SignRequestState.SIGNED and now.HasField("result"):
                        return now
                    if _state(now.state) in FINAL_STATES:
                        raise WaiaasRequestEndedError(now) from None
                raise
        raise WaiaasTimeoutError(sign_request_id, timeout or 0.0, last, cancelled)

    # -- plumbing --------------------------------------------------------------------------------------------------

    def _unary(self, method: Callable[..., _T], request: Any, timeout: Optional[float] = None) -> _T:
        try:
            return method(request, timeout=timeout if timeout is not None else self.call_timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def _server_stream(self, method: Callable[..., Any], request: Any, timeout: Optional[float]) -> Generator[Any, None, None]:
        call = method(request, timeout=timeout)
        try:
            for message in call:
                yield message
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            call.cancel()

    def close(self) -> None:
        """Closes the channel (calls in flight are cancelled)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._channel.close()

    def __enter__(self) -> "WaiaasClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WaiaasClient({self.address!r})"


class _Stubs:
    """The generated stubs of every service on the client's channel, for what the wrappers do not cover."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.wallet = wallet_pb2_grpc.WalletServiceStub(channel)
        self.signer = signer_pb2_grpc.SignerServiceStub(channel)
        self.policy = policy_pb2_grpc.PolicyServiceStub(channel)
        self.sign_request = sign_request_pb2_grpc.SignRequestServiceStub(channel)
        self.owner = owner_pb2_grpc.OwnerServiceStub(channel)
        self.approval = approval_pb2_grpc.ApprovalServiceStub(channel)
        self.agent = agent_pb2_grpc.AgentServiceStub(channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(channel)


def _dev_state_address(config_file: str) -> str:
    try:
        with open(config_file, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise WaiaasError(f"cannot read {config_file!r}: {e.strerror}", grpc.StatusCode.INVALID_ARGUMENT) from None
    listen = None
    try:
        import tomllib  # Python 3.11+

        listen = tomllib.loads(raw.decode("utf-8")).get("server", {}).get("listen")
    except ImportError:  # pragma: no cover - older Pythons: the one line we need
        section = ""
        for line in raw.decode("utf-8").splitlines():
            s = line.split("#", 1)[0].strip()
            if s.startswith("["):
                section = s.strip("[] ")
            elif section == "server" and s.startswith("listen"):
                listen = s.split("=", 1)[1].strip().strip('"')
    listen = listen or "127.0.0.1:7443"
    m = re.fullmatch(r"(?:\[([^\]]+)\]|([^:\[\]\s]+)):(\d{1,5})", listen)
    if not m:
        raise WaiaasError(f"{config_file}: server.listen {listen!r} is not host:port", grpc.StatusCode.INVALID_ARGUMENT)
    host, port = m.group(1) or m.group(2), m.group(3)
    if port == "0":
        raise WaiaasError(f"{config_file}: server.listen picks a free port (port 0): give the address", grpc.StatusCode.INVALID_ARGUMENT)
    if host in ("127.0.0.1", "::1", "0.0.0.0", "::", "localhost"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"

