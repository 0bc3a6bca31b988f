"""Typed errors: every failed call becomes a WaiaasError carrying the gRPC status code and the appliance's stable
reason and metadata (google.rpc.ErrorInfo, read from the ``grpc-status-details-bin`` trailer). They mirror the
TypeScript client's (clients/ts/src/errors.ts, wait.ts):

    WaiaasError                  any failed call: code, reason ("WAIAAS_..."), metadata, message
    ├── WaiaasDeniedError        the policy denied the request (reason WAIAAS_POLICY_DENIED): rule, matched_rules,
    │                            sign_request_id, policy_hash
    ├── WaiaasTimeoutError       a wait for a signature ran out of time (reason WAIAAS_WAIT_TIMEOUT); the request
    │                            is left PENDING unless cancel_on_timeout was set
    └── WaiaasRequestEndedError  a request waited for ended unsigned: CANCELLED, EXPIRED, REFUSED (an owner rejected
                                 or vetoed it: reason WAIAAS_POLICY_DENIED) or FAILED
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Mapping, NamedTuple, Optional, Tuple

import grpc

from .enums import SignRequestState, Verdict

if TYPE_CHECKING:  # pragma: no cover
    from ._gen.waiaas.v1.sign_request_pb2 import SignRequest

POLICY_DENIED = "WAIAAS_POLICY_DENIED"
WAIT_TIMEOUT = "WAIAAS_WAIT_TIMEOUT"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class WaiaasError(Exception):
    """A failed call to the appliance."""

    code: grpc.StatusCode
    """gRPC status code, e.g. ``grpc.StatusCode.PERMISSION_DENIED``."""
    reason: str
    """The appliance's stable reason, e.g. ``WAIAAS_POLICY_DENIED``; ``""`` when the error did not come from it."""
    metadata: Dict[str, str]
    """ErrorInfo metadata, e.g. ``{"rule": "default-deny", ...}``."""
    message: str
    """The status message."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.UNKNOWN, reason: str = "", metadata: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata = dict(metadata or {})

    def __str__(self) -> str:
        tag = self.reason or (self.code.name if isinstance(self.code, grpc.StatusCode) else str(self.code))
        return f"{self.message} [{tag}]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r}, metadata={self.metadata!r}, message={self.message!r})"


class DeniedRule(NamedTuple):
    """A rule that matched a denied request, with its verdict name (``DENY``, ``APPROVAL``, ...)."""

    name: str
    verdict: str


class WaiaasDeniedError(WaiaasError):
    """The wallet's policy denied the request (verdict DENY): nothing was signed. ``reason`` is
    ``WAIAAS_POLICY_DENIED``, ``code`` PERMISSION_DENIED, ``metadata`` the server's."""

    rule: str
    """The rule that decided, e.g. ``default-deny`` (``metadata["rule"]``)."""
    matched_rules: List[DeniedRule]
    """Every rule that matched or triggered, with its verdict."""
    sign_request_id: str
    """The (REFUSED) sign request the denial was recorded as; ``""`` when the server did not name it."""
    policy_hash: str
    """Hash of the policy document the decision was taken under."""

    def __init__(self, message: str, code: grpc.StatusCode = grpc.StatusCode.PERMISSION_DENIED, reason: str = POLICY_DENIED, metadata: Optional[Mapping[str, str]] = None, *, matched_rules: Optional[List[DeniedRule]] = None) -> None:
        super().__init__(message, code, reason, metadata)
        m = self.metadata
        self.rule = m.get("rule", "")
        self.matched_rules = matched_rules if matched_rules is not None else _parse_matched_rules(m.get("matched_rules", ""))
        self.sign_request_id = m.get("sign_request_id", "")
        self.policy_hash = m.get("policy_hash", "")

    @classmethod
    def from_sign_request(cls, r: "SignRequest") -> "WaiaasDeniedError":
        """The typed form of a sign request recorded with the verdict DENY."""
        rules = [DeniedRule(x.name, _verdict_name(x.verdict)) for x in r.matched_rules]
        metadata = {"rule": r.rule, "sign_request_id": r.sign_request_id, "policy_hash": r.policy_hash}
        if rules:
            metadata["matched_rules"] = ",".join(f"{x.name}:{x.verdict}" for x in rules)
        return cls(r.error_message or r.detail or f"denied by rule {r.rule}", metadata=metadata, matched_rules=rules)


def _verdict_name(v: int) -> str:
    try:
        return Verdict(v).name
    except ValueError:
        return str(v)


def _parse_matched_rules(s: str) -> List[DeniedRule]:
    out = []
    for part in filter(None, s.split(",")):
        name, sep, verdict = part.rpartition(":")
        out.append(DeniedRule(name, verdict) if sep else DeniedRule(part, ""))
    return out


