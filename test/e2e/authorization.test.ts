/**
 * Who may do what, through the real server: the whole matrix of RPCs × identities (two agents with different scopes,
 * an owner, an admin, no certificate, an expired certificate, a revoked one), permission before existence, credentials
 * issued by the appliance's CA and revoked at once without a restart, and per-agent rate limits.
 */
import { credentials as grpcCredentials, status } from '@grpc/grpc-js';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAddressDecoder } from '@solana/kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Chain, createWaiaasClient, WaiaasClientError, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { createSvm, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

type Outcome = 'ok' | keyof typeof status;

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (!(e instanceof WaiaasClientError)) throw e;
    return status[e.code] as Outcome;
  }
}

/** A client certificate for `uri` signed by the dev CA but already expired. */
async function expiredCertificate(dir: string, uri: string): Promise<{ cert: string; key: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const caCert = new x509.X509Certificate(readFileSync(join(dir, 'ca.pem'), 'utf8'));
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(readFileSync(join(dir, 'ca.key'), 'utf8')), alg, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(8).toString('hex'),
    subject: 'CN=expired',
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - 3 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
    publicKey: keys.publicKey as CryptoKey,
    signingKey: caKey as CryptoKey,
    signingAlgorithm: alg,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]), new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }])],
  });
  const key = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as CryptoKey), 'PRIVATE KEY');
  return { cert: cert.toString('pem'), key };
}

