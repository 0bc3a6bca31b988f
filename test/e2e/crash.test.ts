/**
 * Crash safety: the real server is killed with SIGKILL in the middle of a concurrent load, three times. After each
 * restart: no request_id is ever signed twice (ECDSA signatures are randomised, so a second signing would show as a
 * different signature), pending approvals and spend reservations are intact, and the audit chain verifies.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, test } from 'vitest';
import { Chain, OwnerKeyType, SignRequestState, WaiaasClientError } from '../../clients/ts/src/index.ts';
import { unsignedEip1559 } from '../support/evm.ts';
import { policyJson } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

const TO = '0x1111111111111111111111111111111111111111';

describe('crash safety', () => {
  let server: TestServer | undefined;
  afterAll(async () => {
    if (server) {
      if (server.proc.exitCode === null) await server.stop();
      await removeState(server.dir);
    }
  });

  test('kill -9 during concurrent signing, three times: nothing signed twice, reservations and pending requests intact, audit verifies', async () => {
    server = await startServer();
    const dir = server.dir;
    let agent = server.client('agent');
    let admin = server.client('admin');
    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await admin.policies.setPolicy({
      walletId: w.walletId,
      policy: {
        document: policyJson([
          { name: 'small', kind: 'transfer', verdict: 'INSTANT', asset: 'native', max_amount: '100' },
          { name: 'large', kind: 'transfer', verdict: 'APPROVAL', asset: 'native', min_amount: '101' },
          { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000000000000' },
        ]),
      },
    });
    await admin.owners.setOwners({ walletId: w.walletId, change: { owners: [{ keyType: OwnerKeyType.EVM, key: '0x2222222222222222222222222222222222222222', label: '' }], threshold: 1 } });
    const pending = await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: TO, value: 5000n, nonce: 999_999 }), chainId: 1n, requestId: 'pending-1' });
    expect(pending.state).toBe(SignRequestState.PENDING);

    /** What each request_id answered, first time and on every retry. */
    const answers = new Map<string, string>();
    let nonce = 0;
    for (let round = 0; round < 3; round++) {
      // A burst of concurrent requests, each with its own request_id; the server is killed while they run.
      const ids = Array.from({ length: 40 }, (_, i) => ({ id: `r${round}-${i}`, tx: unsignedEip1559({ chainId: 1n, to: TO, value: 1n, nonce: nonce++ }) }));
      const calls = ids.map(({ id, tx }) =>
        agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: tx, chainId: 1n, requestId: id }, { deadline: 10_000 }).then(
          (r) => ({ id, sig: Buffer.from(r.signedTransaction).toString('hex') }),
          (e: unknown) => ({ id, error: e as WaiaasClientError }),
        ),
      );
      await Promise.race(calls);
      await server.kill();
      const before = await Promise.all(calls);
      for (const b of before) if ('sig' in b) answers.set(b.id, b.sig);
      expect(before.some((b) => 'sig' in b)).toBe(true);

      server = await startServer({ dir });
      agent = server.client('agent');
      admin = server.client('admin');
      // Every request_id retried: a signed one answers its first signature again; an interrupted one is refused, never re-signed.
      for (const { id, tx } of ids) {
        const retry = await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: tx, chainId: 1n, requestId: id }).then(
          (r) => Buffer.from(r.signedTransaction).toString('hex'),
          (e: WaiaasClientError) => e.reason,
        );
        const first = answers.get(id);
        if (first !== undefined) expect(retry, id).toBe(first);
        else if (retry.startsWith('WAIAAS_')) expect(retry, id).toBe('WAIAAS_REQUEST_INTERRUPTED');
        else answers.set(id, retry);
        // And once more: stable.
        const again = await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: tx, chainId: 1n, requestId: id }).then(
          (r) => Buffer.from(r.signedTransaction).toString('hex'),
          (e: WaiaasClientError) => e.reason,
        );
        expect(again, id).toBe(retry);
      }
    }

    // The pending approval survived three crashes, with its reservation.
    const p = await agent.requests.getSignRequest({ signRequestId: pending.signRequestId });
    expect(p.signRequest?.state).toBe(SignRequestState.PENDING);
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const rows = db.prepare(`SELECT state, COUNT(*) AS n FROM sign_requests WHERE wallet_id = ? GROUP BY state`).all(w.walletId) as { state: string; n: number }[];
      const by = Object.fromEntries(rows.map((r) => [r.state, r.n]));
      expect(by.SIGNING ?? 0).toBe(0);
      expect(by.SIGNED).toBe([...answers.values()].length);
      // Reservations: every signed (and every interrupted, possibly signed) request keeps its spend; the pending one too.
      const reserved = db.prepare(`SELECT COALESCE(SUM(CAST(amount AS INTEGER)), 0) AS s FROM spend_reservations WHERE wallet_id = ? AND asset = 'native' AND released = 0`).get(w.walletId) as { s: number };
      const expected = db.prepare(`SELECT COUNT(*) AS n FROM sign_requests WHERE wallet_id = ? AND (state = 'SIGNED' OR (state = 'FAILED' AND error_reason = 'WAIAAS_REQUEST_INTERRUPTED'))`).get(w.walletId) as { n: number };
      expect(reserved.s).toBe(expected.n * 1 + 5000);
      const bucket = db.prepare(`SELECT cum FROM spend_buckets WHERE wallet_id = ? AND asset = 'native' ORDER BY start_ms DESC LIMIT 1`).get(w.walletId) as { cum: string };
      expect(BigInt(bucket.cum)).toBe(BigInt(reserved.s));
    } finally {
      db.close();
    }
    const verified = await admin.audit.verifyAudit({});
    expect(verified.ok).toBe(true);
  });
});
