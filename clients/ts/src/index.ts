/**
 * The TypeScript client agents import: typed, promise-based access to the appliance's WalletService, SignerService
 * and PolicyService over mutual TLS.
 *
 *   const client = createWaiaasClient({ address: 'localhost:7443', credentials: credentialsFromFiles({...}) });
 *   const { wallet } = await client.wallets.createWallet({ chain: Chain.SOLANA });
 */
import { create, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { credentials as grpcCredentials, makeGenericClientConstructor, Metadata, type ChannelCredentials, type ChannelOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { AgentService } from '../../../gen/waiaas/v1/agent_pb.js';
import { ApprovalService } from '../../../gen/waiaas/v1/approval_pb.js';
import { AuditService } from '../../../gen/waiaas/v1/audit_pb.js';
import { OwnerService } from '../../../gen/waiaas/v1/owner_pb.js';
import { PolicyService } from '../../../gen/waiaas/v1/policy_pb.js';
import { SignRequestService } from '../../../gen/waiaas/v1/sign_request_pb.js';
import { SignerService } from '../../../gen/waiaas/v1/signer_pb.js';
import { WalletService } from '../../../gen/waiaas/v1/wallet_pb.js';
import { grpcServiceDefinition, type AnyService } from './definition.ts';
import { fromServiceError } from './errors.ts';

export { WaiaasClientError } from './errors.ts';
export { Chain, KeyAlgorithm, type Wallet } from '../../../gen/waiaas/v1/wallet_pb.js';
export { Verdict } from '../../../gen/waiaas/v1/effects_pb.js';
export { SignRequestState, type SignRequest } from '../../../gen/waiaas/v1/sign_request_pb.js';
export { OwnerKeyType, OwnerState, type WalletOwnership } from '../../../gen/waiaas/v1/owner_pb.js';
export { ApprovalAction, type PendingRequest } from '../../../gen/waiaas/v1/approval_pb.js';
export type { Policy } from '../../../gen/waiaas/v1/policy_pb.js';

/** Per-call options. */
export interface CallOptions {
  /** Absolute deadline or milliseconds from now. Default: 30 s. */
  deadline?: Date | number;
  /** Cancels the call. */
  signal?: AbortSignal;
}

/** One function per RPC of service S: a promise for unary methods, an async iterable for server-streaming ones. */
export type PromiseClient<S extends AnyService> = {
  [K in keyof S['method']]: S['method'][K]['methodKind'] extends 'server_streaming'
    ? (request: MessageInitShape<S['method'][K]['input']>, options?: CallOptions) => AsyncIterable<MessageShape<S['method'][K]['output']>>
    : (request: MessageInitShape<S['method'][K]['input']>, options?: CallOptions) => Promise<MessageShape<S['method'][K]['output']>>;
};

/** Options of createWaiaasClient. */
export interface WaiaasClientOptions {
  /** host:port of the appliance. */
  address: string;
  /** mTLS credentials: see credentialsFromFiles. */
  credentials: ChannelCredentials;
  /** Extra grpc-js channel options (e.g. `grpc.ssl_target_name_override`). */
  channelOptions?: ChannelOptions;
}

/** The client. */
export interface WaiaasClient {
  wallets: PromiseClient<typeof WalletService>;
  signer: PromiseClient<typeof SignerService>;
  policies: PromiseClient<typeof PolicyService>;
  requests: PromiseClient<typeof SignRequestService>;
  owners: PromiseClient<typeof OwnerService>;
  approvals: PromiseClient<typeof ApprovalService>;
  agents: PromiseClient<typeof AgentService>;
  audit: PromiseClient<typeof AuditService>;
  /** Closes the channel. */
  close(): void;
}

/** Reads PEM files for mutual TLS: the CA that signed the server's certificate, and this client's certificate and key. */
export function credentialsFromFiles(files: { ca: string; cert: string; key: string }): ChannelCredentials {
  return grpcCredentials.createSsl(readFileSync(files.ca), readFileSync(files.key), readFileSync(files.cert));
}

/** Connects to the appliance. The channel connects lazily on the first call. */
export function createWaiaasClient(opts: WaiaasClientOptions): WaiaasClient {
  const clients: Client[] = [];
  const make = <S extends AnyService>(service: S): PromiseClient<S> => {
    const Ctor = makeGenericClientConstructor(grpcServiceDefinition(service), service.typeName);
    const raw = new Ctor(opts.address, opts.credentials, opts.channelOptions ?? {});
    clients.push(raw);
    const out: Record<string, unknown> = {};
    for (const method of service.methods) out[method.localName] = method.methodKind === 'server_streaming' ? serverStream(raw, method) : unary(raw, method);
    return out as PromiseClient<S>;
  };
  const wallets = make(WalletService);
  const signer = make(SignerService);
  const policies = make(PolicyService);
  const requests = make(SignRequestService);
  const owners = make(OwnerService);
  const approvals = make(ApprovalService);
  const agents = make(AgentService);
  const audit = make(AuditService);
  return { wallets, signer, policies, requests, owners, approvals, agents, audit, close: () => clients.forEach((c) => c.close()) };
}

function unary(raw: Client, method: DescMethod) {
  return (request: MessageInitShape<DescMethod['input']>, options: CallOptions = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const deadline = options.deadline instanceof Date ? options.deadline : new Date(Date.now() + (options.deadline ?? 30_000));
      const fn = (raw as unknown as Record<string, (...a: unknown[]) => { cancel(): void }>)[method.localName]!;
      const call = fn.call(raw, create(method.input, request), new Metadata(), { deadline }, (err: ServiceError | null, res: unknown) =>
        err ? reject(fromServiceError(err)) : resolve(res),
      );
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
}

function serverStream(raw: Client, method: DescMethod) {
  return (request: MessageInitShape<DescMethod['input']>, options: CallOptions = {}): AsyncIterable<unknown> => ({
    async *[Symbol.asyncIterator]() {
      const callOptions = options.deadline === undefined ? {} : { deadline: options.deadline instanceof Date ? options.deadline : new Date(Date.now() + options.deadline) };
      const fn = (raw as unknown as Record<string, (...a: unknown[]) => NodeJS.ReadableStream & { cancel(): void }>)[method.localName]!;
      const call = fn.call(raw, create(method.input, request), new Metadata(), callOptions);
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
      try {
        for await (const message of call) yield message;
      } catch (err) {
        throw fromServiceError(err as ServiceError);
      } finally {
        call.cancel();
      }
    },
  });
}

// Waiting for pending requests, and adapters for viem and @solana/kit.
export {
  WaiaasDeniedError,
  WaiaasRequestEndedError,
  WaiaasTimeoutError,
  signAndWait,
  waitForSignature,
  waiaasErrorOf,
  type DeniedRule,
  type EndedReason,
  type EndedState,
  type SignAndWaitOptions,
  type SignResponseLike,
  type SignedRequest,
  type WaitClient,
  type WaitOptions,
} from './wait.ts';
export { waiaasAccount, type WaiaasAccount, type WaiaasAccountOptions } from './viem.ts';
export { waiaasKitSigner, type WaiaasKitSigner, type WaiaasKitSignerOptions } from './kit.ts';
