/**
 * Owner notifications end to end: the real server, configured with a signed webhook and an ntfy topic, tells local
 * receivers about denials, pending requests and freezes, with signatures that verify; events that could not be
 * delivered before a restart arrive after it.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Chain, SignRequestState, WaiaasClientError } from '../../clients/ts/src/index.ts';
import { verifyWebhookSignature } from '../../server/notify/index.ts';
import { unsignedEip1559 } from '../support/evm.ts';
import { policyJson } from '../support/policies.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A loopback HTTP receiver that records every POST, answering `status()`. */
async function receiver(status: () => number = () => 200): Promise<{ url: string; got: Received[]; server: Server; port: number }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const code = status();
      if (code === 200) got.push({ headers: req.headers, body });
      res.writeHead(code).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, got, server, port };
}

async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('notifications', () => {
  let server: TestServer | undefined;
  const closers: Server[] = [];
  afterAll(async () => {
    for (const s of closers) s.close();
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('webhook and ntfy receivers get signed events, and events queued while the receiver was down arrive after a restart', async () => {
    const secret = randomBytes(24).toString('hex');
    let up = true;
    const hook = await receiver(() => (up ? 200 : 503));
    const ntfy = await receiver();
    closers.push(hook.server, ntfy.server);

    // Configure the sinks in the state folder's config, then start the server on it.
    const first = await startServer();
    await first.stop();
    writeFileSync(join(first.dir, 'webhook.secret'), secret, { mode: 0o600 });
    appendFileSync(join(first.dir, 'config.toml'), `\n[[notify.webhooks]]\nname = "owners"\nurl = "${hook.url}"\nsecret_file = "webhook.secret"\n\n[[notify.ntfy]]\nname = "phone"\nurl = "${ntfy.url.replace('/hook', '/waiaas-alerts')}"\n`);
    server = await startServer({ dir: first.dir });
    let agent = server.client('agent');
    let owner = server.client('owner');

    const w = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
    await owner.policies.setPolicy({ walletId: w.walletId, policy: { document: policyJson([{ name: 'wait', kind: 'transfer', verdict: 'DELAY', delay_seconds: 3600, asset: 'native', max_amount: '100' }, { name: 'fees', kind: 'fee', verdict: 'INSTANT', max: '10000000000000000' }]) } });
    const pending = await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: '0x1111111111111111111111111111111111111111', value: 5n, nonce: 0 }), chainId: 1n });
    expect(pending.state).toBe(SignRequestState.PENDING);
    const denied = await agent.signer.signEvmTransaction({ walletId: w.walletId, unsignedTransaction: unsignedEip1559({ chainId: 1n, to: '0x1111111111111111111111111111111111111111', value: 500n, nonce: 1 }), chainId: 1n }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(WaiaasClientError);

    await until(() => hook.got.length >= 2 && ntfy.got.length >= 2);
    const events = hook.got.map((r) => JSON.parse(r.body) as { type: string; sign_request_id?: string; wallet_id?: string; summary?: string[] });
    expect(events.map((e) => e.type).sort()).toEqual(['sign_request.denied', 'sign_request.pending_delay']);
    const delay = events.find((e) => e.type === 'sign_request.pending_delay')!;
    expect(delay.sign_request_id).toBe(pending.signRequestId);
    expect(delay.summary?.join('\n')).toContain('send 5 native to 0x1111111111111111111111111111111111111111');
    for (const r of hook.got) {
      const args = { secret, timestamp: String(r.headers['x-waiaas-timestamp']), body: r.body, signature: String(r.headers['x-waiaas-signature']), nowSeconds: Math.floor(Date.now() / 1000) };
      expect(verifyWebhookSignature(args)).toBe(true);
      expect(verifyWebhookSignature({ ...args, secret: 'another-secret-of-enough-length' })).toBe(false);
      expect(verifyWebhookSignature({ ...args, body: r.body.replace('sign_request', 'sign-request') })).toBe(false);
    }
    expect(ntfy.got.some((r) => String(r.headers.title).includes('WAIaaS'))).toBe(true);

    // The receiver goes down; a freeze is notified but cannot be delivered; the server restarts; the receiver comes back.
    up = false;
    await owner.owners.freeze({ walletId: w.walletId, reason: 'test' });
    await new Promise((r) => setTimeout(r, 300));
    expect(hook.got.some((r) => JSON.parse(r.body).type === 'wallet.frozen')).toBe(false);
    await server.stop();
    up = true;
    server = await startServer({ dir: first.dir });
    agent = server.client('agent');
    owner = server.client('owner');
    await until(() => hook.got.some((r) => JSON.parse(r.body).type === 'wallet.frozen'));
    const frozen = hook.got.find((r) => JSON.parse(r.body).type === 'wallet.frozen')!;
    expect(verifyWebhookSignature({ secret, timestamp: String(frozen.headers['x-waiaas-timestamp']), body: frozen.body, signature: String(frozen.headers['x-waiaas-signature']), nowSeconds: Math.floor(Date.now() / 1000) })).toBe(true);
    // The freeze also cancelled the pending request, and nothing secret went to the log.
    expect((await agent.requests.getSignRequest({ signRequestId: pending.signRequestId })).signRequest?.state).toBe(SignRequestState.CANCELLED);
    expect(JSON.stringify(server.lines)).not.toContain(secret);
  });
});
