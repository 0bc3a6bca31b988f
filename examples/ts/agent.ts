/**
 * A small payments agent on an EXISTING EVM wallet of a WAIaaS Signer appliance (it creates nothing). With viem and
 * the appliance-backed account (`waiaasAccount`) it tries three payments and prints what happened to each:
 *
 *   1. 0.001 ETH to the payee       — inside the policy: signed at once;
 *   2. 0.5 ETH to the payee         — needs the owners' approval: waits a short while, then reports;
 *   3. 0.001 ETH to a blocked address — denied, with the rule that denied it.
 *
 * The amounts and addresses match examples/ts/policy.json. See examples/ts/README.md.
 *
 *   node examples/ts/agent.ts --wallet wlt_… [--state .waiaas] [--address localhost:7443] [--approval-timeout 10s]
 *                             [--chain-id 1] [--nonce 0] [--rpc https://…]
 *
 * Environment (flags win): WAIAAS_WALLET_ID, WAIAAS_STATE, WAIAAS_ADDRESS. Without --rpc the transactions are only
 * signed (printed with their hash, never broadcast); with --rpc viem prepares them from the node (nonce, gas, fees)
 * and broadcasts them.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { createWalletClient, defineChain, formatEther, http, keccak256, parseEther, type Address, type Hex } from 'viem';
import {
  Verdict,
  WaiaasDeniedError,
  WaiaasRequestEndedError,
  WaiaasTimeoutError,
  createWaiaasClient,
  credentialsFromFiles,
  waiaasAccount,
  waiaasErrorOf,
} from '../../clients/ts/src/index.ts';

const PAYEE: Address = '0x1111111111111111111111111111111111111111';
const BLOCKED: Address = '0x6666666666666666666666666666666666666666';

const { values: args } = parseArgs({
  options: {
    wallet: { type: 'string' },
    state: { type: 'string' },
    address: { type: 'string' },
    'approval-timeout': { type: 'string', default: '10s' },
    'chain-id': { type: 'string', default: '1' },
    nonce: { type: 'string', default: '0' },
    rpc: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`agent: ${message}`);
  process.exit(2);
}

/** "10s", "500ms", "2m" or a number of milliseconds. */
function duration(text: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(text.trim());
  if (!m) fail(`--approval-timeout: not a duration: ${text}`);
  return Number(m[1]) * (m[2] === 's' ? 1_000 : m[2] === 'm' ? 60_000 : 1);
}

/** The appliance's address: --address, WAIAAS_ADDRESS, else server.listen in the state folder's config.toml. */
function applianceAddress(state: string): string {
  const given = args.address ?? process.env.WAIAAS_ADDRESS;
  if (given) return given;
  let listen = '127.0.0.1:7443';
  try {
    const doc = parseToml(readFileSync(join(state, 'config.toml'), 'utf8')) as { server?: { listen?: string } };
    listen = doc.server?.listen ?? listen;
  } catch {
    // No config.toml: the default address.
  }
  const port = listen.slice(listen.lastIndexOf(':') + 1);
  if (port === '0') fail(`${state}/config.toml listens on port 0: give --address HOST:PORT`);
  return `localhost:${port}`; // the development server certificate is for localhost
}

const walletId = args.wallet ?? process.env.WAIAAS_WALLET_ID ?? fail('give the wallet with --wallet wlt_… (or WAIAAS_WALLET_ID)');
const state = resolve(args.state ?? process.env.WAIAAS_STATE ?? '.waiaas');
const address = applianceAddress(state);
const approvalTimeoutMs = duration(args['approval-timeout']);
const chainId = Number(args['chain-id']);
const timeoutText = args['approval-timeout'];

let credentials;
try {
  credentials = credentialsFromFiles({ ca: join(state, 'ca.pem'), cert: join(state, 'agent.pem'), key: join(state, 'agent.key') });
} catch (e) {
  fail(`cannot read the agent's TLS files in ${state} (${(e as Error).message}); give --state DIR (made by \`make run\`)`);
}
const client = createWaiaasClient({ address, credentials });

let step = 0;
try {
  const account = await waiaasAccount({
    client,
    walletId,
    timeoutMs: approvalTimeoutMs,
    onPending: (r) => {
      const why = r.verdict === Verdict.APPROVAL ? 'APPROVAL' : `DELAY ${r.delaySeconds}s`;
      console.log(`payment ${step}: pending ${r.signRequestId} (${why} by rule ${r.rule}), waiting up to ${timeoutText} for the owners`);
    },
  });
  console.log(`agent: wallet ${walletId} ${account.address} on chain ${chainId} (appliance ${address})`);
  const chain = defineChain({ id: chainId, name: `chain ${chainId}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: args.rpc ? [args.rpc] : [] } } });
  const wallet = args.rpc ? createWalletClient({ account, chain, transport: http(args.rpc) }) : undefined;
  let nonce = Number(args.nonce);

  /** Signs (and with --rpc sends) one payment; returns the transaction hash. */
  const pay = async (to: Address, value: bigint): Promise<Hex> => {
    if (wallet) return wallet.sendTransaction({ to, value, chain });
    const signed = await account.signTransaction({
      type: 'eip1559', chainId, nonce: nonce++, to, value, gas: 21_000n, maxFeePerGas: 30_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n,
    });
    return keccak256(signed);
  };

  const payments: [Address, bigint][] = [
    [PAYEE, parseEther('0.001')],
    [PAYEE, parseEther('0.5')],
    [BLOCKED, parseEther('0.001')],
  ];
  for (const [to, value] of payments) {
    step++;
    const what = `payment ${step}: ${formatEther(value)} ETH to ${to}`;
    try {
      const hash = await pay(to, value);
      console.log(`${what}: signed, tx ${hash}${wallet ? ' (sent)' : ' (not broadcast)'}`);
    } catch (err) {
      const e = waiaasErrorOf(err);
      if (e instanceof WaiaasDeniedError) {
        console.log(`${what}: denied by rule ${e.rule} (${e.message}) [matched: ${e.matchedRules.map((r) => `${r.name}=${r.verdict}`).join(', ')}]`);
      } else if (e instanceof WaiaasTimeoutError) {
        console.log(`${what}: not approved within ${timeoutText}; ${e.signRequestId} is still PENDING (an owner can approve it: waiaas-ctl approvals approve ${e.signRequestId} --key-file OWNER.key)`);
      } else if (e instanceof WaiaasRequestEndedError) {
        console.log(`${what}: ${e.signRequestId} ended ${e.state} [${e.reason}]`);
      } else {
        throw err;
      }
    }
  }
} catch (err) {
  const e = waiaasErrorOf(err);
  console.error(`agent: ${e ? `${e.message} [${e.reason || e.code}]` : (err as Error).message}`);
  process.exitCode = 1;
} finally {
  client.close();
}
