/**
 * A real HSM fault under the real server: the dev state's SoftHSM2 token store (`<dir>/tokens`) vanishes while the
 * appliance runs, then comes back. SoftHSM2 does not serve from memory (hsm/ tests pin that down): while the files
 * are gone, sign calls fail with UNAVAILABLE / WAIAAS_HSM_UNAVAILABLE and no signature, the failed requests are
 * recorded FAILED, health reports NOT_SERVING; once the files are back, the HSM layer re-initialises by itself
 * (C_Finalize + C_Initialize, login, new sessions) and the server signs again without a restart.
 */
import { credentials as grpcCredentials, makeGenericClientConstructor, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { getAddressDecoder } from '@solana/kit';
import Database from 'better-sqlite3';
import { service as healthService } from 'grpc-health-check';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Chain, WaiaasClientError, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { createSvm, executeSolana, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

function mtls(dir: string, role = 'admin') {
  return grpcCredentials.createSsl(readFileSync(join(dir, 'ca.pem')), readFileSync(join(dir, `${role}.key`)), readFileSync(join(dir, `${role}.pem`)));
}

function healthCheck(server: TestServer, serviceName: string): Promise<string> {
  const Ctor = makeGenericClientConstructor(healthService as never, 'Health');
  const c = new Ctor(server.address, mtls(server.dir)) as Client & Record<string, (...a: unknown[]) => void>;
  return new Promise((resolve, reject) =>
    c.check!({ service: serviceName }, (err: ServiceError | null, res: { status: string }) => {
      c.close();
      if (err) reject(err);
      else resolve(res.status);
    }),
  );
}

async function eventually<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not reached in ${ms} ms (last value ${JSON.stringify(last)}, last error ${String(lastError)})`);
}

describe('HSM faults under the running server', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let wallet: { walletId: string; address: string };
  const recipient = getAddressDecoder().decode(randomBytes(32));
  const svm = createSvm();
  let tokensMoved = false;

  const sign = (lamports: bigint) =>
    agent.signer.signSolanaTransaction({
      walletId: wallet.walletId,
      transaction: unsignedSolTransfer({ from: wallet.address, to: recipient, lamports, blockhash: latestBlockhash(svm) }),
    });

  beforeAll(async () => {
    server = await startServer();
    agent = server.client('agent');
    const owner = server.client('owner');
    const w = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    wallet = { walletId: w.walletId, address: w.address };
    await owner.policies.setPolicy({ walletId: wallet.walletId, policy: { document: nativeTransferPolicy([recipient], '1000') } });
  });

  afterAll(async () => {
    if (tokensMoved) await rename(join(server.dir, 'tokens.gone'), join(server.dir, 'tokens')).catch(() => undefined);
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('the token store vanishes: UNAVAILABLE with no signature, NOT_SERVING; it comes back: the server signs again by itself', async () => {
    const before = await sign(1n);
    expect(before.signature).toHaveLength(64);
    expect(await healthCheck(server, '')).toBe('SERVING');

    // The token's files disappear from disk (a failed disk, an unmounted volume, an operator's mistake).
    await rename(join(server.dir, 'tokens'), join(server.dir, 'tokens.gone'));
    tokensMoved = true;

    const failures: WaiaasClientError[] = [];
    for (const lamports of [2n, 3n, 4n]) {
      let signed: unknown;
      try {
        signed = await sign(lamports);
      } catch (e) {
        expect(e).toBeInstanceOf(WaiaasClientError);
        failures.push(e as WaiaasClientError);
      }
      expect(signed, 'nothing is signed while the token is gone').toBeUndefined();
      await new Promise((r) => setTimeout(r, 150));
    }
    for (const f of failures) {
      expect(f.code).toBe(status.UNAVAILABLE);
      expect(f.reason).toBe('WAIAAS_HSM_UNAVAILABLE');
    }

    // Health follows the HSM (server/app.ts subscribes to hsm.onHealthChange).
    expect(await healthCheck(server, '')).toBe('NOT_SERVING');
    expect(await healthCheck(server, 'waiaas.v1.SignerService')).toBe('NOT_SERVING');

    // The layer keeps trying to re-initialise while the files are gone, and fails.
    await eventually('a failed re-initialisation attempt', async () => server.lines.filter((l) => l.component === 'hsm' && String(l.msg).startsWith('HSM re-initialisation attempt failed')).length, (n) => n >= 1, 10_000);
    expect(server.lines.some((l) => l.msg === 'HSM re-initialised')).toBe(false);

    // Back on disk: no restart, no operator action.
    await rename(join(server.dir, 'tokens.gone'), join(server.dir, 'tokens'));
    tokensMoved = false;
    // Until it has re-initialised, calls are still refused the same way (and recorded as FAILED).
    const after = await eventually(
      'a signature after the token came back',
      () =>
        sign(999n).catch((e: unknown) => {
          expect(e).toBeInstanceOf(WaiaasClientError);
          expect((e as WaiaasClientError).reason).toBe('WAIAAS_HSM_UNAVAILABLE');
          failures.push(e as WaiaasClientError);
          throw e;
        }),
      (r) => r.signature.length === 64,
      45_000,
    );
    const run = executeSolana({ svm, signedTx: after.signedTransaction, fund: { [wallet.address]: 10_000_000n } });
    expect(run.ok).toBe(true);
    expect(run.balances(recipient)).toBe(999n);
    expect(server.lines.some((l) => l.component === 'hsm' && l.msg === 'HSM re-initialised')).toBe(true);
    expect(await healthCheck(server, '')).toBe('SERVING');
    expect(await healthCheck(server, 'waiaas.v1.SignerService')).toBe('SERVING');

    // The failed requests are on record as FAILED with the HSM reason; nothing half-signed.
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const rows = db.prepare('SELECT state, error_reason AS reason FROM sign_requests WHERE wallet_id = ? ORDER BY create_time').all(wallet.walletId) as { state: string; reason: string | null }[];
      expect(rows.filter((r) => r.state === 'SIGNING')).toHaveLength(0);
      const failed = rows.filter((r) => r.state === 'FAILED');
      expect(failed.length).toBe(failures.length);
      for (const r of failed) expect(r.reason).toBe('WAIAAS_HSM_UNAVAILABLE');
      expect(rows.filter((r) => r.state === 'SIGNED').length).toBeGreaterThanOrEqual(2);
    } finally {
      db.close();
    }
  });
});
