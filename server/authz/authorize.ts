/**
 * Authorization of every RPC, in one table: which roles may call it, and for agents and owners which wallet (and,
 * for agents, which operation and chain) it acts on. Permission is checked before existence: the scope check uses
 * the wallet id as given, before anything is looked up, so a caller without permission learns nothing about what
 * exists (PERMISSION_DENIED before NOT_FOUND). Revoked principals and certificates, and unknown agents and owners,
 * are refused on their next call. Each principal has a token-bucket rate limit (RESOURCE_EXHAUSTED).
 */
import { WaiaasError } from '../errors/error.ts';
import type { Identity, Role } from '../grpc/identity.ts';
import type { Operation, Principals } from './principals.ts';

/** What an RPC needs: roles allowed, and how to find the wallet and operation it acts on. */
export interface Rule {
  roles: readonly Role[];
  /** The operation an agent needs. */
  operation?: Operation;
  /** The wallet id the call acts on ('' = none named; scope is then enforced by the service, e.g. per request). */
  wallet?: (req: Record<string, unknown>) => string;
  /** The chain family the call is for (agents' chain scope). */
  chain?: string;
}

const walletId = (req: Record<string, unknown>): string => (typeof req.walletId === 'string' ? req.walletId : '');
const ALL: readonly Role[] = ['agent', 'owner', 'admin'];
const OWNERS: readonly Role[] = ['owner', 'admin'];

/** The authorization table, by full method name. A method missing here is refused: deny by default. */
export const RULES: Readonly<Record<string, Rule>> = {
  'waiaas.v1.WalletService/CreateWallet': { roles: ['agent', 'admin'], operation: 'create_wallet' },
  'waiaas.v1.WalletService/GetWallet': { roles: ALL, operation: 'read', wallet: walletId },
  'waiaas.v1.WalletService/ListWallets': { roles: ALL, operation: 'read' },
  'waiaas.v1.SignerService/SignSolanaTransaction': { roles: ['agent'], operation: 'sign_transaction', wallet: walletId, chain: 'solana' },
  'waiaas.v1.SignerService/SignEvmTransaction': { roles: ['agent'], operation: 'sign_transaction', wallet: walletId, chain: 'evm' },
  'waiaas.v1.SignerService/SignEvmMessage': { roles: ['agent'], operation: 'sign_message', wallet: walletId, chain: 'evm' },
  'waiaas.v1.SignerService/SignEvmTypedData': { roles: ['agent'], operation: 'sign_message', wallet: walletId, chain: 'evm' },
  'waiaas.v1.SignerService/SignSolanaMessage': { roles: ['agent'], operation: 'sign_message', wallet: walletId, chain: 'solana' },
  'waiaas.v1.PolicyService/GetPolicy': { roles: ALL, operation: 'read', wallet: walletId },
  'waiaas.v1.PolicyService/SetPolicy': { roles: OWNERS, wallet: walletId },
  'waiaas.v1.PolicyService/EvaluatePolicy': { roles: ALL, operation: 'read', wallet: walletId },
  'waiaas.v1.SignRequestService/GetSignRequest': { roles: ALL, operation: 'read' },
  'waiaas.v1.SignRequestService/ListSignRequests': { roles: ALL, operation: 'read', wallet: walletId },
  'waiaas.v1.SignRequestService/WatchSignRequest': { roles: ALL, operation: 'read' },
  'waiaas.v1.SignRequestService/CancelSignRequest': { roles: ALL, operation: 'cancel_request' },
  'waiaas.v1.OwnerService/GetOwnership': { roles: ALL, operation: 'read', wallet: walletId },
  'waiaas.v1.OwnerService/GetOwnerChangeMessage': { roles: OWNERS, wallet: walletId },
  'waiaas.v1.OwnerService/SetOwners': { roles: OWNERS, wallet: walletId },
  'waiaas.v1.OwnerService/Freeze': { roles: OWNERS, wallet: walletId },
  'waiaas.v1.OwnerService/Unfreeze': { roles: OWNERS, wallet: walletId },
  'waiaas.v1.OwnerService/GetApplianceState': { roles: ALL, operation: 'read' },
  'waiaas.v1.ApprovalService/ListPendingRequests': { roles: OWNERS, wallet: walletId },
  'waiaas.v1.ApprovalService/GetPendingRequest': { roles: OWNERS },
  'waiaas.v1.ApprovalService/GetApprovalMessage': { roles: OWNERS },
  'waiaas.v1.ApprovalService/Approve': { roles: OWNERS },
  'waiaas.v1.ApprovalService/Reject': { roles: OWNERS },
  'waiaas.v1.ApprovalService/WatchPendingRequests': { roles: OWNERS, wallet: walletId },
  'waiaas.v1.AgentService/PutPrincipal': { roles: ['admin'] },
  'waiaas.v1.AgentService/ListPrincipals': { roles: ['admin'] },
  'waiaas.v1.AgentService/IssueCredential': { roles: ['admin'] },
  'waiaas.v1.AgentService/Revoke': { roles: ['admin'] },
  'waiaas.v1.AuditService/TailAudit': { roles: ['admin'] },
  'waiaas.v1.AuditService/ExportAudit': { roles: ['admin'] },
  'waiaas.v1.AuditService/VerifyAudit': { roles: ['admin'] },
};

