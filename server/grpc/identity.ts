/**
 * Caller identity from the mutual-TLS client certificate. The TLS layer has already verified that the certificate
 * chains to the configured client CA; here we read who the caller is from the identity URI in its
 * subjectAltName: `spiffe://waiaas/<role>/<name>`, role one of agent, owner, admin.
 */
import type { PeerCertificate } from 'node:tls';
import { WaiaasError } from '../errors/error.ts';

/** The roles a client certificate can carry. */
export const ROLES = ['agent', 'owner', 'admin'] as const;
/** A caller's role. */
export type Role = (typeof ROLES)[number];

/** Who is calling, as proven by the client certificate. */
export interface Identity {
  role: Role;
  /** The name part of the identity URI, e.g. `dev-agent`. */
  name: string;
  /** The whole identity URI; recorded with every request the caller makes. */
  uri: string;
  /** The wallets the caller may act on, filled by the authorizer: '*' or a set of wallet ids. */
  scope?: { wallets: '*' | Set<string> };
}

/** True when `identity` may act on `walletId` (admins, and principals scoped to all wallets, may act on any). */
export function inScope(identity: Identity, walletId: string): boolean {
  if (identity.role === 'admin') return true;
  const w = identity.scope?.wallets;
  return w === '*' || (w !== undefined && w.has(walletId));
}

const IDENTITY_URI = /^spiffe:\/\/waiaas\/(agent|owner|admin)\/([A-Za-z0-9._-]{1,64})$/;

/**
 * Parses the identity URI out of a peer certificate. Throws WAIAAS_UNAUTHENTICATED when there is no certificate or
 * it carries no (or more than one) identity URI: a certificate that names two identities names none.
 */
export function identityFromCertificate(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): Identity {
  const san = cert?.subjectaltname ?? '';
  const uris = san
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4))
    .filter((u) => u.startsWith('spiffe://waiaas/'));
  if (uris.length !== 1) {
    throw new WaiaasError('WAIAAS_UNAUTHENTICATED', 'the client certificate must carry exactly one spiffe://waiaas/<role>/<name> URI');
  }
  const m = IDENTITY_URI.exec(uris[0]!);
  if (!m) throw new WaiaasError('WAIAAS_UNAUTHENTICATED', 'the client certificate identity URI is malformed');
  return { role: m[1] as Role, name: m[2]!, uri: uris[0]! };
}

/** Throws WAIAAS_PERMISSION_DENIED unless the caller has one of `roles`. */
export function requireRole(identity: Identity, roles: readonly Role[], operation: string): void {
  if (!roles.includes(identity.role)) {
    throw new WaiaasError('WAIAAS_PERMISSION_DENIED', `${operation} needs role ${roles.join(' or ')}`, {
      metadata: { role: identity.role, operation },
    });
  }
}
