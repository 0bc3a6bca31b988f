"""Tests of the Python client (clients/python) against the real appliance.

Run them with scripts/python-test.sh, which generates the code, starts `node server/main.ts --dev-state DIR
--listen 127.0.0.1:0` and sets:
  WAIAAS_TEST_STATE    the development state folder (ca.pem, agent|owner|admin.pem/.key)
  WAIAAS_TEST_ADDRESS  localhost:<port>
  WAIAAS_NODE          the node binary (for viem checks and waiaas-ctl)
Without them the tests that need the server are skipped. Runs with the standard library's unittest:
  python3 test/python/test_client.py [-v] [names...]      (prints "N passed, M failed, K skipped" last)
  python3 -m unittest discover -s test/python
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import grpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "clients" / "python"))

from waiaas_client import (  # noqa: E402
    FINAL_STATES,
    ApprovalAction,
    Chain,
    KeyAlgorithm,
    OwnerKeyType,
    OwnerState,
    PendingSignature,
    Signed,
    SignRequestState,
    Verdict,
    WaiaasClient,
    WaiaasDeniedError,
    WaiaasError,
    WaiaasRequestEndedError,
    WaiaasTimeoutError,
    pb,
)
from waiaas_client.errors import from_rpc_error  # noqa: E402
from waiaas_client.evm import unsigned_eip1559  # noqa: E402

STATE = os.environ.get("WAIAAS_TEST_STATE", "")
ADDRESS = os.environ.get("WAIAAS_TEST_ADDRESS", "")
NODE = os.environ.get("WAIAAS_NODE") or shutil.which("node") or "node"
CTL = ROOT / "clients" / "ctl" / "waiaas-ctl"
EXAMPLE = ROOT / "examples" / "python" / "agent.py"

RECIPIENT = "0x1111111111111111111111111111111111111111"
BLOCKED = "0x2222222222222222222222222222222222222222"
CHAIN_ID = 1
GWEI = 10**9

# ------------------------------------------------------------------------------------------------------------------
# A tiny RLP encoder / decoder, written here independently of waiaas_client.evm (which it checks).
# ------------------------------------------------------------------------------------------------------------------


def rlp(item: Any) -> bytes:
    def prefix(n: int, base: int) -> bytes:
        if n < 56:
            return bytes([base + n])
        ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return bytes([base + 55 + len(ln)]) + ln

    if isinstance(item, list):
        body = b"".join(rlp(x) for x in item)
        return prefix(len(body), 0xC0) + body
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big")
    if len(item) == 1 and item[0] < 0x80:
        return item
    return prefix(len(item), 0x80) + item


def unrlp(data: bytes) -> Any:
    def one(i: int) -> Tuple[Any, int]:
        b = data[i]
        if b < 0x80:
            return data[i:i + 1], i + 1
        if b < 0xB8:
            n = b - 0x80
            return data[i + 1:i + 1 + n], i + 1 + n
        if b < 0xC0:
            ll = b - 0xB7
            n = int.from_bytes(data[i + 1:i + 1 + ll], "big")
            return data[i + 1 + ll:i + 1 + ll + n], i + 1 + ll + n
        if b < 0xF8:
            n, start = b - 0xC0, i + 1
        else:
            ll = b - 0xF7
            n, start = int.from_bytes(data[i + 1:i + 1 + ll], "big"), i + 1 + ll
        out, j = [], start
        while j < start + n:
            x, j = one(j)
            out.append(x)
        assert j == start + n, "list length mismatch"
        return out, j

    item, end = one(0)
    assert end == len(data), "trailing bytes"
    return item


def as_int(b: bytes) -> int:
    return int.from_bytes(b, "big")


_nonce = [int(time.time()) % 100_000]


def eip1559(value: int, to: str = RECIPIENT, nonce: Optional[int] = None) -> Tuple[bytes, List[Any]]:
    """An unsigned EIP-1559 transfer, by hand (fee worst case 21000 * 30 gwei = 0.00063 ETH); and its fields."""
    if nonce is None:
        _nonce[0] += 1
        nonce = _nonce[0]
    fields = [CHAIN_ID, nonce, 1 * GWEI, 30 * GWEI, 21_000, bytes.fromhex(to[2:]), value, b"", []]
    return b"\x02" + rlp(fields), fields


# ------------------------------------------------------------------------------------------------------------------
# Helpers: clients, node one-liners (viem), waiaas-ctl
# ------------------------------------------------------------------------------------------------------------------


def client(role: str) -> WaiaasClient:
    return WaiaasClient(ADDRESS, ca=f"{STATE}/ca.pem", cert=f"{STATE}/{role}.pem", key=f"{STATE}/{role}.key")


def node_eval(code: str, *args: str) -> str:
    """Runs an ES module one-liner with the repository's node_modules (viem); returns its stdout, stripped."""
    p = subprocess.run([NODE, "--input-type=module", "-e", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"node exited {p.returncode}: {p.stderr}")
    return p.stdout.strip()


def viem_recover_transaction(signed_tx: bytes) -> Dict[str, str]:
    out = node_eval(
        "import { recoverTransactionAddress, keccak256 } from 'viem';"
        "const tx = process.argv[1];"
        "console.log(JSON.stringify({ address: await recoverTransactionAddress({ serializedTransaction: tx }), hash: keccak256(tx) }));",
        "0x" + signed_tx.hex(),
    )
    return json.loads(out)


def viem_recover_message(message: str, signature: bytes) -> str:
    return node_eval(
        "import { recoverMessageAddress } from 'viem';"
        "console.log(await recoverMessageAddress({ message: process.argv[1], signature: process.argv[2] }));",
        message,
        "0x" + signature.hex(),
    )


def ctl(*args: str, connect: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs waiaas-ctl (as the dev owner of the test server when `connect`), without the caller's WAIAAS_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAIAAS_")}
    env["WAIAAS_NODE"] = NODE
    conn = ["--state", STATE, "--address", ADDRESS] if connect else []
    return subprocess.run([str(CTL), *args, *conn], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def ctl_json(*args: str, connect: bool = True) -> Any:
    p = ctl(*args, "--json", connect=connect)
    if p.returncode != 0:
        raise AssertionError(f"waiaas-ctl {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return json.loads(p.stdout)


def needs_server(cls: type) -> type:
    return unittest.skipUnless(STATE and ADDRESS, "needs the appliance: run scripts/python-test.sh")(cls)


class Background:
    """Runs a function in a thread after a delay; join() returns its result or raises its exception."""

    def __init__(self, fn: Any, delay: float = 0.0) -> None:
        self._result: Any = None
        self._error: Optional[BaseException] = None

        def run() -> None:
            time.sleep(delay)
            try:
                self._result = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the test thread
                self._error = e

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def join(self, timeout: float = 90) -> Any:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("background task did not finish")
        if self._error is not None:
            raise self._error
        return self._result


# ------------------------------------------------------------------------------------------------------------------
# Without the server
# ------------------------------------------------------------------------------------------------------------------


class OfflineTests(unittest.TestCase):
    def test_enums_match_the_generated_descriptors(self) -> None:
        pairs = [
            (Chain, pb.wallet_pb2.Chain, "CHAIN_"),
            (KeyAlgorithm, pb.wallet_pb2.KeyAlgorithm, "KEY_ALGORITHM_"),
            (Verdict, pb.effects_pb2.Verdict, "VERDICT_"),
            (SignRequestState, pb.sign_request_pb2.SignRequestState, "SIGN_REQUEST_STATE_"),
            (OwnerKeyType, pb.owner_pb2.OwnerKeyType, "OWNER_KEY_TYPE_"),
            (OwnerState, pb.owner_pb2.OwnerState, "OWNER_STATE_"),
            (ApprovalAction, pb.approval_pb2.ApprovalAction, "APPROVAL_ACTION_"),
        ]
        for ours, theirs, prefix in pairs:
            with self.subTest(ours.__name__):
                self.assertEqual({m.name: m.value for m in ours}, {k[len(prefix):]: v for k, v in theirs.items()})

    def test_rlp_vectors_and_the_eip1559_helper(self) -> None:
        # Vectors from the Ethereum RLP specification.
        self.assertEqual(rlp(b"dog").hex(), "83646f67")
        self.assertEqual(rlp([b"cat", b"dog"]).hex(), "c88363617483646f67")
        self.assertEqual(rlp(0).hex(), "80")
        self.assertEqual(rlp(1024).hex(), "820400")
        self.assertEqual(rlp([[], [[]], [[], [[]]]]).hex(), "c7c0c1c0c3c0c1c0")
        self.assertEqual(rlp(b"L" * 56)[:2].hex(), "b838")
        self.assertEqual(unrlp(rlp([b"cat", [b"dog", b""]])), [b"cat", [b"dog", b""]])
        tx, fields = eip1559(50, nonce=7)
        helper = unsigned_eip1559(chain_id=CHAIN_ID, nonce=7, to=RECIPIENT, value=50, gas=21_000, max_fee_per_gas=30 * GWEI, max_priority_fee_per_gas=GWEI)
        self.assertEqual(helper, tx)
        self.assertEqual(unrlp(tx[1:])[5], fields[5])

    def test_error_details_trailer_is_parsed(self) -> None:
        info = pb.error_details_pb2.ErrorInfo(reason="WAIAAS_POLICY_DENIED", domain="waiaas.dev", metadata={"rule": "default-deny"})
        st = pb.status_pb2.Status(code=7, message="denied")
        st.details.add().Pack(info)

        class FakeError(grpc.RpcError):
            def __init__(self, code: grpc.StatusCode, trailers: Any) -> None:
                self._code, self._trailers = code, trailers

            def code(self) -> grpc.StatusCode:
                return self._code

            def details(self) -> str:
                return "denied"

            def trailing_metadata(self) -> Any:
                return self._trailers

        e = from_rpc_error(FakeError(grpc.StatusCode.PERMISSION_DENIED, (("grpc-status-details-bin", st.SerializeToString()),)))
        self.assertIsInstance(e, WaiaasDeniedError)
        self.assertEqual((e.code, e.reason, e.metadata, e.rule, e.message), (grpc.StatusCode.PERMISSION_DENIED, "WAIAAS_POLICY_DENIED", {"rule": "default-deny"}, "default-deny", "denied"))
        self.assertIn("WAIAAS_POLICY_DENIED", str(e))
        # No trailer, a malformed one, a deadline.
        plain = from_rpc_error(FakeError(grpc.StatusCode.UNAVAILABLE, None))
        self.assertEqual((type(plain), plain.reason, plain.metadata), (WaiaasError, "", {}))
        bad = from_rpc_error(FakeError(grpc.StatusCode.INTERNAL, (("grpc-status-details-bin", b"\xff\x00garbage"),)))
        self.assertEqual((bad.code, bad.reason), (grpc.StatusCode.INTERNAL, ""))
        # A call's own deadline is a plain WaiaasError: WaiaasTimeoutError is for waits only (as in the TS client).
        late = from_rpc_error(FakeError(grpc.StatusCode.DEADLINE_EXCEEDED, ()))
        self.assertEqual((type(late), late.code), (WaiaasError, grpc.StatusCode.DEADLINE_EXCEEDED))
        # The denial's metadata becomes typed fields.
        info.metadata.update({"matched_rules": "pay:INSTANT,fees:INSTANT,blocked:DENY", "sign_request_id": "req_X", "policy_hash": "ab"})
        st.details[0].Pack(info)
        d = from_rpc_error(FakeError(grpc.StatusCode.PERMISSION_DENIED, (("grpc-status-details-bin", st.SerializeToString()),)))
        assert isinstance(d, WaiaasDeniedError)
        self.assertEqual(d.matched_rules, [("pay", "INSTANT"), ("fees", "INSTANT"), ("blocked", "DENY")])
        self.assertEqual((d.sign_request_id, d.policy_hash), ("req_X", "ab"))

    def test_ended_and_timeout_errors(self) -> None:
        sr = pb.sign_request_pb2.SignRequest(sign_request_id="req_A", state=SignRequestState.EXPIRED, verdict=Verdict.APPROVAL, rule="owners-decide")
        e = WaiaasRequestEndedError(sr)
        self.assertEqual((e.state, e.code, e.reason, e.metadata), (SignRequestState.EXPIRED, grpc.StatusCode.DEADLINE_EXCEEDED, "WAIAAS_SIGN_REQUEST_EXPIRED", {"sign_request_id": "req_A", "state": "EXPIRED"}))
        sr.state, sr.error_reason, sr.error_message = SignRequestState.REFUSED, "WAIAAS_POLICY_DENIED", "rejected by owner 0xabc"
        e = WaiaasRequestEndedError(sr)
        self.assertEqual((e.code, e.reason, e.message), (grpc.StatusCode.PERMISSION_DENIED, "WAIAAS_POLICY_DENIED", "sign request req_A ended REFUSED: rejected by owner 0xabc"))
        sr.state = SignRequestState.PENDING
        t = WaiaasTimeoutError("req_A", 1.5, sr)
        self.assertEqual((t.code, t.reason, t.sign_request_id, t.cancelled), (grpc.StatusCode.DEADLINE_EXCEEDED, "WAIAAS_WAIT_TIMEOUT", "req_A", False))
        self.assertIn("(APPROVAL, rule owners-decide) was not signed within 1.5 s", t.message)

    def test_wait_reopens_a_dropped_watch(self) -> None:
        """wait_for_signature against a scripted SignRequestService: a dropped stream and a stream that ends early
        are opened again; NOT_FOUND and PERMISSION_DENIED are not retried."""
        SR = pb.sign_request_pb2.SignRequest
        pending = SR(sign_request_id="req_A", state=SignRequestState.PENDING)
        signed = SR(sign_request_id="req_A", state=SignRequestState.SIGNED, result=pb.sign_request_pb2.SignResult(signed_transaction=b"tx"))

        class ScriptedRequests:
            def __init__(self, script: List[List[Any]]) -> None:
                self.script, self.opened = script, 0

            def watch(self, sign_request_id: str, timeout: Optional[float] = None) -> Any:
                step = self.script[self.opened]
                self.opened += 1

                def gen() -> Any:
                    for item in step:
                        if isinstance(item, Exception):
                            raise item
                        yield item

                return gen()

        def client_with(script: List[List[Any]]) -> Tuple[WaiaasClient, ScriptedRequests]:
            c = object.__new__(WaiaasClient)
            fake = ScriptedRequests(script)
            c.requests = fake  # type: ignore[assignment]
            return c, fake

        c, fake = client_with([[WaiaasError("connection reset", grpc.StatusCode.UNAVAILABLE)], [pending], [pending, signed]])
        seen: List[int] = []
        got = c.wait_for_signature("req_A", timeout=30, on_update=lambda r: seen.append(r.state))
        self.assertEqual((got.state, got.result.signed_transaction, fake.opened), (SignRequestState.SIGNED, b"tx", 3))
        self.assertEqual(seen, [SignRequestState.PENDING, SignRequestState.PENDING, SignRequestState.SIGNED])
        for code, reason in ((grpc.StatusCode.NOT_FOUND, "WAIAAS_SIGN_REQUEST_NOT_FOUND"), (grpc.StatusCode.PERMISSION_DENIED, "WAIAAS_PERMISSION_DENIED")):
            c, fake = client_with([[WaiaasError("no", code, reason)], [signed]])
            with self.assertRaises(WaiaasError) as cm:
                c.wait_for_signature("req_A", timeout=30)
            self.assertEqual((cm.exception.reason, fake.opened), (reason, 1))
        # A stream that keeps dropping: the timeout still ends the wait.
        c, fake = client_with([[WaiaasError("down", grpc.StatusCode.UNAVAILABLE)]] * 100)
        t0 = time.monotonic()
        with self.assertRaises(WaiaasTimeoutError):
            c.wait_for_signature("req_A", timeout=1.0)
        self.assertLess(time.monotonic() - t0, 3)
        self.assertGreater(fake.opened, 1)

    def test_signed_is_bytes_with_its_record(self) -> None:
        import copy
        import pickle

        rec = pb.sign_request_pb2.SignRequest(sign_request_id="req_A", state=SignRequestState.SIGNED, result=pb.sign_request_pb2.SignResult(signed_transaction=b"\x02tx"))
        s = Signed(b"\x02tx", sign_request_id="req_A", verdict=Verdict.INSTANT, signer_address="0xabc", policy_hash="ff", sign_request=rec)
        self.assertEqual((s, s.hex(), s[0], s.result.signed_transaction), (b"\x02tx", "027478", 2, b"\x02tx"))
        for other in (copy.copy(s), pickle.loads(pickle.dumps(s))):
            self.assertIsInstance(other, Signed)
            self.assertEqual((bytes(other), other.sign_request_id, other.verdict, other.sign_request), (b"\x02tx", "req_A", Verdict.INSTANT, rec))

    def test_missing_pem_file_is_reported_by_name(self) -> None:
        with self.assertRaises(WaiaasError) as cm:
            WaiaasClient("localhost:1", ca="/nonexistent/ca.pem", cert="/nonexistent/c.pem", key="/nonexistent/k.key")
        self.assertIn("/nonexistent/ca.pem", str(cm.exception))

    def test_unreachable_appliance_is_a_typed_error(self) -> None:
        if not STATE:
            self.skipTest("needs the development certificates")
        c = WaiaasClient("localhost:1", ca=f"{STATE}/ca.pem", cert=f"{STATE}/agent.pem", key=f"{STATE}/agent.key", call_timeout=3)
        with c, self.assertRaises(WaiaasError) as cm:
            c.wallets.list()
        self.assertIn(cm.exception.code, (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED))


# ------------------------------------------------------------------------------------------------------------------
# Against the appliance
# ------------------------------------------------------------------------------------------------------------------


def basic_policy() -> Dict[str, Any]:
    return {
        "schema": "waiaas.policy.v1",
        "rules": [
            {"name": "pay", "kind": "transfer", "verdict": "INSTANT", "asset": "native", "max_amount": "100"},
            {"name": "slow", "kind": "transfer", "verdict": "DELAY", "delay_seconds": 2, "asset": "native", "min_amount": "101", "max_amount": "200"},
            {"name": "fees", "kind": "fee", "verdict": "INSTANT", "max": "10000000000000000"},
            {"name": "hello", "kind": "message", "verdict": "INSTANT", "message_kinds": ["eip191"], "text_prefix": "hello"},
            {"name": "blocked", "kind": "deny_addresses", "verdict": "DENY", "addresses": [BLOCKED]},
        ],
    }


@needs_server
class ServerTests(unittest.TestCase):
    """Wallets, policies, instant / delayed / denied signatures."""

    agent: WaiaasClient
    owner: WaiaasClient
    admin: WaiaasClient
    wallet: Any

    @classmethod
    def setUpClass(cls) -> None:
        cls.agent, cls.owner, cls.admin = client("agent"), client("owner"), client("admin")
        for c in (cls.agent, cls.owner, cls.admin):
            cls.addClassCleanup(c.close)
        cls.wallet = cls.agent.wallets.create("evm", labels={"suite": "python"}, request_id=f"py-basic-{os.getpid()}")
        cls.owner.policies.set(cls.wallet.wallet_id, basic_policy())

    def test_wallets_create_get_list(self) -> None:
        w = self.wallet
        self.assertTrue(w.wallet_id.startswith("wlt_"))
        self.assertEqual(w.chain, Chain.EVM)
        self.assertRegex(w.address, r"^0x[0-9a-fA-F]{40}$")
        self.assertEqual(w.key.algorithm, KeyAlgorithm.SECP256K1)
        self.assertEqual(dict(w.labels), {"suite": "python"})
        # The same request_id returns the same wallet (no second key).
        again = self.agent.wallets.create(Chain.EVM, labels={"suite": "python"}, request_id=f"py-basic-{os.getpid()}")
        self.assertEqual(again.wallet_id, w.wallet_id)
        self.assertEqual(self.agent.wallets.get(w.wallet_id).address, w.address)
        self.assertIn(w.wallet_id, [x.wallet_id for x in self.agent.wallets.list()])
        self.assertIn(w.wallet_id, [x.wallet_id for x in self.agent.wallets.list("evm", page_size=1)])  # follows pages
        self.assertNotIn(w.wallet_id, [x.wallet_id for x in self.agent.wallets.list(Chain.SOLANA)])
        with self.assertRaises(WaiaasError) as cm:
            self.agent.wallets.get("wlt_00000000000000000000000000")
        self.assertEqual((cm.exception.code, cm.exception.reason), (grpc.StatusCode.NOT_FOUND, "WAIAAS_WALLET_NOT_FOUND"))
        with self.assertRaises(ValueError):
            self.agent.wallets.create("bitcoin")

    def test_policies_set_get_evaluate(self) -> None:
        wid = self.wallet.wallet_id
        p = self.agent.policies.get(wid)
        self.assertGreaterEqual(p.version, 1)
        self.assertRegex(p.policy_hash, r"^[0-9a-f]{64}$")
        self.assertEqual([r["name"] for r in json.loads(p.document)["rules"]], ["pay", "slow", "fees", "hello", "blocked"])
        # Only owners and admins set policies; an invalid document names its field.
        with self.assertRaises(WaiaasError) as cm:
            self.agent.policies.set(wid, basic_policy())
        self.assertEqual((cm.exception.code, cm.exception.reason), (grpc.StatusCode.PERMISSION_DENIED, "WAIAAS_PERMISSION_DENIED"))
        bad = basic_policy()
        bad["rules"][0]["recipients"] = ["not-an-address"]
        with self.assertRaises(WaiaasError) as cm:
            self.owner.policies.set(wid, bad)
        self.assertEqual((cm.exception.code, cm.exception.reason), (grpc.StatusCode.INVALID_ARGUMENT, "WAIAAS_POLICY_INVALID"))
        self.assertIn("rules[0].recipients[0]", json.dumps(cm.exception.metadata) + cm.exception.message)
        # Dry runs: nothing is signed.
        ok = self.agent.policies.evaluate(wid, evm_transaction=eip1559(50)[0], chain_id=CHAIN_ID)
        self.assertEqual((ok.verdict, ok.rule), (Verdict.INSTANT, "pay"))
        self.assertEqual(ok.effects.outflows[0].amount, "50")
        slow = self.agent.policies.evaluate(wid, evm_transaction=eip1559(150)[0], chain_id=CHAIN_ID)
        self.assertEqual((slow.verdict, slow.rule, slow.delay_seconds), (Verdict.DELAY, "slow", 2))
        no = self.agent.policies.evaluate(wid, evm_transaction=eip1559(5000)[0], chain_id=CHAIN_ID)
        self.assertEqual((no.verdict, no.rule), (Verdict.DENY, "default-deny"))
        cand = self.agent.policies.evaluate(wid, evm_message="hello there", candidate_document={"schema": "waiaas.policy.v1", "rules": [{"name": "m", "kind": "message", "verdict": "NOTIFY"}]})
        self.assertEqual((cand.verdict, cand.rule), (Verdict.NOTIFY, "m"))
        with self.assertRaises(ValueError):
            self.agent.policies.evaluate(wid)
        with self.assertRaises(ValueError):
            self.agent.policies.evaluate(wid, evm_transaction=b"\x02", evm_message="x", chain_id=1)

    def test_sign_evm_transaction_recovers_to_the_wallet(self) -> None:
        tx, fields = eip1559(50)
        signed = self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, tx, CHAIN_ID, request_id=f"py-pay-{os.getpid()}")
        self.assertIsInstance(signed, Signed)
        self.assertIsInstance(signed, bytes)
        self.assertEqual(signed.verdict, Verdict.INSTANT)
        self.assertEqual(signed.signer_address, self.wallet.address)
        self.assertEqual(signed.sign_request.state, SignRequestState.SIGNED)
        self.assertEqual(bytes(signed), signed.result.signed_transaction)
        # The signed transaction is the unsigned one plus y_parity, r, s.
        self.assertEqual(signed[0], 2)
        decoded = unrlp(bytes(signed[1:]))
        self.assertEqual(len(decoded), 12)
        self.assertEqual(decoded[:9], unrlp(tx[1:]))
        self.assertIn(as_int(decoded[9]), (0, 1))
        self.assertEqual(as_int(decoded[10]), as_int(signed.sign_request.result.signature[:32]))
        # viem recovers the wallet's address, and the hash is keccak256 of the signed bytes.
        rec = viem_recover_transaction(bytes(signed))
        self.assertEqual(rec["address"], self.wallet.address)
        self.assertEqual(rec["hash"], "0x" + signed.result.transaction_hash.hex())
        # A retry with the same request_id answers the first answer, and never signs twice.
        again = self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, tx, CHAIN_ID, request_id=f"py-pay-{os.getpid()}")
        self.assertEqual((again.sign_request_id, bytes(again)), (signed.sign_request_id, bytes(signed)))
        with self.assertRaises(WaiaasError) as cm:
            self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(51)[0], CHAIN_ID, request_id=f"py-pay-{os.getpid()}")
        self.assertEqual(cm.exception.reason, "WAIAAS_REQUEST_ID_REUSED")
        # The record is readable.
        got = self.agent.requests.get(signed.sign_request_id)
        self.assertEqual((got.state, got.kind, got.rule), (SignRequestState.SIGNED, "evm_transaction", "pay"))

    def test_denied_with_the_rule(self) -> None:
        with self.assertRaises(WaiaasDeniedError) as cm:
            self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(5000)[0], CHAIN_ID)
        e = cm.exception
        self.assertEqual(e.reason, "WAIAAS_POLICY_DENIED")
        self.assertEqual(e.code, grpc.StatusCode.PERMISSION_DENIED)
        self.assertEqual(e.metadata.get("rule"), "default-deny")
        self.assertEqual(e.rule, "default-deny")
        self.assertIn(("default-deny", "DENY"), e.matched_rules)
        self.assertTrue(e.sign_request_id.startswith("req_"))
        self.assertRegex(e.policy_hash, r"^[0-9a-f]{64}$")
        self.assertEqual(self.agent.requests.get(e.sign_request_id).state, SignRequestState.REFUSED)
        with self.assertRaises(WaiaasDeniedError) as cm:
            self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(10, to=BLOCKED)[0], CHAIN_ID)
        self.assertEqual((cm.exception.reason, cm.exception.metadata.get("rule"), cm.exception.rule), ("WAIAAS_POLICY_DENIED", "blocked", "blocked"))
        self.assertIn(("blocked", "DENY"), cm.exception.matched_rules)
        # Other refusals are plain WaiaasErrors with their own reason.
        with self.assertRaises(WaiaasError) as cm:
            self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(50)[0], 5)
        self.assertNotIsInstance(cm.exception, WaiaasDeniedError)
        self.assertEqual(cm.exception.reason, "WAIAAS_CHAIN_ID_MISMATCH")

    def test_delay_waits_by_watching(self) -> None:
        # wait=True (the default): returns once the delay has passed and the appliance signed.
        t0 = time.monotonic()
        signed = self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(150)[0], CHAIN_ID, wait_timeout=30)
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        self.assertEqual((signed.verdict, signed.sign_request.state), (Verdict.DELAY, SignRequestState.SIGNED))
        self.assertEqual(viem_recover_transaction(bytes(signed))["address"], self.wallet.address)
        # wait=False: a PendingSignature; requests.watch streams PENDING then SIGNED and ends.
        pending = self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(160)[0], CHAIN_ID, wait=False)
        self.assertIsInstance(pending, PendingSignature)
        assert isinstance(pending, PendingSignature)
        self.assertEqual((pending.verdict, pending.delay_seconds, pending.sign_request.state), (Verdict.DELAY, 2, SignRequestState.PENDING))
        states = [SignRequestState(s.state) for s in self.agent.requests.watch(pending.sign_request_id, timeout=30)]
        self.assertEqual((states[0], states[-1]), (SignRequestState.PENDING, SignRequestState.SIGNED))
        final = pending.wait(timeout=10)  # already signed: returns at once
        self.assertEqual(final.sign_request_id, pending.sign_request_id)
        self.assertEqual(viem_recover_transaction(bytes(final))["address"], self.wallet.address)

    def test_sign_evm_message(self) -> None:
        sig = self.agent.signer.sign_evm_message(self.wallet.wallet_id, "hello from python")
        self.assertEqual(len(sig), 65)
        self.assertIn(sig[64], (27, 28))
        self.assertEqual(viem_recover_message("hello from python", bytes(sig)), self.wallet.address)
        with self.assertRaises(WaiaasDeniedError):
            self.agent.signer.sign_evm_message(self.wallet.wallet_id, "transfer everything")

    def test_solana_message(self) -> None:
        w = self.agent.wallets.create("solana")
        self.assertEqual((w.chain, w.key.algorithm, len(w.key.public_key)), (Chain.SOLANA, KeyAlgorithm.ED25519, 32))
        self.owner.policies.set(w.wallet_id, {"schema": "waiaas.policy.v1", "rules": [{"name": "sign-in", "kind": "message", "verdict": "INSTANT", "text_prefix": "example.org"}]})
        sig = self.agent.signer.sign_solana_message(w.wallet_id, "example.org wants you to sign in")
        self.assertEqual(len(sig), 64)
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        except ImportError:  # python3-cryptography is optional here
            return
        Ed25519PublicKey.from_public_bytes(bytes(w.key.public_key)).verify(bytes(sig), bytes(sig.result.signed_message))
        with self.assertRaises(WaiaasError) as cm:
            self.agent.signer.sign_evm_transaction(w.wallet_id, eip1559(1)[0], CHAIN_ID)
        self.assertEqual(cm.exception.reason, "WAIAAS_WALLET_CHAIN_MISMATCH")


