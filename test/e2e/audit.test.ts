/**
 * The audit log through the real server: every decision, signature and admin change lands in the hash chain in the
 * same transaction as the change; the admin reads and verifies it over the API; a changed entry in the file is found
 * and named.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { getAddressDecoder } from '@solana/kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Chain, WaiaasClientError, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { createSvm, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

describe('audit log', () => {
  let server: TestServer;
  let admin: WaiaasClient;
  let agent: WaiaasClient;
  let signedId: string;

  beforeAll(async () => {
    server = await startServer();
    admin = server.client('admin');
    agent = server.client('agent');
    const w = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    const to = getAddressDecoder().decode(randomBytes(32));
    await admin.policies.setPolicy({ walletId: w.walletId, policy: { document: nativeTransferPolicy([to], 100n) } });
    const blockhash = latestBlockhash(createSvm());
    signedId = (await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 5n, blockhash }) })).signRequestId;
    await agent.signer.signSolanaTransaction({ walletId: w.walletId, transaction: unsignedSolTransfer({ from: w.address, to, lamports: 500n, blockhash }) }).catch((e: unknown) => e);
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('a signed request is decided, then signed, in the chain; a denied one is decided REFUSED; only the admin reads it', async () => {
    const entries = (await admin.audit.tailAudit({ count: 100 })).entries;
    const actions = entries.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['appliance.started', 'principal.put', 'wallet.created', 'policy.set', 'sign_request.decided', 'sign_request.signed']));
    const forSigned = (await admin.audit.tailAudit({ signRequestId: signedId })).entries;
    expect(forSigned.map((e) => e.action)).toEqual(['sign_request.decided', 'sign_request.signed']);
    expect(JSON.parse(forSigned[0]!.data)).toMatchObject({ verdict: 'INSTANT', state: 'SIGNING', rule: 'pay-allowlisted' });
    const decidedDenied = entries.filter((e) => e.action === 'sign_request.decided').map((e) => JSON.parse(e.data) as { verdict: string; state: string });
    expect(decidedDenied).toContainEqual(expect.objectContaining({ verdict: 'DENY', state: 'REFUSED' }));
    const denied = await agent.audit.tailAudit({}).catch((e: unknown) => e);
    expect((denied as WaiaasClientError).reason).toBe('WAIAAS_PERMISSION_DENIED');
  });

  test('verify passes, the export re-verifies, and a changed entry is named by its seq', async () => {
    const ok = await admin.audit.verifyAudit({});
    expect(ok.ok).toBe(true);
    expect(Number(ok.entries)).toBeGreaterThan(5);
    let lines = 0;
    for await (const page of admin.audit.exportAudit({})) lines += page.lines.length;
    expect(lines).toBe(Number(ok.entries));

    // Someone with the file drops the triggers and edits an entry.
    const db = new Database(server.dbPath);
    try {
      db.exec('DROP TRIGGER audit_log_no_update');
      db.prepare(`UPDATE audit_log SET data = replace(data, '"INSTANT"', '"DENY"') WHERE sign_request_id = ? AND action = 'sign_request.decided'`).run(signedId);
    } finally {
      db.close();
    }
    const bad = await admin.audit.verifyAudit({ expectHeadSeq: ok.headSeq, expectHeadHash: ok.headHash });
    expect(bad.ok).toBe(false);
    expect(bad.problem).toBe('changed');
    const tampered = (await admin.audit.tailAudit({ signRequestId: signedId })).entries[0]!;
    expect(bad.badSeq).toBe(tampered.seq);
  });
});
