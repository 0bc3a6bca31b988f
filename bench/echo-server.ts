/**
 * The "plain gRPC" reference for the benchmark: a grpc-js server with the same mutual TLS, the same protobuf-es codec
 * and the same SignerService definition as the appliance, whose handler answers at once with a canned response of the
 * same shape. The appliance's figures divided by this one show what the HSM, policy and store cost on top of gRPC.
 *
 *   node bench/echo-server.ts STATE_DIR      (prints {"msg":"listening","port":N})
 */
import { create } from '@bufbuild/protobuf';
import { Server, ServerCredentials, type sendUnaryData } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { grpcServiceDefinition } from '../clients/ts/src/definition.ts';
import { Verdict } from '../gen/waiaas/v1/effects_pb.js';
import { SignerService, SignSolanaTransactionResponseSchema } from '../gen/waiaas/v1/signer_pb.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench/echo-server.ts STATE_DIR');
const canned = create(SignSolanaTransactionResponseSchema, {
  signRequestId: 'req_00000000000000000000000000',
  verdict: Verdict.INSTANT,
  signedTransaction: new Uint8Array(215),
  signature: new Uint8Array(64),
  signerAddress: '11111111111111111111111111111111',
  policyHash: '0'.repeat(64),
});
const server = new Server();
server.addService(grpcServiceDefinition(SignerService), {
  signSolanaTransaction: (_call: unknown, cb: sendUnaryData<unknown>) => cb(null, canned),
  signEvmTransaction: (_call: unknown, cb: sendUnaryData<unknown>) => cb(null, canned),
});
const creds = ServerCredentials.createSsl(
  readFileSync(join(dir, 'ca.pem')),
  [{ cert_chain: readFileSync(join(dir, 'server.pem')), private_key: readFileSync(join(dir, 'server.key')) }],
  true,
);
server.bindAsync('127.0.0.1:0', creds, (err, port) => {
  if (err) throw err;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
