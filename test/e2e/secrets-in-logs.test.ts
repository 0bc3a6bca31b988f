/**
 * "A test greps every log line written during the suite and finds no PIN, no private key, no webhook secret."
 *
 * Vitest runs each test file in its own process, so this file does it for one full server run: the development
 * state is created (its log captured at trace level), the real server is started on it at trace level with a webhook
 * (HMAC secret) and an ntfy topic (bearer token), and exercised: wallets on both chains, policies, signatures, a
 * pending request, denials, bad input, a refused caller, notifications delivered after failed attempts, a freeze and
 * a stop. Then every log line (stdout JSON and stderr) and the database files are searched for the HSM PINs, every
 * private key (PEM text, base64 lines, key material) and the sink secrets. Other e2e tests can do the same for
 * their own runs with test/support/secrets.ts.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAddressDecoder } from '@solana/kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Chain, SignRequestState, Verdict, WaiaasClientError, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { ensureDevState } from '../../server/devstate/index.ts';
import { createLogger } from '../../server/log.ts';
import { verifyWebhookSignature } from '../../server/notify/index.ts';
import { unsignedEip1559 } from '../support/evm.ts';
import { createSvm, latestBlockhash, unsignedSolTransfer } from '../support/litesvm.ts';
import { nativeTransferPolicy, policyJson } from '../support/policies.ts';
import { devStateSecrets, logLineTexts, pemSecrets, scanFilesForSecrets, scanForSecrets, type Secret } from '../support/secrets.ts';
import { rejection } from '../support/rejection.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback HTTP receiver recording every POST it accepts; `status(n)` answers the n-th request (from 1). */
async function receiver(status: (n: number) => number): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const code = status(++n);
      if (code === 200) got.push({ headers: req.headers, body });
      res.writeHead(code).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, server };
}

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


const solanaAddress = (): string => getAddressDecoder().decode(randomBytes(32));

describe('scanForSecrets', () => {
  test('finds each secret by line and by name, never echoing it; hex matches in any case', () => {
    const pin = randomBytes(16).toString('hex');
    const lines = ['nothing here', `pin=${pin.toUpperCase()}`, 'token abcdefghijkl and abcdefghijkl', `{"msg":"${pin}"}`];
    const findings = scanForSecrets(lines, [{ name: 'hsm.pin', value: pin }, 'abcdefghijkl']);
    expect(findings).toEqual(['line 2: hsm.pin', 'line 3: secret #2', 'line 4: hsm.pin']);
    expect(findings.join('\n')).not.toContain(pin);
    expect(scanForSecrets(lines, ['not present anywhere'])).toEqual([]);
  });

  test('refuses a secret too short to mean anything', () => {
    expect(() => scanForSecrets(['x'], [''])).toThrow(/shorter than 8/);
    expect(() => scanForSecrets(['x'], [{ name: 'tiny', value: 'abc' }])).toThrow(/"tiny"/);
  });

  test('a PEM inside a JSON log line is found through its unescaped strings and through its base64 lines', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const secrets = pemSecrets('k.key', pem);
    expect(secrets.map((s) => s.name)).toEqual(expect.arrayContaining(['k.key', 'k.key: base64 body', 'k.key: base64 line 1', 'k.key: private component d (base64url)', 'k.key: private component d (hex)']));
    const texts = logLineTexts([{ level: 'info', msg: 'oops', config: { keyPem: pem } }, { msg: 'fine' }]);
    const findings = scanForSecrets(texts, secrets);
    expect(findings).toContain('line 1: k.key');
    expect(findings).toContain('line 1: k.key: base64 line 1');
    expect(findings.every((f) => f.startsWith('line 1:'))).toBe(true);
  });
});

