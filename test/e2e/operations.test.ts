/**
 * Operating the appliance: health that tells the truth, server reflection, graceful shutdown that finishes
 * in-flight calls, and a restart on the same state folder that finds every wallet's key again.
 */
import { credentials as grpcCredentials, loadPackageDefinition, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import Database from 'better-sqlite3';
import { service as healthService } from 'grpc-health-check';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Chain, WaiaasClientError } from '../../clients/ts/src/index.ts';
import { createSvm, executeSolana, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';
import { getAddressDecoder } from '@solana/kit';
import { randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);

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

function reflectionServices(server: TestServer): Promise<string[]> {
  const protoPath = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');
  const pkg = loadPackageDefinition(loadSync(protoPath, { keepCase: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (addr: string, creds: unknown) => Client & { ServerReflectionInfo(): NodeJS.ReadWriteStream & { write(m: unknown): void; end(): void } } } } };
  };
  const c = new pkg.grpc.reflection.v1.ServerReflection(server.address, mtls(server.dir));
  return new Promise((resolve, reject) => {
    const call = c.ServerReflectionInfo();
    call.on('data', (msg: { list_services_response?: { service: { name: string }[] } }) => {
      resolve((msg.list_services_response?.service ?? []).map((s) => s.name));
      call.end();
      c.close();
    });
    call.on('error', reject);
    call.write({ list_services: '' });
  });
}

describe('operations', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers) if (s.proc.exitCode === null) await s.kill();
    if (servers[0]) await removeState(servers[0].dir);
  });

  test('health is SERVING once started, and reflection lists the API', async () => {
    const server = await startServer();
    servers.push(server);
    expect(await healthCheck(server, '')).toBe('SERVING');
    expect(await healthCheck(server, 'waiaas.v1.SignerService')).toBe('SERVING');
    const names = await reflectionServices(server);
    expect(names).toEqual(expect.arrayContaining(['waiaas.v1.WalletService', 'waiaas.v1.SignerService', 'waiaas.v1.PolicyService']));
  });

  test('SIGTERM finishes in-flight calls, exits 0, and leaves no request half-signed', async () => {
    const server = servers[0]!;
    const agent = server.client('agent');
    const owner = server.client('owner');
    const wallet = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    const recipient = getAddressDecoder().decode(randomBytes(32));
    await owner.policies.setPolicy({ walletId: wallet.walletId, policy: { document: nativeTransferPolicy([recipient], '1000') } });
    const blockhash = latestBlockhash(createSvm());
    const calls = Array.from({ length: 64 }, (_, i) =>
      agent.signer.signSolanaTransaction({
        walletId: wallet.walletId,
        transaction: unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: BigInt(i + 1), blockhash }),
      }),
    );
    // Ask it to stop as soon as the first answer arrives, while the rest are being served.
    await Promise.race(calls);
    server.proc.kill('SIGTERM');
    const results = await Promise.allSettled(calls);
    const code = await new Promise<number | null>((r) => (server.proc.exitCode !== null ? r(server.proc.exitCode) : server.proc.once('exit', r)));
    expect(code).toBe(0);
    let ok = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') {
        ok++;
        expect(r.value.signature).toHaveLength(64);
      } else {
        // A call that arrived after the stop began is refused, never cut off half-way.
        expect(r.reason).toBeInstanceOf(WaiaasClientError);
        expect((r.reason as WaiaasClientError).code).toBe(14 /* UNAVAILABLE */);
      }
    }
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const rows = db.prepare('SELECT state, COUNT(*) AS n FROM sign_requests GROUP BY state').all() as { state: string; n: number }[];
      const byState = Object.fromEntries(rows.map((r) => [r.state, r.n]));
      expect(byState.SIGNING ?? 0).toBe(0);
      expect(byState.SIGNED ?? 0).toBe(ok);
    } finally {
      db.close();
    }
    const draining = server.lines.find((l) => l.msg === 'shutting down: draining in-flight calls');
    expect(draining?.inflight).toBeGreaterThan(0);
    expect(ok).toBeGreaterThan(1);
    expect(server.lines.some((l) => l.msg === 'stopped')).toBe(true);
  });

  test('a restart on the same state finds every key again and signs with it', async () => {
    const dir = servers[0]!.dir;
    const server = await startServer({ dir });
    servers.push(server);
    const agent = server.client('agent');
    const owner = server.client('owner');
    const [wallet] = (await agent.wallets.listWallets({ chain: Chain.SOLANA })).wallets;
    expect(wallet).toBeDefined();
    const recipient = getAddressDecoder().decode(randomBytes(32));
    await owner.policies.setPolicy({ walletId: wallet!.walletId, policy: { document: nativeTransferPolicy([recipient], '1000') } });
    const svm = createSvm();
    const res = await agent.signer.signSolanaTransaction({
      walletId: wallet!.walletId,
      transaction: unsignedSolTransfer({ from: wallet!.address, to: recipient, lamports: 999n, blockhash: latestBlockhash(svm) }),
    });
    const run = executeSolana({ svm, signedTx: res.signedTransaction, fund: { [wallet!.address]: 10_000_000n } });
    expect(run.ok).toBe(true);
    expect(run.balances(recipient)).toBe(999n);
    expect(await server.stop()).toBe(0);
  });
});