class WaiaasTimeoutError(WaiaasError):
    """The request was still not signed when the wait's ``timeout`` ran out. It is left PENDING on the appliance
    (unless ``cancel_on_timeout`` was set): wait again with its id, or cancel it
    (``client.requests.cancel(err.sign_request_id)``)."""

    sign_request_id: str
    timeout: float
    """The timeout, in seconds."""
    last_seen: Optional["SignRequest"]
    """The request as last seen (e.g. PENDING with verdict APPROVAL); None when nothing was received."""
    cancelled: bool
    """True when the request was cancelled on the appliance because of the timeout (``cancel_on_timeout``)."""

    def __init__(self, sign_request_id: str, timeout: float, last_seen: Optional["SignRequest"] = None, cancelled: bool = False) -> None:
        verdict = ""
        if last_seen is not None:
            verdict = f" ({_verdict_name(last_seen.verdict)}{', rule ' + last_seen.rule if last_seen.rule else ''})"
        super().__init__(
            f"sign request {sign_request_id}{verdict} was not signed within {timeout:g} s{'; it was cancelled' if cancelled else ''}",
            grpc.StatusCode.DEADLINE_EXCEEDED,
            WAIT_TIMEOUT,
            {"sign_request_id": sign_request_id},
        )
        self.sign_request_id = sign_request_id
        self.timeout = timeout
        self.last_seen = last_seen
        self.cancelled = cancelled


# state -> (gRPC code, reason when the record has none); as the TypeScript client.
_ENDED: Dict[SignRequestState, Tuple[grpc.StatusCode, str]] = {
    SignRequestState.CANCELLED: (grpc.StatusCode.ABORTED, "WAIAAS_SIGN_REQUEST_CANCELLED"),
    SignRequestState.EXPIRED: (grpc.StatusCode.DEADLINE_EXCEEDED, "WAIAAS_SIGN_REQUEST_EXPIRED"),
    SignRequestState.REFUSED: (grpc.StatusCode.PERMISSION_DENIED, POLICY_DENIED),
    SignRequestState.FAILED: (grpc.StatusCode.UNAVAILABLE, "WAIAAS_INTERNAL"),
}


class WaiaasRequestEndedError(WaiaasError):
    """A pending request ended without being signed: CANCELLED (by the agent, an owner or a freeze), EXPIRED,
    REFUSED (an owner rejected or vetoed it: reason WAIAAS_POLICY_DENIED) or FAILED. ``reason`` is the reason the
    server recorded (e.g. ``WAIAAS_SIGN_REQUEST_EXPIRED``, ``WAIAAS_FROZEN``); ``metadata`` has ``sign_request_id``
    and ``state``."""

    sign_request_id: str
    state: SignRequestState
    sign_request: "SignRequest"
    """The request as it ended."""

    def __init__(self, sign_request: "SignRequest") -> None:
        try:
            state = SignRequestState(sign_request.state)
        except ValueError:
            state = SignRequestState.FAILED
        code, fallback = _ENDED.get(state, (grpc.StatusCode.UNKNOWN, "WAIAAS_INTERNAL"))
        if state not in _ENDED:
            state = SignRequestState.FAILED
        reason = sign_request.error_reason or fallback
        detail = f": {sign_request.error_message}" if sign_request.error_message else ""
        super().__init__(
            f"sign request {sign_request.sign_request_id} ended {state.name}{detail}",
            code,
            reason,
            {"sign_request_id": sign_request.sign_request_id, "state": state.name},
        )
        self.sign_request_id = sign_request.sign_request_id
        self.state = state
        self.sign_request = sign_request


def parse_status_details(raw: bytes) -> Tuple[str, Dict[str, str]]:
    """Reason and metadata of the first google.rpc.ErrorInfo in a serialized google.rpc.Status; ("", {}) if none."""
    from ._gen.google.rpc import error_details_pb2, status_pb2

    try:
        st = status_pb2.Status.FromString(raw)
        for detail in st.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return info.reason, dict(info.metadata)
    except Exception:  # a malformed trailer leaves reason empty; code and message still stand
        pass
    return "", {}


def from_rpc_error(err: grpc.RpcError) -> WaiaasError:
    """Converts a grpc.RpcError (of a unary call or a stream) into a WaiaasError (WaiaasDeniedError for
    WAIAAS_POLICY_DENIED)."""
    code_fn = getattr(err, "code", None)
    code = code_fn() if callable(code_fn) else grpc.StatusCode.UNKNOWN
    details_fn = getattr(err, "details", None)
    message = (details_fn() if callable(details_fn) else None) or str(err) or code.name
    reason: str = ""
    metadata: Dict[str, str] = {}
    trailers_fn = getattr(err, "trailing_metadata", None)
    for key, value in (trailers_fn() if callable(trailers_fn) else None) or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, (bytes, bytearray)):
            reason, metadata = parse_status_details(bytes(value))
            break
    if reason == POLICY_DENIED:
        return WaiaasDeniedError(message, code, reason, metadata)
    return WaiaasError(message, code, reason, metadata)