describe('no secret in any log line or in the database', () => {
  let dir: string;
  let server: TestServer | undefined;
  const closers: Server[] = [];
  /** Log lines written while the development state was created (same code main.ts runs, trace level). */
  const creationLines: Record<string, unknown>[] = [];
  let stderr = '';
  /** What the observability listener answered, when the server runs one (its "metrics listening" line gives the port). */
  const scraped: string[] = [];
  let secrets: Secret[] = [];
  const webhookSecret = randomBytes(24).toString('hex');
  const ntfyToken = `tk_${randomBytes(18).toString('base64url')}`;
  let hook: Awaited<ReturnType<typeof receiver>>;
  let ntfy: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'waiaas-secrets-'));
    const log = createLogger({
      level: 'trace',
      destination: {
        write: (s: string) => {
          for (const line of s.split('\n').filter((l) => l.length > 0)) creationLines.push(JSON.parse(line) as Record<string, unknown>);
        },
      },
    });
    await ensureDevState(dir, { log });

    // The webhook fails its first two requests (so failed attempts and retries are logged too), then accepts.
    hook = await receiver((n) => (n <= 2 ? 503 : 200));
    ntfy = await receiver(() => 200);
    closers.push(hook.server, ntfy.server);
    writeFileSync(join(dir, 'webhook.secret'), webhookSecret, { mode: 0o600 });
    writeFileSync(join(dir, 'ntfy.token'), ntfyToken, { mode: 0o600 });
    appendFileSync(
      join(dir, 'config.toml'),
      `\n[[notify.webhooks]]\nname = "owners"\nurl = "${hook.url}/hook"\nsecret_file = "webhook.secret"\n` +
        `\n[[notify.ntfy]]\nname = "phone"\nurl = "${ntfy.url}/waiaas-alerts"\ntoken_file = "ntfy.token"\n`,
    );
    secrets = await devStateSecrets(dir, ['webhook.secret', 'ntfy.token']);

    server = await startServer({ dir, env: { WAIAAS_LOG__LEVEL: 'trace' } });
    server.proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  });

  afterAll(async () => {
    for (const s of closers) s.close();
    if (server && server.proc.exitCode === null && server.proc.signalCode === null) await server.stop();
    if (dir) await removeState(dir);
  });

  test('the secrets to look for were all gathered', () => {
    const names = secrets.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['hsm.pin', 'so.pin', 'webhook.secret', 'ntfy.token']));
    const keyFiles = readdirSync(dir).filter((f) => f.endsWith('.key'));
    expect(keyFiles.length).toBeGreaterThanOrEqual(5); // CA, server, agent, owner, admin
    for (const k of keyFiles) {
      expect(names).toContain(k);
      expect(names).toContain(`${k}: private component d (hex)`);
    }
    expect(creationLines.some((l) => l.msg === 'development state ready')).toBe(true);
  });

  test('the server is exercised: wallets, policies, signatures, pending, denials, bad input, a refused caller, notifications, a freeze', async () => {
    const s = server!;
    const agent: WaiaasClient = s.client('agent');
    const owner: WaiaasClient = s.client('owner');
    const recipient = solanaAddress();

    const sol = (await agent.wallets.createWallet({ chain: Chain.SOLANA, labels: { purpose: 'secrets-test' } })).wallet!;
    const evm = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    expect((await agent.wallets.listWallets({})).wallets).toHaveLength(2);

    // An agent may not set a policy; an owner may; a malformed policy is refused with its field.
    expect((await rejection(agent.policies.setPolicy({ walletId: sol.walletId, policy: { document: nativeTransferPolicy([recipient], '5000000') } }))).reason).toBe('WAIAAS_PERMISSION_DENIED');
    await owner.policies.setPolicy({ walletId: sol.walletId, policy: { document: nativeTransferPolicy([recipient], '5000000') } });
    expect((await rejection(owner.policies.setPolicy({ walletId: sol.walletId, policy: { document: nativeTransferPolicy(['nope'], '1') } }))).reason).toBe('WAIAAS_POLICY_INVALID');
    await owner.policies.setPolicy({
      walletId: evm.walletId,
      policy: { document: policyJson([{ name: 'wait', kind: 'transfer', verdict: 'DELAY', delay_seconds: 3600, asset: 'native', max_amount: '100' }, { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000000000000' }]) },
    });

    // Signed at once; denied; pending.
    const blockhash = latestBlockhash(createSvm());
    const signed = await agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: unsignedSolTransfer({ from: sol.address, to: recipient, lamports: 1_000n, blockhash }) });
    expect(signed.verdict).toBe(Verdict.INSTANT);
    const denied = await rejection(agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: unsignedSolTransfer({ from: sol.address, to: solanaAddress(), lamports: 1n, blockhash }) }));
    expect(denied.reason).toBe('WAIAAS_POLICY_DENIED');
    const pending = await agent.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: '0x1111111111111111111111111111111111111111', value: 5n, nonce: 0 }), chainId: 1n });
    expect(pending.state).toBe(SignRequestState.PENDING);
    expect((await rejection(agent.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: '0x1111111111111111111111111111111111111111', value: 500n, nonce: 1 }), chainId: 1n }))).reason).toBe('WAIAAS_POLICY_DENIED');

    // Bad input of several kinds.
    const garbage = await rejection(agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: randomBytes(200) }));
    expect(['WAIAAS_TX_MALFORMED', 'WAIAAS_TX_NOT_CANONICAL']).toContain(garbage.reason);
    expect((await rejection(agent.signer.signEvmTransaction({ walletId: sol.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: '0x1111111111111111111111111111111111111111', value: 1n, nonce: 0 }), chainId: 1n }))).reason).toBe('WAIAAS_WALLET_CHAIN_MISMATCH');
    await rejection(agent.wallets.getWallet({ walletId: 'wlt_00000000000000000000000000' }));
    await rejection(agent.wallets.getWallet({ walletId: 'not an id' }));
    // No client certificate: refused at the TLS layer or by the server.
    await expect(s.anonymousClient().wallets.listWallets({})).rejects.toThrow();

    // Notifications reach both sinks (the webhook after two failed attempts), signed and authorised.
    await until(() => hook.got.length >= 2 && ntfy.got.length >= 2, 'notifications');
    for (const r of hook.got) {
      expect(verifyWebhookSignature({ secret: webhookSecret, timestamp: String(r.headers['x-waiaas-timestamp']), body: r.body, signature: String(r.headers['x-waiaas-signature']), nowSeconds: Math.floor(Date.now() / 1000) })).toBe(true);
    }
    expect(ntfy.got.every((r) => r.headers.authorization === `Bearer ${ntfyToken}`)).toBe(true);

    // A freeze cancels the pending request.
    await owner.owners.freeze({ walletId: evm.walletId, reason: 'secrets test' });
    await until(() => hook.got.some((r) => (JSON.parse(r.body) as { type: string }).type === 'wallet.frozen'), 'the freeze notification');
    expect((await agent.requests.getSignRequest({ signRequestId: pending.signRequestId })).signRequest?.state).toBe(SignRequestState.CANCELLED);

    // When the server runs the observability listener, what it serves must be free of secrets too.
    const metricsPort = s.lines.find((l) => l.msg === 'metrics listening')?.port;
    if (typeof metricsPort === 'number') {
      for (const path of ['/metrics', '/readyz', '/healthz']) scraped.push(await (await fetch(`http://127.0.0.1:${metricsPort}${path}`)).text());
      expect(scraped[0]).toContain('waiaas_rpc_requests_total{');
    }

    // Stop, so that the shutdown lines are in too, and wait for the last output.
    expect(await s.stop()).toBe(0);
    if (!s.proc.stdout!.readableEnded) await once(s.proc.stdout!, 'end');
    if (!s.proc.stderr!.readableEnded) await once(s.proc.stderr!, 'end');
  });

  test('no log line holds a PIN, a private key or a sink secret', () => {
    const s = server!;
    // The run logged what it did (so the scan below looked at real output, not at nothing).
    const msgs = new Set(s.lines.map((l) => l.msg));
    for (const m of ['listening', 'signed', 'sign request denied', 'sign request pending', 'call refused', 'notification delivery failed; will retry', 'stopped']) {
      expect(msgs, m).toContain(m);
    }
    expect(s.lines.some((l) => l.level === 'debug')).toBe(true);
    expect(s.lines.length).toBeGreaterThan(30);
    // The scan finds what is there: a wallet id the server logged.
    const wallet = String(s.lines.find((l) => l.msg === 'signed')?.walletId);
    expect(scanForSecrets(logLineTexts(s.lines), [{ name: 'wallet id', value: wallet }]).length).toBeGreaterThan(0);

    const findings = [
      ...scanForSecrets(logLineTexts(creationLines), secrets).map((f) => `dev-state creation log ${f}`),
      ...scanForSecrets(logLineTexts(s.lines), secrets).map((f) => `server stdout ${f}`),
      ...scanForSecrets(stderr.split('\n'), secrets).map((f) => `server stderr ${f}`),
      ...scanForSecrets(scraped, secrets).map((f) => `observability endpoint answer ${f}`),
    ];
    expect(findings).toEqual([]);
  });

  test('the database files hold no PIN, no private key and no sink secret', async () => {
    const s = server!;
    const files = [s.dbPath, `${s.dbPath}-wal`, `${s.dbPath}-shm`];
    expect(await scanFilesForSecrets(files, secrets)).toEqual([]);
    // The scan reads the real file: something that is in it is found.
    const wallet = String(s.lines.find((l) => l.msg === 'signed')?.walletId);
    expect(wallet).toMatch(/^wlt_/);
    expect(await scanFilesForSecrets(files, [{ name: 'a wallet id', value: wallet }])).not.toEqual([]);
  });
});