describe('authorization', () => {
  let server: TestServer;
  let admin: WaiaasClient;
  let clients: Record<string, WaiaasClient>;
  let w1: { walletId: string; address: string };
  let w2: { walletId: string; address: string };
  let revokedSerial: string;
  const to = getAddressDecoder().decode(randomBytes(32));

  const fromPem = (c: { ca: string; cert: string; key: string }): WaiaasClient =>
    createWaiaasClient({ address: server.address, credentials: grpcCredentials.createSsl(Buffer.from(c.ca), Buffer.from(c.key), Buffer.from(c.cert)) });

  beforeAll(async () => {
    server = await startServer();
    admin = server.client('admin');
    const a = (await admin.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    const b = (await admin.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    w1 = { walletId: a.walletId, address: a.address };
    w2 = { walletId: b.walletId, address: b.address };
    for (const w of [w1, w2]) await admin.policies.setPolicy({ walletId: w.walletId, policy: { document: nativeTransferPolicy([to], 1000n) } });

    // A second agent, scoped to w2 only, with a credential issued by the appliance's CA; and a third to revoke.
    await admin.agents.putPrincipal({ principal: { uri: 'spiffe://waiaas/agent/agent-two', wallets: [w2.walletId], chains: ['solana'], operations: ['read', 'sign_transaction'], rateLimitPerSecond: 50 } });
    const two = await admin.agents.issueCredential({ uri: 'spiffe://waiaas/agent/agent-two', validSeconds: 3600 });
    await admin.agents.putPrincipal({ principal: { uri: 'spiffe://waiaas/agent/agent-three', wallets: ['*'], chains: [], operations: [] } });
    const three = await admin.agents.issueCredential({ uri: 'spiffe://waiaas/agent/agent-three', validSeconds: 3600 });
    revokedSerial = three.serial;
    const expired = await expiredCertificate(server.dir, 'spiffe://waiaas/agent/dev-agent');
    const ca = readFileSync(join(server.dir, 'ca.pem'), 'utf8');
    clients = {
      agent1: server.client('agent'),
      agent2: fromPem({ ca: two.caPem, cert: two.certificatePem, key: two.privateKeyPem }),
      owner: server.client('owner'),
      admin,
      noCert: server.anonymousClient(),
      expired: fromPem({ ca, ...expired }),
      revoked: fromPem({ ca: three.caPem, cert: three.certificatePem, key: three.privateKeyPem }),
    };
    // The third agent works until its certificate is revoked, then stops at once.
    expect(await outcome(clients.revoked!.wallets.listWallets({}))).toBe('ok');
    const r = await admin.agents.revoke({ serial: revokedSerial });
    expect(r.revokedCertificates).toBe(1);
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('the matrix of RPCs × identities', async () => {
    const tx = (w: { address: string }) => unsignedSolTransfer({ from: w.address, to, lamports: 1n, blockhash: latestBlockhash(createSvm()) });
    const calls: Record<string, (c: WaiaasClient) => Promise<unknown>> = {
      'WalletService.CreateWallet': (c) => c.wallets.createWallet({ chain: Chain.EVM }),
      'WalletService.GetWallet(w1)': (c) => c.wallets.getWallet({ walletId: w1.walletId }),
      'WalletService.ListWallets': (c) => c.wallets.listWallets({}),
      'SignerService.SignSolanaTransaction(w1)': (c) => c.signer.signSolanaTransaction({ walletId: w1.walletId, transaction: tx(w1) }),
      'SignerService.SignSolanaTransaction(w2)': (c) => c.signer.signSolanaTransaction({ walletId: w2.walletId, transaction: tx(w2) }),
      'PolicyService.GetPolicy(w1)': (c) => c.policies.getPolicy({ walletId: w1.walletId }),
      'PolicyService.SetPolicy(w2)': (c) => c.policies.setPolicy({ walletId: w2.walletId, policy: { document: nativeTransferPolicy([to], 1000n) } }),
      'OwnerService.GetOwnership(w2)': (c) => c.owners.getOwnership({ walletId: w2.walletId }),
      'OwnerService.Freeze(w2)': (c) => c.owners.freeze({ walletId: w2.walletId }).then(() => admin.owners.unfreeze({ walletId: w2.walletId })),
      'ApprovalService.ListPendingRequests': (c) => c.approvals.listPendingRequests({}),
      'AgentService.ListPrincipals': (c) => c.agents.listPrincipals({}),
    };
    //                                               agent1 (all)  agent2 (w2)   owner         admin
    const expected: Record<string, [Outcome, Outcome, Outcome, Outcome]> = {
      'WalletService.CreateWallet': ['ok', 'PERMISSION_DENIED', 'PERMISSION_DENIED', 'ok'],
      'WalletService.GetWallet(w1)': ['ok', 'PERMISSION_DENIED', 'ok', 'ok'],
      'WalletService.ListWallets': ['ok', 'ok', 'ok', 'ok'],
      'SignerService.SignSolanaTransaction(w1)': ['ok', 'PERMISSION_DENIED', 'PERMISSION_DENIED', 'PERMISSION_DENIED'],
      'SignerService.SignSolanaTransaction(w2)': ['ok', 'ok', 'PERMISSION_DENIED', 'PERMISSION_DENIED'],
      'PolicyService.GetPolicy(w1)': ['ok', 'PERMISSION_DENIED', 'ok', 'ok'],
      'PolicyService.SetPolicy(w2)': ['PERMISSION_DENIED', 'PERMISSION_DENIED', 'ok', 'ok'],
      'OwnerService.GetOwnership(w2)': ['ok', 'ok', 'ok', 'ok'],
      'OwnerService.Freeze(w2)': ['PERMISSION_DENIED', 'PERMISSION_DENIED', 'ok', 'ok'],
      'ApprovalService.ListPendingRequests': ['PERMISSION_DENIED', 'PERMISSION_DENIED', 'ok', 'ok'],
      'AgentService.ListPrincipals': ['PERMISSION_DENIED', 'PERMISSION_DENIED', 'PERMISSION_DENIED', 'ok'],
    };
    const who = ['agent1', 'agent2', 'owner', 'admin'] as const;
    const got: Record<string, Outcome[]> = {};
    for (const [name, call] of Object.entries(calls)) {
      got[name] = [];
      for (const id of who) got[name]!.push(await outcome(call(clients[id]!)));
      // Without a certificate, with an expired one, or with a revoked one, nothing is allowed.
      expect(await outcome(call(clients.noCert!)), `${name} without a certificate`).toBe('UNAVAILABLE');
      expect(await outcome(call(clients.expired!)), `${name} with an expired certificate`).toBe('UNAVAILABLE');
      expect(await outcome(call(clients.revoked!)), `${name} with a revoked certificate`).toBe('UNAUTHENTICATED');
    }
    expect(got).toEqual(expected);
  });

  test('only the admin, or an owner of every wallet, may freeze the whole appliance', async () => {
    expect(await outcome(clients.agent1!.owners.freeze({ walletId: '' }))).toBe('PERMISSION_DENIED');
    await admin.agents.putPrincipal({ principal: { uri: 'spiffe://waiaas/owner/dev-owner', wallets: [w1.walletId] } });
    expect(await outcome(clients.owner!.owners.freeze({ walletId: '' }))).toBe('PERMISSION_DENIED');
    await admin.agents.putPrincipal({ principal: { uri: 'spiffe://waiaas/owner/dev-owner', wallets: ['*'] } });
  });

  test('permission is checked before existence: a scoped agent gets PERMISSION_DENIED for a wallet that does not exist', async () => {
    const e = await clients.agent2!.wallets.getWallet({ walletId: 'wlt_00000000000000000000000000' }).catch((x: unknown) => x as WaiaasClientError);
    expect((e as WaiaasClientError).code).toBe(status.PERMISSION_DENIED);
    const e2 = await clients.agent1!.wallets.getWallet({ walletId: 'wlt_00000000000000000000000000' }).catch((x: unknown) => x as WaiaasClientError);
    expect((e2 as WaiaasClientError).code).toBe(status.NOT_FOUND);
  });

  test('a scoped agent lists only its wallets; an agent that creates a wallet may use it', async () => {
    const listed = await clients.agent2!.wallets.listWallets({});
    expect(listed.wallets.map((w) => w.walletId)).toEqual([w2.walletId]);
    await admin.agents.putPrincipal({ principal: { uri: 'spiffe://waiaas/agent/agent-two', wallets: [w2.walletId], chains: ['solana'], operations: ['read', 'sign_transaction', 'create_wallet'], rateLimitPerSecond: 50 } });
    const made = (await clients.agent2!.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
    expect((await clients.agent2!.wallets.listWallets({})).wallets.map((w) => w.walletId).sort()).toEqual([w2.walletId, made.walletId].sort());
    // Scoped to Solana: an EVM wallet is refused.
    expect(await outcome(clients.agent2!.wallets.createWallet({ chain: Chain.EVM }))).toBe('ok');
    const evm = (await clients.agent1!.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    expect(await outcome(clients.agent2!.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: new Uint8Array([1]), chainId: 1n }))).toBe('PERMISSION_DENIED');
  });

  test('revoking a principal stops all its certificates at once, and a per-agent rate limit answers RESOURCE_EXHAUSTED', async () => {
    await admin.agents.putPrincipal({ principal: { uri: 'spiffe://waiaas/agent/slow', wallets: ['*'], chains: [], operations: ['read'], rateLimitPerSecond: 2 } });
    const cred = await admin.agents.issueCredential({ uri: 'spiffe://waiaas/agent/slow', validSeconds: 600 });
    const slow = fromPem({ ca: cred.caPem, cert: cred.certificatePem, key: cred.privateKeyPem });
    const results = await Promise.all(Array.from({ length: 12 }, () => slow.wallets.listWallets({}).then(() => 'ok', (e: WaiaasClientError) => e.reason)));
    expect(results.filter((r) => r === 'ok').length).toBeGreaterThanOrEqual(3);
    expect(results.filter((r) => r === 'WAIAAS_RATE_LIMITED').length).toBeGreaterThan(0);
    await admin.agents.revoke({ uri: 'spiffe://waiaas/agent/slow' });
    await new Promise((r) => setTimeout(r, 1100));
    const after = await slow.wallets.listWallets({}).catch((e: unknown) => e as WaiaasClientError);
    expect((after as WaiaasClientError).reason).toBe('WAIAAS_UNAUTHENTICATED');
    const list = await admin.agents.listPrincipals({});
    expect(list.principals.find((p) => p.uri === 'spiffe://waiaas/agent/slow')?.status).toBe('REVOKED');
  });
});
