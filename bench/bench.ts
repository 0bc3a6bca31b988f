/**
 * `make bench`: in one run, measures
 *   (a) the raw HSM: SoftHSM2 Ed25519 and secp256k1 signs/s, one session synchronously and the async session pool;
 *   (b) a bare gRPC unary call over the same mTLS with a canned answer (bench/echo-server.ts);
 *   (c) the full appliance signing path (real server process: mTLS, decode, policy, SQLite record, HSM, record)
 *       at 1 and 64 calls in flight, with p50/p99;
 *   (d) policy decisions per second for a 20-rule policy with 0, 100k and 1M past spends in the ledger;
 * and prints (c)/(a) and (c)/(b) as ratios. Nothing here is a pass/fail test: it prints figures.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { getAddressDecoder } from '@solana/kit';
import { Chain, createWaiaasClient, credentialsFromFiles } from '../clients/ts/src/index.ts';
import { createTestToken } from '../test/support/softhsm.ts';
import { createSvm, latestBlockhash, unsignedSolTransfer } from '../test/support/litesvm.ts';
import { unsignedEip1559 } from '../test/support/evm.ts';
import { nativeTransferPolicy } from '../test/support/policies.ts';
import { removeState, startServer } from '../test/support/server.ts';
import { benchHsm } from './hsm.ts';
import { benchPolicy } from './policy.ts';
import { runLoad, type LoadResult } from './load.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

function fmt(r: LoadResult): string {
  return `${r.perSecond.toFixed(0).padStart(7)} req/s   p50 ${r.p50ms.toFixed(2).padStart(7)} ms   p99 ${r.p99ms.toFixed(2).padStart(7)} ms${r.errors ? `   errors ${r.errors}` : ''}`;
}

async function main(): Promise<void> {
  console.log(`WAIaaS Signer benchmark — node ${process.version}, ${SECONDS} s per figure\n`);

  // (a) raw HSM, in this process on its own temp token.
  const token = await createTestToken({ label: 'bench' });
  const hsm = await benchHsm({ module: token.module, tokenLabel: token.tokenLabel, pinFile: token.pinFile, seconds: SECONDS });
  await token.cleanup();
  console.log('(a) raw HSM (SoftHSM2 via PKCS#11)');
  console.log(`    Ed25519    sync ${hsm.ed25519Sync.toFixed(0).padStart(7)} signs/s   async pool ${hsm.ed25519Async.toFixed(0).padStart(7)} signs/s`);
  console.log(`    secp256k1  sync ${hsm.secp256k1Sync.toFixed(0).padStart(7)} signs/s   async pool ${hsm.secp256k1Async.toFixed(0).padStart(7)} signs/s\n`);

  // The appliance process (also creates the dev CA the echo server reuses).
  const server = await startServer();
  const agent = server.client('agent');
  const owner = server.client('owner');
  const certs = { ca: join(server.dir, 'ca.pem'), cert: join(server.dir, 'agent.pem'), key: join(server.dir, 'agent.key') };

  // (b) bare gRPC.
  const echo = spawn(process.execPath, [join(ROOT, 'bench/echo-server.ts'), server.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const echoPort = await new Promise<number>((res) => echo.stdout!.once('data', (d: Buffer) => res((JSON.parse(d.toString()) as { port: number }).port)));
  const bare = createWaiaasClient({ address: `localhost:${echoPort}`, credentials: credentialsFromFiles(certs) });
  const sol = (await agent.wallets.createWallet({ chain: Chain.SOLANA })).wallet!;
  const evm = (await agent.wallets.createWallet({ chain: Chain.EVM })).wallet!;
  const solTo = getAddressDecoder().decode(randomBytes(32));
  const evmTo = '0x1111111111111111111111111111111111111111';
  await owner.policies.setPolicy({ walletId: sol.walletId, policy: { document: nativeTransferPolicy([solTo], '1000000000') } });
  await owner.policies.setPolicy({ walletId: evm.walletId, policy: { document: nativeTransferPolicy([evmTo], '1000000000') } });
  // Requests are built before measuring so the figures are the server's, not the load generator's encoding work.
  const blockhash = latestBlockhash(createSvm());
  const solTxs = Array.from({ length: 2048 }, (_, i) => unsignedSolTransfer({ from: sol.address, to: solTo, lamports: BigInt(i + 1), blockhash }));
  const evmTxs = Array.from({ length: 2048 }, (_, i) => unsignedEip1559({ chainId: 1n, to: evmTo, value: 1n, nonce: i }));
  const solTx = (i: number): Uint8Array => solTxs[i % solTxs.length]!;
  const evmTx = (i: number): Uint8Array => evmTxs[i % evmTxs.length]!;

  const bare1 = await runLoad((i) => bare.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: solTx(i) }), { concurrency: 1, seconds: SECONDS });
  const bare64 = await runLoad((i) => bare.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: solTx(i) }), { concurrency: 64, seconds: SECONDS });
  console.log('(b) bare gRPC unary call (same mTLS and codec, canned answer)');
  console.log(`    1 in flight   ${fmt(bare1)}`);
  console.log(`    64 in flight  ${fmt(bare64)}\n`);

  // (c) the full path.
  const sol1 = await runLoad((i) => agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: solTx(i) }), { concurrency: 1, seconds: SECONDS });
  const sol64 = await runLoad((i) => agent.signer.signSolanaTransaction({ walletId: sol.walletId, transaction: solTx(i) }), { concurrency: 64, seconds: SECONDS });
  const evm1 = await runLoad((i) => agent.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: evmTx(i), chainId: 1n }), { concurrency: 1, seconds: SECONDS });
  const evm64 = await runLoad((i) => agent.signer.signEvmTransaction({ walletId: evm.walletId, unsignedTransaction: evmTx(i), chainId: 1n }), { concurrency: 64, seconds: SECONDS });
  console.log('(c) full appliance signing path over mTLS (decode, policy, SQLite record, HSM, record)');
  console.log(`    Solana  1 in flight   ${fmt(sol1)}`);
  console.log(`    Solana  64 in flight  ${fmt(sol64)}`);
  console.log(`    EVM     1 in flight   ${fmt(evm1)}`);
  console.log(`    EVM     64 in flight  ${fmt(evm64)}\n`);

  const r = (a: number, b: number): string => (a / b).toFixed(2);
  console.log('Ratios');
  console.log(`    Solana 64 in flight / raw HSM Ed25519 async      ${r(sol64.perSecond, hsm.ed25519Async)}`);
  console.log(`    Solana 1 in flight  / raw HSM Ed25519 sync       ${r(sol1.perSecond, hsm.ed25519Sync)}`);
  console.log(`    EVM 64 in flight    / raw HSM secp256k1 async    ${r(evm64.perSecond, hsm.secp256k1Async)}`);
  console.log(`    EVM 1 in flight     / raw HSM secp256k1 sync     ${r(evm1.perSecond, hsm.secp256k1Sync)}`);
  console.log(`    Solana 64 in flight / bare gRPC 64 in flight     ${r(sol64.perSecond, bare64.perSecond)}`);
  console.log(`    Solana 1 in flight  / bare gRPC 1 in flight      ${r(sol1.perSecond, bare1.perSecond)}`);
  console.log(`    EVM 64 in flight    / bare gRPC 64 in flight     ${r(evm64.perSecond, bare64.perSecond)}`);

  bare.close();
  echo.kill('SIGTERM');
  await server.stop();
  await removeState(server.dir);

  console.log('');
  console.log('(d)');
  await benchPolicy(SECONDS);
}

await main();