def approval_policy() -> Dict[str, Any]:
    return {
        "schema": "waiaas.policy.v1",
        "rules": [
            {"name": "pay", "kind": "transfer", "verdict": "INSTANT", "asset": "native", "max_amount": "100"},
            {"name": "owners-decide", "kind": "transfer", "verdict": "APPROVAL", "asset": "native", "min_amount": "101", "max_amount": "1000"},
            {"name": "fees", "kind": "fee", "verdict": "INSTANT", "max": "10000000000000000"},
        ],
    }


@needs_server
class ApprovalTests(unittest.TestCase):
    """APPROVAL: an owner key registered by the admin, approvals made with waiaas-ctl while the agent waits."""

    agent: WaiaasClient
    owner: WaiaasClient
    admin: WaiaasClient
    wallet: Any
    keydir: str
    key_file: str
    owner_address: str

    @classmethod
    def setUpClass(cls) -> None:
        cls.agent, cls.owner, cls.admin = client("agent"), client("owner"), client("admin")
        cls.keydir = tempfile.mkdtemp(prefix="waiaas-py-keys-")
        # Class cleanups run even when setUpClass fails part way.
        cls.addClassCleanup(shutil.rmtree, cls.keydir, True)
        for c in (cls.agent, cls.owner, cls.admin):
            cls.addClassCleanup(c.close)
        cls.key_file = os.path.join(cls.keydir, "alice.key")
        cls.owner_address = ctl_json("keys", "generate", "--type", "evm", "--out", cls.key_file, connect=False)["address"]
        cls.wallet = cls.agent.wallets.create("evm")
        cls.owner.policies.set(cls.wallet.wallet_id, approval_policy())
        # The admin registers the first owner (the wallet is NONE: no signatures needed) -> GRACE.
        ownership = cls.admin.owners.set(cls.wallet.wallet_id, [{"key": cls.owner_address, "label": "alice"}], threshold=1)
        assert ownership.state == OwnerState.GRACE, ownership

    def approve_with_ctl(self, sign_request_id: str, action: str = "approve") -> Any:
        return ctl_json("approvals", action, sign_request_id, "--key-file", self.key_file)

    def test_owners_are_registered(self) -> None:
        o = self.owner.owners.get(self.wallet.wallet_id)
        # EVM keys are stored lower-case (compared case-insensitively).
        self.assertEqual([(x.key.lower(), x.label, x.key_type) for x in o.owners], [(self.owner_address.lower(), "alice", OwnerKeyType.EVM)])
        self.assertEqual(o.threshold, 1)
        self.assertFalse(o.frozen)
        with self.assertRaises(WaiaasError) as cm:
            self.agent.owners.set(self.wallet.wallet_id, [self.owner_address])
        self.assertEqual(cm.exception.code, grpc.StatusCode.PERMISSION_DENIED)

    def test_wait_for_signature_returns_signed_after_approval(self) -> None:
        res = self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(500)[0], CHAIN_ID, wait=False)
        self.assertIsInstance(res, PendingSignature)
        assert isinstance(res, PendingSignature)
        self.assertEqual(res.verdict, Verdict.APPROVAL)
        rid = res.sign_request_id
        # The owner sees it with its summary and the message to sign.
        pend = self.owner.approvals.get(rid)
        self.assertEqual((pend.threshold, len(pend.approvals)), (1, 0))
        self.assertIn(rid, [p.sign_request.sign_request_id for p in self.owner.approvals.list(self.wallet.wallet_id)])
        self.assertIn(rid, self.owner.approvals.message(rid).message)
        # Approve from "elsewhere" (waiaas-ctl with the owner's key file) while the agent waits by watching.
        # Short subscription windows: the watch is renewed a few times before the approval arrives.
        approver = Background(lambda: self.approve_with_ctl(rid), delay=2.0)
        seen: List[SignRequestState] = []
        t0 = time.monotonic()
        sr = self.agent.wait_for_signature(rid, timeout=60, resubscribe=0.6, on_update=lambda r: seen.append(SignRequestState(r.state)))
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        self.assertEqual(sr.state, SignRequestState.SIGNED)
        self.assertTrue(sr.HasField("result"))
        self.assertGreaterEqual(seen.count(SignRequestState.PENDING), 2, seen)
        self.assertEqual(seen[-1], SignRequestState.SIGNED)
        self.assertEqual(approver.join()["request"]["signRequest"]["state"], "SIGNED")
        self.assertEqual(viem_recover_transaction(sr.result.signed_transaction)["address"], self.wallet.address)
        self.assertEqual(self.owner.owners.get(self.wallet.wallet_id).state, OwnerState.LOCKED)

    def test_sign_helper_waits_through_approval(self) -> None:
        request_id = f"py-approve-{os.getpid()}-{time.time_ns()}"

        def find_and_approve() -> Any:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                for p in self.owner.approvals.list(self.wallet.wallet_id):
                    if p.sign_request.request_id == request_id:
                        return self.approve_with_ctl(p.sign_request.sign_request_id)
                time.sleep(0.2)
            raise AssertionError("the request never appeared in the pending list")

        approver = Background(find_and_approve)
        signed = self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(600)[0], CHAIN_ID, request_id=request_id, wait_timeout=60)
        approver.join()
        self.assertEqual((signed.verdict, signed.sign_request.state), (Verdict.APPROVAL, SignRequestState.SIGNED))
        self.assertEqual(viem_recover_transaction(bytes(signed))["address"], self.wallet.address)

    def test_timeout_then_cancel(self) -> None:
        pending = self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(700)[0], CHAIN_ID, wait=False)
        assert isinstance(pending, PendingSignature)
        rid = pending.sign_request_id
        t0 = time.monotonic()
        with self.assertRaises(WaiaasTimeoutError) as cm:
            self.agent.wait_for_signature(rid, timeout=1.0)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 10)
        e = cm.exception
        self.assertEqual((e.code, e.reason, e.sign_request_id, e.cancelled), (grpc.StatusCode.DEADLINE_EXCEEDED, "WAIAAS_WAIT_TIMEOUT", rid, False))
        self.assertEqual(e.last_seen.state if e.last_seen else None, SignRequestState.PENDING)
        # Waiting did not end the request.
        self.assertEqual(self.agent.requests.get(rid).state, SignRequestState.PENDING)
        # The sign helper's own wait times out the same way; cancel_on_timeout cancels the request too.
        with self.assertRaises(WaiaasTimeoutError) as cm2:
            self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(701)[0], CHAIN_ID, wait_timeout=0.5, cancel_on_timeout=True)
        other = cm2.exception.sign_request_id
        self.assertTrue(other.startswith("req_"))
        self.assertTrue(cm2.exception.cancelled)
        self.assertEqual(self.agent.requests.get(other).state, SignRequestState.CANCELLED)
        # Cancelled: the wait ends with WaiaasRequestEndedError.
        self.assertEqual(pending.cancel().state, SignRequestState.CANCELLED)
        with self.assertRaises(WaiaasRequestEndedError) as cm3:
            self.agent.wait_for_signature(rid, timeout=10)
        e3 = cm3.exception
        self.assertEqual((e3.state, e3.sign_request_id, e3.code), (SignRequestState.CANCELLED, rid, grpc.StatusCode.ABORTED))
        self.assertTrue(e3.reason.startswith("WAIAAS_"), e3.reason)
        self.assertNotIsInstance(e3, WaiaasDeniedError)
        with self.assertRaises(WaiaasError) as cm4:
            self.agent.requests.cancel(rid)
        self.assertEqual(cm4.exception.reason, "WAIAAS_SIGN_REQUEST_NOT_PENDING")
        with self.assertRaises(WaiaasError) as cm5:
            self.agent.wait_for_signature("req_00000000000000000000000000", timeout=5)
        self.assertEqual((cm5.exception.code, cm5.exception.reason), (grpc.StatusCode.NOT_FOUND, "WAIAAS_SIGN_REQUEST_NOT_FOUND"))

    def test_owner_rejection_ends_the_wait(self) -> None:
        pending = self.agent.signer.sign_evm_transaction(self.wallet.wallet_id, eip1559(800)[0], CHAIN_ID, wait=False)
        assert isinstance(pending, PendingSignature)
        rejecter = Background(lambda: self.approve_with_ctl(pending.sign_request_id, "reject"), delay=0.5)
        with self.assertRaises(WaiaasRequestEndedError) as cm:
            pending.wait(timeout=60)
        self.assertEqual(rejecter.join()["request"]["signRequest"]["state"], "REFUSED")
        e = cm.exception
        self.assertEqual((e.state, e.reason, e.code), (SignRequestState.REFUSED, "WAIAAS_POLICY_DENIED", grpc.StatusCode.PERMISSION_DENIED))
        self.assertIn("rejected by owner", e.message)
        self.assertIn(SignRequestState.REFUSED, FINAL_STATES)


