/**
 * The signing path. For every request: validate, find the wallet, decode the exact bytes into effects, let the
 * policy engine decide, commit the decision (state SIGNING) to the store, sign on the HSM (which verifies every
 * signature against the key before returning it), commit the outcome with the response, and only then answer. A retry with the same
 * request_id is answered from the record and never signs twice. If the store or the HSM cannot be used, nothing is
 * signed (or, when the outcome cannot be recorded, nothing signed is returned).
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { createHash } from 'node:crypto';
import type { Hsm } from '../../hsm/index.ts';
import {
  SignEvmTransactionResponseSchema,
  SignSolanaTransactionResponseSchema,
  type SignEvmTransactionResponse,
  type SignSolanaTransactionResponse,
  Verdict as ProtoVerdict,
} from '../../gen/waiaas/v1/signer_pb.js';
import { assembleEvmTransaction, decodeEvmTransaction, evmEffects } from '../chains/evm/index.ts';
import { assembleSolanaTransaction, decodeSolanaTransaction, signerIndex, solanaEffects } from '../chains/solana/index.ts';
import { requireDeps } from '../deps.ts';
import { WaiaasError } from '../errors/error.ts';
import { fromHsmError, fromStoreError } from '../errors/map.ts';
import { checkRequestId, newSignRequestId } from '../ids.ts';
import type { Logger } from '../log.ts';
import type { PolicyService } from '../policies/policies.ts';
import type { Effects } from '../policy/effects.ts';
import { evaluate, type Verdict } from '../policy/evaluate.ts';
import type { Store, StoredChain, WalletRecord } from '../store/store.ts';
import type { WalletService } from '../wallets/wallets.ts';

/** Dependencies of the signer; construction fails if one is missing. */
export interface SignerDeps {
  hsm: Pick<Hsm, 'signEd25519' | 'signSecp256k1'>;
  store: Store;
  wallets: WalletService;
  policies: PolicyService;
  log: Logger;
  clock?: () => Date;
}

/** Creates the signer, checking its wiring. */
export function createSigner(deps: SignerDeps): Signer {
  requireDeps('Signer', deps, ['hsm', 'store', 'wallets', 'policies', 'log']);
  return new Signer({ clock: () => new Date(), ...deps });
}

/** What a chain-specific request contributes to the common path. */
interface Prepared<T> {
  effects: Effects;
  /** Signs on the HSM and builds the response (without sign_request_id/verdict/policy_hash, which the core fills). */
  sign(): Promise<T>;
}

interface Job<S extends DescMessage> {
  kind: 'solana_transaction' | 'evm_transaction';
  chain: StoredChain;
  walletId: string;
  requestId: string;
  caller: string;
  /** Every byte of the request that matters, for the request_id reuse check. */
  payload: Uint8Array[];
  schema: S;
  prepare(wallet: WalletRecord): Prepared<MessageShape<S>>;
}

const PROTO_VERDICT: Record<Verdict, ProtoVerdict> = {
  INSTANT: ProtoVerdict.INSTANT,
  NOTIFY: ProtoVerdict.NOTIFY,
  DELAY: ProtoVerdict.DELAY,
  APPROVAL: ProtoVerdict.APPROVAL,
  DENY: ProtoVerdict.DENY,
};

/** Signs Solana and EVM transactions for wallets, under their policies. */
export class Signer {
  private readonly deps: Required<SignerDeps>;
  /** Requests in flight by caller + request_id: a concurrent retry waits for the first answer. */
  private readonly inflight = new Map<string, { payloadHash: string; done: Promise<unknown> }>();

  constructor(deps: Required<SignerDeps>) {
    this.deps = deps;
  }

