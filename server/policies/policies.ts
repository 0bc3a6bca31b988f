/**
 * Reading, replacing and compiling wallets' policies (the I/O around the pure engine in server/policy/): validation
 * with field paths, versioning, hashing, who may set a policy, and the compile step that derives what the engine
 * needs ahead of time (the SPL associated token accounts of every owner a rule names). Compiled policies are cached
 * by hash.
 */
import { associatedTokenAddress, TOKEN_2022_PROGRAM, TOKEN_PROGRAM } from '../chains/solana/index.ts';
import { requireDeps } from '../deps.ts';
import { WaiaasError } from '../errors/error.ts';
import { fromStoreError } from '../errors/map.ts';
import { requireRole, type Identity } from '../grpc/identity.ts';
import type { Logger } from '../log.ts';
import { canonicalPolicy, parseCanonicalPolicy, policyHash, validatePolicy, type Policy, type PolicyDocument } from '../policy/document.ts';
import type { ChainFamily } from '../policy/effects.ts';
import type { CompiledPolicy } from '../policy/evaluate.ts';
import type { PolicyRecord, Store } from '../store/store.ts';
import type { WalletService } from '../wallets/wallets.ts';

/** Dependencies of the policy service. */
export interface PolicyServiceDeps {
  store: Store;
  wallets: WalletService;
  log: Logger;
  clock?: () => Date;
}

/** A stored policy with who set it and when. */
export interface StoredPolicy extends Policy {
  createTime: string;
  setBy: string;
}

/**
 * Derives the token accounts the engine may match against owner lists: for every owner named in a transfer rule or a
 * deny list and every SPL mint named anywhere in the policy, the associated token account under both token programs.
 */
export async function compilePolicy(policy: Policy, chain: ChainFamily): Promise<CompiledPolicy> {
  const tokenAccounts = new Map<string, { owner: string; mint: string }>();
  if (chain === 'solana') {
    const owners = new Set<string>();
    const mints = new Set<string>();
    for (const r of policy.document.rules) {
      if (r.kind === 'transfer') r.recipients?.forEach((o) => owners.add(o));
      // Denied owners' token accounts must be recognised too, or a transfer to them would pass the deny list.
      if (r.kind === 'deny_addresses') r.addresses.forEach((o) => owners.add(o));
      if ('asset' in r && r.asset.startsWith('spl:')) mints.add(r.asset.slice(4));
    }
    if (owners.size * mints.size > 20_000) {
      throw new WaiaasError('WAIAAS_POLICY_INVALID', 'too many recipient × mint pairs (at most 20000)', { metadata: { field: 'policy.document.rules' } });
    }
    for (const owner of owners) {
      for (const mint of mints) {
        for (const program of [TOKEN_PROGRAM, TOKEN_2022_PROGRAM]) {
          tokenAccounts.set(await associatedTokenAddress(owner, mint, program), { owner, mint });
        }
      }
    }
  }
  return { ...policy, tokenAccounts };
}

/** Gets, sets and compiles wallet policies. */
export class PolicyService {
  private readonly deps: Required<PolicyServiceDeps>;
  private readonly compiled = new Map<string, Promise<CompiledPolicy>>();

  constructor(deps: PolicyServiceDeps) {
    requireDeps('PolicyService', deps, ['store', 'wallets', 'log']);
    this.deps = { clock: () => new Date(), ...deps };
  }

  private fromRecord(rec: PolicyRecord, chain: ChainFamily): StoredPolicy {
    return { version: rec.version, hash: rec.policyHash, document: parseCanonicalPolicy(rec.document, chain), createTime: rec.createTime, setBy: rec.setBy };
  }

  /** The wallet's current policy compiled for the engine, or null when it has none (everything is denied). */
  async current(walletId: string): Promise<CompiledPolicy | null> {
    const wallet = this.deps.wallets.get(walletId);
    let rec: PolicyRecord | undefined;
    try {
      rec = this.deps.store.getPolicy(walletId);
    } catch (err) {
      throw fromStoreError(err);
    }
    if (!rec) return null;
    const key = `${wallet.chain}:${rec.policyHash}`;
    let p = this.compiled.get(key);
    if (!p) {
      p = compilePolicy(this.fromRecord(rec, wallet.chain), wallet.chain);
      this.compiled.set(key, p);
      p.catch(() => this.compiled.delete(key));
      if (this.compiled.size > 1000) this.compiled.delete(this.compiled.keys().next().value!);
    }
    const c = await p;
    // The cache is by hash; the version comes from the record (the same document may be set again as a new version).
    return { ...c, version: rec.version };
  }

  /** The wallet's current policy; NOT_FOUND when the wallet or its policy does not exist. */
  get(walletId: string): StoredPolicy {
    const wallet = this.deps.wallets.get(walletId);
    const rec = this.deps.store.getPolicy(walletId);
    if (!rec) throw new WaiaasError('WAIAAS_POLICY_NOT_FOUND', `wallet ${walletId} has no policy`, { metadata: { wallet_id: walletId } });
    return this.fromRecord(rec, wallet.chain);
  }

  /** Validates a candidate document for a wallet without storing it (dry runs, `policy diff`). */
  async candidate(walletId: string, json: string): Promise<CompiledPolicy> {
    const wallet = this.deps.wallets.get(walletId);
    const doc = this.validate(json, wallet.chain);
    return compilePolicy({ version: 0, hash: policyHash(doc), document: doc }, wallet.chain);
  }

  private validate(json: string, chain: ChainFamily): PolicyDocument {
    const v = validatePolicy(json, chain);
    if (!v.ok) {
      throw new WaiaasError('WAIAAS_POLICY_INVALID', `${v.error.field}: ${v.error.message}`, { metadata: { field: `policy.document.${v.error.field}` } });
    }
    return v.document;
  }

  /** Validates and stores a new version of the wallet's policy. Owners and admins only. */
  async set(walletId: string, json: string, caller: Identity): Promise<StoredPolicy> {
    requireRole(caller, ['owner', 'admin'], 'SetPolicy');
    const wallet = this.deps.wallets.get(walletId);
    const doc = this.validate(json, wallet.chain);
    const hash = policyHash(doc);
    await compilePolicy({ version: 0, hash, document: doc }, wallet.chain); // refuse what cannot compile before storing it
    try {
      const time = this.deps.clock().toISOString();
      const store = this.deps.store;
      const document = canonicalPolicy(doc);
      const rec = await store.write(() => {
        const previous = store.getPolicy(walletId);
        const r = store.putPolicy({ walletId, document, policyHash: hash, setBy: caller.uri, time });
        store.audit.append({ actor: caller.uri, action: 'policy.set', walletId, data: { version: r.version, policy_hash: hash, document, previous_policy_hash: previous?.policyHash ?? null } }, time);
        return r;
      });
      this.deps.log.info({ walletId, version: rec.version, policyHash: hash, setBy: caller.uri }, 'policy set');
      return { version: rec.version, hash, document: doc, createTime: time, setBy: caller.uri };
    } catch (err) {
      throw fromStoreError(err);
    }
  }
}
