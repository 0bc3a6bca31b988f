#!/usr/bin/env python3
"""An AI agent's payments through WAIaaS Signer, with the Python client.

It uses an existing EVM wallet and tries three native transfers (each built here as an unsigned EIP-1559
transaction) against the wallet's policy:

  1. a small payment the policy signs at once (INSTANT);
  2. a larger one that needs the owners' approval: it waits a short while for them, and cancels the request if
     they have not approved it by then (releasing its reservation);
  3. one the policy denies: the appliance names the rule.

    python3 examples/python/agent.py WALLET_ID STATE_DIR [--address localhost:7443] [--approval-wait 5]

STATE_DIR is a development state folder (`make run` makes .waiaas/): the agent connects with STATE_DIR/ca.pem,
agent.pem and agent.key, at the address in STATE_DIR/config.toml unless --address is given. The wallet's policy
should match the amounts (defaults: 50, 500 and 5000 wei); `--print-policy` prints one that does:

    python3 examples/python/agent.py --print-policy > policy.json
    clients/ctl/waiaas-ctl policy set WALLET_ID --file policy.json --state .waiaas

Nothing is broadcast: the signed transactions are printed.
Exit codes: 0 when the three requests went as the policy says, 1 otherwise, 2 for a usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

try:
    import waiaas_client  # noqa: F401  (installed with `pip install clients/python`)
except ImportError:  # running from the repository without installing: use clients/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

from waiaas_client import (
    Chain,
    PendingSignature,
    Signed,
    SignRequestState,
    WaiaasClient,
    WaiaasDeniedError,
    WaiaasError,
    WaiaasRequestEndedError,
    WaiaasTimeoutError,
)
from waiaas_client.evm import unsigned_eip1559

RECIPIENT = "0x1111111111111111111111111111111111111111"


def example_policy(small: int, large: int) -> dict:
    """A policy for the three payments: up to `small` wei at once, up to `large` with the owners' approval."""
    return {
        "schema": "waiaas.policy.v1",
        "rules": [
            {"name": "pay", "kind": "transfer", "verdict": "INSTANT", "asset": "native", "max_amount": str(small)},
            {"name": "owners-decide", "kind": "transfer", "verdict": "APPROVAL", "asset": "native", "min_amount": str(small + 1), "max_amount": str(large)},
            {"name": "fees", "kind": "fee", "verdict": "INSTANT", "max": "10000000000000000"},
        ],
    }


def transfer(args: argparse.Namespace, value: int) -> bytes:
    # The nonce only makes each transaction distinct here; a real agent reads it from its RPC node.
    return unsigned_eip1559(
        chain_id=args.chain_id,
        nonce=int(time.time() * 1000) % 1_000_000 + value,
        to=args.to,
        value=value,
        gas=21_000,
        max_fee_per_gas=30 * 10**9,
        max_priority_fee_per_gas=10**9,
    )


def main(argv: list) -> int:
    p = argparse.ArgumentParser(description="An agent's payments through WAIaaS Signer (see the module docstring).")
    p.add_argument("wallet_id", nargs="?", help="an EVM wallet (wlt_...)")
    p.add_argument("state_dir", nargs="?", help="development state folder (ca.pem, agent.pem, agent.key, config.toml)")
    p.add_argument("--address", help="host:port of the appliance (default: server.listen of STATE_DIR/config.toml)")
    p.add_argument("--chain-id", type=int, default=1)
    p.add_argument("--to", default=RECIPIENT, help=f"recipient (default {RECIPIENT})")
    p.add_argument("--small", type=int, default=50, help="wei of the payment inside the policy (default 50)")
    p.add_argument("--large", type=int, default=500, help="wei of the payment that needs approval (default 500)")
    p.add_argument("--too-large", type=int, default=5000, help="wei of the payment the policy denies (default 5000)")
    p.add_argument("--approval-wait", type=float, default=5.0, help="seconds to wait for the owners (default 5)")
    p.add_argument("--print-policy", action="store_true", help="print a policy document for these amounts and exit")
    args = p.parse_args(argv)

    if args.print_policy:
        print(json.dumps(example_policy(args.small, args.large), indent=2))
        return 0
    if not args.wallet_id or not args.state_dir:
        p.print_usage(sys.stderr)
        print("agent.py: error: WALLET_ID and STATE_DIR are required", file=sys.stderr)
        return 2

    ok = True
    try:
        with WaiaasClient.from_dev_state(args.state_dir, "agent", address=args.address) as client:
            wallet = client.wallets.get(args.wallet_id)
            if wallet.chain != Chain.EVM:
                print(f"agent.py: error: {wallet.wallet_id} is not an EVM wallet", file=sys.stderr)
                return 2
            print(f"wallet {wallet.wallet_id} ({wallet.address}) on chain {args.chain_id}")

            # 1. Inside the policy: signed at once.
            signed = client.signer.sign_evm_transaction(wallet.wallet_id, transfer(args, args.small), args.chain_id)
            print(f"1. pay {args.small} wei: signed ({signed.verdict.name}) as {signed.sign_request_id}, "
                  f"tx hash 0x{signed.result.transaction_hash.hex()}, raw 0x{signed.hex()}")
            ok &= signed.verdict.name in ("INSTANT", "NOTIFY")

            # 2. Needs the owners: ask without waiting, then wait a little for them.
            res = client.signer.sign_evm_transaction(wallet.wallet_id, transfer(args, args.large), args.chain_id, wait=False)
            if isinstance(res, Signed):
                print(f"2. pay {args.large} wei: signed at once ({res.verdict.name}) as {res.sign_request_id}")
                ok = False
            else:
                pending: PendingSignature = res
                # APPROVAL waits for the owners; a wallet without owners gets DELAY instead (signed after the delay
                # unless vetoed).
                what = "the owners" if pending.verdict.name == "APPROVAL" else f"the {pending.delay_seconds} s delay"
                print(f"2. pay {args.large} wei: {pending.verdict.name}, request {pending.sign_request_id} is pending; "
                      f"waiting {args.approval_wait:g}s for {what}")
                try:
                    signed = pending.wait(timeout=args.approval_wait)
                    print(f"   approved and signed: tx hash 0x{signed.result.transaction_hash.hex()}")
                except WaiaasTimeoutError:
                    # Left alone it would stay pending (holding its reservation) until decided or expired.
                    cancelled = pending.cancel()
                    print(f"   not signed within {args.approval_wait:g}s: cancelled "
                          f"(state {SignRequestState(cancelled.state).name})")
                except WaiaasRequestEndedError as e:
                    print(f"   ended {e.state.name}: {e.reason} {e.message}")

            # 3. Outside the policy: denied, with the rule that decided.
            try:
                client.signer.sign_evm_transaction(wallet.wallet_id, transfer(args, args.too_large), args.chain_id)
                print(f"3. pay {args.too_large} wei: signed?! the policy allows it")
                ok = False
            except WaiaasDeniedError as e:
                print(f"3. pay {args.too_large} wei: denied by rule {e.rule!r} ({e.reason}): {e.message}")
    except WaiaasError as e:
        print(f"agent.py: error: {e}", file=sys.stderr)
        return 1
    print("done" if ok else "done, but not as the policy should decide")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
