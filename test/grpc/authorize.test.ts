/** The authorization table: every RPC of every API service has a rule, and the sensitive ones are closed to agents. */
import { describe, expect, test } from 'vitest';
import { API_SERVICES } from '../../server/api/index.ts';
import { RULES } from '../../server/authz/authorize.ts';

const methods = API_SERVICES.flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`));

describe('authorization table', () => {
  test('covers every RPC of every API service, and nothing else', () => {
    expect(Object.keys(RULES).sort()).toEqual([...methods].sort());
  });

  test('agents can never manage principals, read the audit log, decide approvals, set policies or owners, or freeze', () => {
    const closed = methods.filter((m) => /AgentService|AuditService|ApprovalService|SetPolicy|SetOwners|GetOwnerChangeMessage|Freeze|Unfreeze/.test(m));
    expect(closed.length).toBeGreaterThan(10);
    for (const m of closed) expect(RULES[m]!.roles, m).not.toContain('agent');
  });

  test('only agents sign, and every signing RPC names the wallet and the chain it acts on', () => {
    for (const m of methods.filter((x) => x.startsWith('waiaas.v1.SignerService/'))) {
      expect(RULES[m]!.roles, m).toEqual(['agent']);
      expect(RULES[m]!.wallet, m).toBeDefined();
      expect(RULES[m]!.chain, m).toMatch(/^(solana|evm)$/);
    }
  });
});
