/**
 * examples/ts/agent.ts against the real appliance: a wallet prepared beforehand (examples/ts/policy.json and an
 * owner), the agent run as a separate process with its flags (and once with its environment variables); its output
 * says that the small payment was signed, the large one waited for the owners (timing out, or signed once approved)
 * and the blocked one was denied by rule `blocklist`. The agent creates nothing.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { keccak256 } from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApprovalAction, Chain, SignRequestState, type WaiaasClient } from '../../clients/ts/src/index.ts';
import { ed25519Owner } from '../support/owners.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const AGENT = resolve(ROOT, 'examples/ts/agent.ts');
const PAYEE = '0x1111111111111111111111111111111111111111';
const BLOCKED = '0x6666666666666666666666666666666666666666';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

/** Runs the example; `onLine` sees each stdout line as it is printed. */
function runAgent(args: string[], opts: { env?: Record<string, string>; onLine?: (line: string) => void } = {}): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('WAIAAS_')) env[k] = v;
    const p = spawn(process.execPath, [AGENT, ...args], { cwd: ROOT, env: { ...env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let buf = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        opts.onLine?.(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`the agent did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 45_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr, lines: stdout.split('\n').filter((l) => l !== '') });
    });
  });
}

describe('examples/ts/agent.ts', () => {
  let server: TestServer;
  let agent: WaiaasClient;
  let owner: WaiaasClient;
  let walletId: string;
  let address: string;
  const ownerKey = ed25519Owner();

  async function approve(signRequestId: string) {
    const { message } = await owner.approvals.getApprovalMessage({ signRequestId, action: ApprovalAction.APPROVE });
    return owner.approvals.approve({ signRequestId, message, signature: { key: ownerKey.key, signature: await ownerKey.sign(message) } });
  }

  beforeAll(async () => {
    server = await startServer();
    agent = server.client('agent');
    owner = server.client('owner');
    // Prepared by the operator, not by the agent: the wallet, its policy (the example's), and an owner.
    const w = (await server.client('admin').wallets.createWallet({ chain: Chain.EVM, labels: { agent: 'example' } })).wallet!;
    walletId = w.walletId;
    address = w.address;
    await owner.policies.setPolicy({ walletId, policy: { document: readFileSync(resolve(ROOT, 'examples/ts/policy.json'), 'utf8') } });
    await server.client('admin').owners.setOwners({ walletId, change: { owners: [{ keyType: ownerKey.keyType, key: ownerKey.key, label: 'example owner' }], threshold: 1 } });
  });

  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('signs the small payment, reports the large one still pending after its timeout, and the blocked one denied by its rule', async () => {
    const wallets = async () => (await owner.wallets.listWallets({})).wallets.length;
    const walletsBefore = await wallets();
    const run = await runAgent(['--wallet', walletId, '--state', server.dir, '--address', server.address, '--approval-timeout', '1500ms', '--chain-id', '8453', '--nonce', '5']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.lines).toHaveLength(5);
    const [intro, small, pending, timeout, denied] = run.lines as [string, string, string, string, string];
    expect(intro).toBe(`agent: wallet ${walletId} ${address} on chain 8453 (appliance ${server.address})`);
    expect(small).toMatch(new RegExp(`^payment 1: 0\\.001 ETH to ${PAYEE}: signed, tx 0x[0-9a-f]{64} \\(not broadcast\\)$`));
    const m = new RegExp(`^payment 2: pending (req_[0-9A-Z]{26}) \\(APPROVAL by rule large-payments\\), waiting up to 1500ms for the owners$`).exec(pending);
    expect(m, pending).not.toBeNull();
    const reqId = m![1]!;
    expect(timeout).toBe(
      `payment 2: 0.5 ETH to ${PAYEE}: not approved within 1500ms; ${reqId} is still PENDING (an owner can approve it: waiaas-ctl approvals approve ${reqId} --key-file OWNER.key)`,
    );
    expect(denied).toMatch(new RegExp(`^payment 3: 0\\.001 ETH to ${BLOCKED}: denied by rule blocklist \\(.*\\) \\[matched: .*blocklist=DENY.*\\]$`));

    // What it printed is what the appliance recorded; the agent created nothing.
    const requests = (await owner.requests.listSignRequests({ walletId })).signRequests;
    expect(requests.map((r) => [r.state, r.rule])).toEqual([
      [SignRequestState.REFUSED, 'blocklist'],
      [SignRequestState.PENDING, 'large-payments'],
      [SignRequestState.SIGNED, 'small-payments'],
    ]);
    const signedSmall = requests[2]!.result!.signedTransaction;
    expect(small).toContain(keccak256(signedSmall));
    expect(await wallets()).toBe(walletsBefore);

    // The owner approves the request the agent left pending: it is signed.
    const approved = await approve(reqId);
    expect(approved.request?.signRequest?.state).toBe(SignRequestState.SIGNED);
  });

  test('configured by environment variables: an approval given while it waits is reported as signed', async () => {
    const run = await runAgent([], {
      env: { WAIAAS_WALLET_ID: walletId, WAIAAS_STATE: server.dir, WAIAAS_ADDRESS: server.address },
      onLine: (line) => {
        const m = /^payment 2: pending (req_\w+) /.exec(line);
        if (m) void approve(m[1]!);
      },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines[0]).toBe(`agent: wallet ${walletId} ${address} on chain 1 (appliance ${server.address})`);
    expect(run.lines[2]).toMatch(/^payment 2: pending req_\w+ \(APPROVAL by rule large-payments\), waiting up to 10s for the owners$/);
    expect(run.lines[3]).toMatch(new RegExp(`^payment 2: 0\\.5 ETH to ${PAYEE}: signed, tx 0x[0-9a-f]{64} \\(not broadcast\\)$`));
    expect(run.lines[4]).toMatch(/^payment 3: .*: denied by rule blocklist /);
  });

  test('without a wallet it says how to give one; an unknown wallet is reported with its reason', async () => {
    const none = await runAgent(['--state', server.dir, '--address', server.address]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give the wallet with --wallet');
    const unknown = await runAgent(['--wallet', 'wlt_00000000000000000000000000', '--state', server.dir, '--address', server.address]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^agent: .*\[WAIAAS_WALLET_NOT_FOUND\]/);
  });
});