  /** Signs a Solana wire transaction in the wallet's signer slot. */
  signSolanaTransaction(input: { walletId: string; transaction: Uint8Array; requestId: string; caller: string }): Promise<SignSolanaTransactionResponse> {
    return this.run({
      kind: 'solana_transaction',
      chain: 'solana',
      walletId: input.walletId,
      requestId: input.requestId,
      caller: input.caller,
      payload: [input.transaction],
      schema: SignSolanaTransactionResponseSchema,
      prepare: (wallet) => {
        const tx = decodeSolanaTransaction(input.transaction);
        const index = signerIndex(tx, wallet.address);
        return {
          effects: solanaEffects(tx, wallet.address),
          sign: async () => {
            // The HSM layer verifies every signature against the key's public key before returning it; start-up
            // checked that key is the wallet's.
            const signature = await this.hsmCall(() => this.deps.hsm.signEd25519(wallet.keyId, tx.messageBytes));
            return create(SignSolanaTransactionResponseSchema, {
              signedTransaction: assembleSolanaTransaction(tx, index, signature),
              signature,
              signerAddress: wallet.address,
            });
          },
        };
      },
    });
  }

  /** Signs an unsigned EVM transaction for `chainId`. */
  signEvmTransaction(input: { walletId: string; unsignedTransaction: Uint8Array; chainId: bigint; requestId: string; caller: string }): Promise<SignEvmTransactionResponse> {
    return this.run({
      kind: 'evm_transaction',
      chain: 'evm',
      walletId: input.walletId,
      requestId: input.requestId,
      caller: input.caller,
      payload: [input.unsignedTransaction, new TextEncoder().encode(input.chainId.toString())],
      schema: SignEvmTransactionResponseSchema,
      prepare: (wallet) => {
        if (input.chainId === 0n) {
          throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'chain_id is required', { metadata: { field: 'chain_id' } });
        }
        const tx = decodeEvmTransaction(input.unsignedTransaction, input.chainId);
        return {
          effects: evmEffects(tx),
          sign: async () => {
            // The HSM layer checks the signature against the key's public key before it returns it.
            const sig = await this.hsmCall(() => this.deps.hsm.signSecp256k1(wallet.keyId, tx.signingHash));
            const { signed, hash } = assembleEvmTransaction(tx, { r: sig.r, s: sig.s, yParity: sig.recovery });
            return create(SignEvmTransactionResponseSchema, {
              signedTransaction: signed,
              transactionHash: hash,
              signature: { r: sig.r, s: sig.s, yParity: sig.recovery },
              signerAddress: wallet.address,
            });
          },
        };
      },
    });
  }

  private async hsmCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw fromHsmError(err);
    }
  }

  /** The common path of every sign RPC; see the module comment. */
  private async run<S extends DescMessage>(job: Job<S>): Promise<MessageShape<S>> {
    const requestId = checkRequestId(job.requestId);
    const wallet = this.deps.wallets.get(job.walletId);
    if (wallet.chain !== job.chain) {
      throw new WaiaasError('WAIAAS_WALLET_CHAIN_MISMATCH', `wallet ${wallet.walletId} is a ${wallet.chain} wallet`, {
        metadata: { wallet_id: wallet.walletId, wallet_chain: wallet.chain, request_chain: job.chain },
      });
    }
    const payloadHash = hashPayload(job.kind, wallet.walletId, job.payload);
    if (requestId === null) return this.execute(job, wallet, null, payloadHash);

    const key = `${job.caller}\n${requestId}`;
    const running = this.inflight.get(key);
    if (running) {
      if (running.payloadHash !== payloadHash) throw reused(requestId);
      await running.done.catch(() => undefined);
    }
    const previous = this.readStore(() => this.deps.store.getSignRequestByRequestId(job.caller, requestId));
    if (previous) {
      if (previous.payloadHash !== payloadHash) throw reused(requestId);
      if (previous.state === 'SIGNED' && previous.response) return fromBinary(job.schema, previous.response);
      throw new WaiaasError((previous.errorReason ?? 'WAIAAS_INTERNAL') as WaiaasError['reason'], previous.errorMessage ?? undefined, {
        metadata: previous.errorMetadata ?? {},
      });
    }
    const done = this.execute(job, wallet, requestId, payloadHash);
    this.inflight.set(key, { payloadHash, done });
    try {
      return await done;
    } finally {
      this.inflight.delete(key);
    }
  }

  private readStore<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw fromStoreError(err);
    }
  }

  private async execute<S extends DescMessage>(job: Job<S>, wallet: WalletRecord, requestId: string | null, payloadHash: string): Promise<MessageShape<S>> {
    const { store, log, clock } = this.deps;
    const id = newSignRequestId();
    const base = { id, caller: job.caller, requestId, walletId: wallet.walletId, kind: job.kind, payloadHash, time: clock().toISOString() };

    let prepared: Prepared<MessageShape<S>>;
    try {
      prepared = job.prepare(wallet);
    } catch (err) {
      const e = err instanceof WaiaasError ? err : new WaiaasError('WAIAAS_TX_MALFORMED', undefined, { cause: err });
      await this.record({ ...base, effects: null, verdict: null, rule: null, policyVersion: null, policyHash: null, state: 'REFUSED', error: errorRecord(e) });
      throw e;
    }

    const policy = this.readStore(() => this.deps.policies.current(wallet.walletId));
    const decision = evaluate(prepared.effects, policy, { now: clock() });
    const decided = {
      ...base,
      effects: effectsJson(prepared.effects),
      verdict: decision.verdict,
      rule: decision.rule,
      policyVersion: decision.policyVersion,
      policyHash: decision.policyHash,
    };
    if (decision.verdict !== 'INSTANT' && decision.verdict !== 'NOTIFY') {
      // DELAY and APPROVAL need the owner workflow, which does not exist yet: they are refused, never signed.
      const e = new WaiaasError('WAIAAS_POLICY_DENIED', decision.detail, {
        metadata: { verdict: decision.verdict, rule: decision.rule, policy_hash: decision.policyHash ?? '', sign_request_id: id },
      });
      await this.record({ ...decided, state: 'REFUSED', error: errorRecord(e) });
      log.info({ signRequestId: id, walletId: wallet.walletId, verdict: decision.verdict, rule: decision.rule }, 'sign request denied');
      throw e;
    }

    // Commit the decision before the HSM is asked: no signature can exist without this record.
    await this.record({ ...decided, state: 'SIGNING' });
    let response: MessageShape<S>;
    try {
      response = await prepared.sign();
    } catch (err) {
      const e = err instanceof WaiaasError ? err : new WaiaasError('WAIAAS_INTERNAL', undefined, { cause: err });
      try {
        await store.write(() => store.failSignRequest(id, errorRecord(e), clock().toISOString()));
      } catch (storeErr) {
        log.error({ signRequestId: id, err: storeErr }, 'could not record a failed sign request');
      }
      throw e;
    }
    const full = { ...response, signRequestId: id, verdict: PROTO_VERDICT[decision.verdict], policyHash: decision.policyHash ?? '' } as MessageShape<S>;
    try {
      const bytes = toBinary(job.schema, full);
      await store.write(() => store.completeSignRequest(id, bytes, clock().toISOString()));
    } catch (err) {
      // The signature was made but cannot be recorded: it is dropped here, never returned (fail closed).
      throw fromStoreError(err);
    }
    log.info({ signRequestId: id, walletId: wallet.walletId, verdict: decision.verdict, kind: job.kind }, 'signed');
    return full;
  }

  private async record(r: Parameters<Store['insertSignRequest']>[0]): Promise<void> {
    try {
      await this.deps.store.write(() => this.deps.store.insertSignRequest(r));
    } catch (err) {
      if (r.requestId !== null && isUniqueViolation(err)) throw reused(r.requestId);
      throw fromStoreError(err);
    }
  }
}

function reused(requestId: string): WaiaasError {
  return new WaiaasError('WAIAAS_REQUEST_ID_REUSED', 'request_id was already used for a different request', { metadata: { request_id: requestId } });
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

function errorRecord(e: WaiaasError): { reason: string; message: string; metadata: Record<string, string> } {
  return { reason: e.reason, message: e.message, metadata: e.metadata };
}

function hashPayload(kind: string, walletId: string, parts: Uint8Array[]): string {
  const h = createHash('sha256').update(kind).update('\0').update(walletId);
  for (const p of parts) h.update('\0').update(String(p.length)).update('\0').update(p);
  return h.digest('hex');
}

/** Effects as JSON for the record (bigints as decimal strings). */
export function effectsJson(effects: Effects): string {
  return JSON.stringify(effects, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
