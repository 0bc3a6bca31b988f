/** Caller identity from the client certificate's subjectAltName. */
import { describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import { identityFromCertificate, requireRole } from '../../server/grpc/identity.ts';

describe('identityFromCertificate', () => {
  test('reads role and name from the spiffe URI', () => {
    expect(identityFromCertificate({ subjectaltname: 'DNS:agent, URI:spiffe://waiaas/agent/bot-1' })).toEqual({
      role: 'agent', name: 'bot-1', uri: 'spiffe://waiaas/agent/bot-1',
    });
  });

  test.each([
    ['no certificate', undefined],
    ['no SAN', { subjectaltname: undefined }],
    ['no identity URI', { subjectaltname: 'DNS:localhost' }],
    ['an unknown role', { subjectaltname: 'URI:spiffe://waiaas/root/x' }],
    ['two identities', { subjectaltname: 'URI:spiffe://waiaas/agent/a, URI:spiffe://waiaas/admin/b' }],
    ['another trust domain only', { subjectaltname: 'URI:spiffe://other/agent/a' }],
  ])('refuses %s as unauthenticated', (_name, cert) => {
    let err: unknown;
    try {
      identityFromCertificate(cert as { subjectaltname?: string } | undefined);
    } catch (e) {
      err = e;
    }
    expect(isWaiaasError(err, 'WAIAAS_UNAUTHENTICATED')).toBe(true);
  });

  test('requireRole lets listed roles through and refuses the rest with PERMISSION_DENIED', () => {
    const agent = identityFromCertificate({ subjectaltname: 'URI:spiffe://waiaas/agent/a' });
    const owner = identityFromCertificate({ subjectaltname: 'URI:spiffe://waiaas/owner/o' });
    expect(() => requireRole(owner, ['owner', 'admin'], 'SetPolicy')).not.toThrow();
    expect(() => requireRole(agent, ['owner', 'admin'], 'SetPolicy')).toThrow(expect.objectContaining({ reason: 'WAIAAS_PERMISSION_DENIED' }));
  });
});