/** Token buckets per principal. */
class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  take(key: string, perSecond: number, nowMs: number): boolean {
    const burst = perSecond * 2;
    const b = this.buckets.get(key) ?? { tokens: burst, at: nowMs };
    b.tokens = Math.min(burst, b.tokens + ((nowMs - b.at) / 1000) * perSecond);
    b.at = nowMs;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      return false;
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
    return true;
  }
}

/** Default calls per second of a principal without its own limit. */
export const DEFAULT_RATE_LIMIT = 20;

/** Checks every call against the table, the principal's scope and status, and its rate limit. */
export class Authorizer {
  private readonly principals: Principals;
  private readonly limiter = new RateLimiter();
  private readonly now: () => number;

  constructor(principals: Principals, now: () => number = Date.now) {
    this.principals = principals;
    this.now = now;
  }

  /**
   * Refuses the call unless `identity` may make it; fills `identity.scope` for the services' own per-object checks.
   * `serial` is the client certificate's serial number (hex).
   */
  authorize(identity: Identity, method: string, request: Record<string, unknown>, serial: string): void {
    const deny = (msg: string, metadata: Record<string, string> = {}): WaiaasError =>
      new WaiaasError('WAIAAS_PERMISSION_DENIED', msg, { metadata: { method, role: identity.role, ...metadata } });
    if (this.principals.isRevoked(serial.toLowerCase())) throw new WaiaasError('WAIAAS_UNAUTHENTICATED', 'this client certificate was revoked', { metadata: { serial } });
    const rule = RULES[method];
    if (!rule) throw deny('this method is not open to any role');
    if (!rule.roles.includes(identity.role)) throw deny(`${method.split('/')[1]} needs role ${rule.roles.join(' or ')}`);
    if (identity.role === 'admin') {
      identity.scope = { wallets: '*' };
      return;
    }
    const p = this.principals.get(identity.uri);
    if (!p || p.role !== identity.role) throw deny('this identity is not registered with the appliance', { uri: identity.uri });
    if (p.status !== 'ACTIVE') throw new WaiaasError('WAIAAS_UNAUTHENTICATED', 'this identity was revoked', { metadata: { uri: identity.uri } });
    if (!this.limiter.take(identity.uri, p.rateLimit || DEFAULT_RATE_LIMIT, this.now())) {
      throw new WaiaasError('WAIAAS_RATE_LIMITED', 'too many calls; slow down', { metadata: { limit_per_second: String(p.rateLimit || DEFAULT_RATE_LIMIT) } });
    }
    if (p.role === 'agent' && rule.operation && !p.operations.includes(rule.operation)) throw deny(`this agent may not ${rule.operation}`, { operation: rule.operation });
    if (p.role === 'agent' && rule.chain && !p.chains.includes('*') && !p.chains.includes(rule.chain)) throw deny(`this agent may not act on ${rule.chain}`, { chain: rule.chain });
    const all = p.wallets.includes('*');
    identity.scope = { wallets: all ? '*' : new Set(p.wallets) };
    const w = rule.wallet?.(request) ?? '';
    if (w !== '' && !all && !p.wallets.includes(w)) throw deny('this identity may not act on that wallet', { wallet_id: w });
    if (rule.wallet && w === '' && !all && method.endsWith('/Freeze')) throw deny('only the admin freezes the whole appliance');
    if (rule.wallet && w === '' && !all && method.endsWith('/Unfreeze')) throw deny('only the admin unfreezes the whole appliance');
  }
}