@needs_server
class ExampleTests(unittest.TestCase):
    """examples/python/agent.py against a wallet with the policy it prints."""

    def test_agent_example(self) -> None:
        with client("agent") as agent, client("owner") as owner, client("admin") as admin:
            wallet = agent.wallets.create("evm")
            policy = subprocess.run([sys.executable, str(EXAMPLE), "--print-policy"], capture_output=True, text=True, check=True).stdout
            owner.policies.set(wallet.wallet_id, policy)
            # With an owner, the large payment is an APPROVAL (without one it would be downgraded to DELAY).
            keydir = tempfile.mkdtemp(prefix="waiaas-py-example-")
            try:
                key = ctl_json("keys", "generate", "--type", "evm", "--out", os.path.join(keydir, "k.key"), connect=False)["address"]
            finally:
                shutil.rmtree(keydir, ignore_errors=True)
            admin.owners.set(wallet.wallet_id, [key])
            p = subprocess.run(
                [sys.executable, str(EXAMPLE), wallet.wallet_id, STATE, "--address", ADDRESS, "--approval-wait", "1.5"],
                capture_output=True, text=True, timeout=120,
            )
            self.assertEqual(p.returncode, 0, f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
            out = p.stdout
            self.assertIn(f"wallet {wallet.wallet_id} ({wallet.address})", out)
            self.assertRegex(out, r"1\. pay 50 wei: signed \(INSTANT\) as req_\w+, tx hash 0x[0-9a-f]{64}, raw 0x02[0-9a-f]+")
            self.assertRegex(out, r"2\. pay 500 wei: APPROVAL, request req_\w+ is pending; waiting 1\.5s for the owners")
            self.assertIn("not signed within 1.5s: cancelled (state CANCELLED)", out)
            self.assertIn("3. pay 5000 wei: denied by rule 'default-deny' (WAIAAS_POLICY_DENIED)", out)
            self.assertTrue(out.rstrip().endswith("done"))
            # The cancelled request released its reservation and is no longer pending.
            self.assertEqual(owner.approvals.list(wallet.wallet_id), [])
            bad = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True)
            self.assertEqual(bad.returncode, 2)


# ------------------------------------------------------------------------------------------------------------------


def main(argv: List[str]) -> int:
    """unittest with a closing line: "N passed, M failed, K skipped"."""
    verbosity = 2
    names = [a for a in argv if not a.startswith("-")]
    if "-q" in argv:
        verbosity = 1
    loader = unittest.TestLoader()
    module = sys.modules[__name__]
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=verbosity, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
