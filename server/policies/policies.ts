/**
 * Reading and replacing wallets' policies (the I/O around the pure engine in server/policy/): validation with field
 * paths, versioning, hashing, and who may set a policy.
 */
import { WaiaasError } from '../errors/error.ts';
import { fromStoreError } from '../errors/map.ts';
import { requireRole, type Identity } from '../grpc/identity.ts';
import { canonicalPolicy, parseCanonicalPolicy, policyHash, validatePolicy, type Policy, type PolicyInput } from '../policy/document.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/store.ts';
import { requireDeps } from '../deps.ts';
import type { WalletService } from '../wallets/wallets.ts';

/** Dependencies of the policy service. */
export interface PolicyServiceDeps {
  store: Store;
  wallets: WalletService;
  log: Logger;
  clock?: () => Date;
}

/** Gets and sets wallet policies. */
export class PolicyService {
  private readonly deps: Required<PolicyServiceDeps>;

  constructor(deps: PolicyServiceDeps) {
    requireDeps('PolicyService', deps, ['store', 'wallets', 'log']);
    this.deps = { clock: () => new Date(), ...deps };
  }

  /** The wallet's current policy, or null when it has none (everything is denied). */
  current(walletId: string): Policy | null {
    const rec = this.deps.store.getPolicy(walletId);
    return rec ? { version: rec.version, hash: rec.policyHash, document: parseCanonicalPolicy(rec.document) } : null;
  }

  /** The wallet's current policy; NOT_FOUND when the wallet or its policy does not exist. */
  get(walletId: string): Policy {
    this.deps.wallets.get(walletId);
    const p = this.current(walletId);
    if (!p) throw new WaiaasError('WAIAAS_POLICY_NOT_FOUND', `wallet ${walletId} has no policy`, { metadata: { wallet_id: walletId } });
    return p;
  }

  /** Validates and stores a new version of the wallet's policy. Owners and admins only. */
  set(walletId: string, input: PolicyInput, caller: Identity): Policy {
    requireRole(caller, ['owner', 'admin'], 'SetPolicy');
    const wallet = this.deps.wallets.get(walletId);
    const v = validatePolicy(input, wallet.chain);
    if (!v.ok) {
      throw new WaiaasError('WAIAAS_POLICY_INVALID', `${v.error.field}: ${v.error.message}`, { metadata: { field: `policy.${v.error.field}` } });
    }
    const hash = policyHash(v.document);
    try {
      const rec = this.deps.store.putPolicy({ walletId, document: canonicalPolicy(v.document), policyHash: hash, setBy: caller.uri, time: this.deps.clock().toISOString() });
      this.deps.log.info({ walletId, version: rec.version, policyHash: hash, setBy: caller.uri }, 'policy set');
      return { version: rec.version, hash, document: v.document };
    } catch (err) {
      throw fromStoreError(err);
    }
  }
}
