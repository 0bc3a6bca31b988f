/**
 * Wallet lifecycle: creating a wallet generates its key pair on the HSM (the private key never leaves it), derives
 * the chain address from the public key, and stores the wallet. Creation is idempotent per caller and request_id.
 */
import type { Curve, Hsm } from '../../hsm/index.ts';
import { evmAddress } from '../chains/evm/index.ts';
import { solanaAddress } from '../chains/solana/index.ts';
import { WaiaasError } from '../errors/error.ts';
import { fromHsmError, fromStoreError } from '../errors/map.ts';
import { checkRequestId, checkWalletId, newWalletId } from '../ids.ts';
import type { Logger } from '../log.ts';
import type { StoredChain, Store, WalletRecord } from '../store/store.ts';
import { requireDeps } from '../deps.ts';

/** The curve each chain family signs with. */
export const CURVE_OF: Record<StoredChain, Curve> = { solana: 'ed25519', evm: 'secp256k1' };

/** Dependencies of the wallet service. */
export interface WalletServiceDeps {
  hsm: Pick<Hsm, 'generateKey' | 'capabilities' | 'tokenLabel'>;
  store: Store;
  log: Logger;
  clock?: () => Date;
}

const LABEL_KEY = /^[a-z0-9_-]{1,63}$/;
const MAX_LABELS = 32;
const MAX_LABEL_VALUE = 256;

/** Validates labels; errors name the offending label. */
export function checkLabels(labels: Record<string, string>): Record<string, string> {
  const keys = Object.keys(labels);
  if (keys.length > MAX_LABELS) {
    throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `at most ${MAX_LABELS} labels`, { metadata: { field: 'labels' } });
  }
  for (const k of keys) {
    if (!LABEL_KEY.test(k)) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'label keys are 1-63 characters of [a-z0-9_-]', { metadata: { field: `labels[${k.slice(0, 64)}]` } });
    if (labels[k]!.length > MAX_LABEL_VALUE) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `label values are at most ${MAX_LABEL_VALUE} characters`, { metadata: { field: `labels[${k}]` } });
  }
  return Object.fromEntries(keys.sort().map((k) => [k, labels[k]!]));
}

/** Creates, gets and lists wallets. */
export class WalletService {
  private readonly deps: Required<WalletServiceDeps>;
  /** Creations in flight by caller + request_id, so a concurrent retry waits for the first instead of making a second key. */
  private readonly inflight = new Map<string, Promise<WalletRecord>>();

  constructor(deps: WalletServiceDeps) {
    requireDeps('WalletService', deps, ['hsm', 'store', 'log']);
    this.deps = { clock: () => new Date(), ...deps };
  }

  /** Creates a wallet for `chain` (or returns the one this caller already created with `requestId`). */
  async create(input: { chain: StoredChain; labels: Record<string, string>; requestId: string; caller: string }): Promise<WalletRecord> {
    const labels = checkLabels(input.labels);
    const requestId = checkRequestId(input.requestId);
    if (requestId === null) return this.generate(input.chain, labels, null, input.caller);
    const key = `${input.caller}\n${requestId}`;
    const pending = this.inflight.get(key);
    if (pending) return this.sameRequest(await pending, input.chain, labels);
    const existing = this.deps.store.getWalletByRequestId(input.caller, requestId);
    if (existing) return this.sameRequest(existing, input.chain, labels);
    const p = this.generate(input.chain, labels, requestId, input.caller).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private sameRequest(w: WalletRecord, chain: StoredChain, labels: Record<string, string>): WalletRecord {
    if (w.chain !== chain || JSON.stringify(w.labels) !== JSON.stringify(labels)) {
      throw new WaiaasError('WAIAAS_REQUEST_ID_REUSED', 'request_id was already used to create a different wallet', { metadata: { wallet_id: w.walletId } });
    }
    return w;
  }

  private async generate(chain: StoredChain, labels: Record<string, string>, requestId: string | null, caller: string): Promise<WalletRecord> {
    const { hsm, store, log, clock } = this.deps;
    const curve = CURVE_OF[chain];
    if (!hsm.capabilities[curve]) {
      throw new WaiaasError('WAIAAS_CURVE_UNSUPPORTED', `the HSM token "${hsm.tokenLabel}" cannot do ${curve}`, { metadata: { curve } });
    }
    const walletId = newWalletId();
    let key;
    try {
      key = await hsm.generateKey(curve, `waiaas:${walletId}`);
    } catch (err) {
      throw fromHsmError(err);
    }
    const address = chain === 'solana' ? solanaAddress(key.publicKey) : evmAddress(key.publicKey);
    try {
      const createTime = clock().toISOString();
      const w = await store.write(() => {
        const rec = store.insertWallet({
          walletId, chain, address, keyId: key.keyId, algorithm: curve, publicKey: key.publicKey, tokenLabel: hsm.tokenLabel,
          labels, creator: caller, requestId, createTime,
        });
        store.audit.append({
          actor: caller, action: 'wallet.created', walletId,
          data: { chain, address, algorithm: curve, key_id: key.keyId, public_key: key.publicKey, token_label: hsm.tokenLabel, labels, request_id: requestId },
        }, createTime);
        return rec;
      });
      log.info({ walletId, chain, address, keyId: Buffer.from(key.keyId).toString('hex') }, 'wallet created');
      return w;
    } catch (err) {
      // The key exists on the HSM but no wallet refers to it; it is labelled with the wallet id for clean-up.
      log.error({ walletId, keyId: Buffer.from(key.keyId).toString('hex'), err }, 'wallet key generated but the wallet could not be stored');
      throw fromStoreError(err);
    }
  }

  /** The wallet with this id; NOT_FOUND otherwise. */
  get(walletId: string): WalletRecord {
    checkWalletId(walletId);
    const w = this.deps.store.getWallet(walletId);
    if (!w) throw new WaiaasError('WAIAAS_WALLET_NOT_FOUND', `no wallet ${walletId}`, { metadata: { wallet_id: walletId } });
    return w;
  }

  /** A page of wallets in creation order. The page token is the opaque position after the last wallet returned. */
  list(input: { pageSize: number; pageToken: string; chain?: StoredChain | undefined; visible?: (w: WalletRecord) => boolean }): { wallets: WalletRecord[]; nextPageToken: string } {
    if (input.pageSize < 0 || input.pageSize > 1000) {
      throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'page_size must be 0-1000', { metadata: { field: 'page_size' } });
    }
    const limit = input.pageSize === 0 ? 100 : input.pageSize;
    let afterSeq = 0;
    if (input.pageToken !== '') {
      const m = /^p1\.(\d{1,15})$/.exec(Buffer.from(input.pageToken, 'base64url').toString('utf8'));
      if (!m) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'page_token is not one this server issued', { metadata: { field: 'page_token' } });
      afterSeq = Number(m[1]);
    }
    // Pages are cut after filtering to what the caller may see, so a scoped caller gets full pages of its wallets.
    const wallets: WalletRecord[] = [];
    let cursor = afterSeq;
    let more = false;
    for (;;) {
      const rows = this.deps.store.listWallets({ afterSeq: cursor, limit: 500, chain: input.chain });
      for (const w of rows) {
        cursor = w.seq;
        if (input.visible && !input.visible(w)) continue;
        if (wallets.length === limit) {
          more = true;
          break;
        }
        wallets.push(w);
      }
      if (more || rows.length < 500) break;
    }
    const last = wallets.at(-1);
    const nextPageToken = more && last ? Buffer.from(`p1.${last.seq}`).toString('base64url') : '';
    return { wallets, nextPageToken };
  }
}
