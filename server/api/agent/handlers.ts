/** AgentService: one small handler per RPC (put principal, list, issue credential, revoke). Admin only (server/authz). */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { AgentService as Desc, PrincipalSchema } from '../../../gen/waiaas/v1/agent_pb.js';
import type { AgentService } from '../../authz/agents.ts';
import type { PrincipalRecord } from '../../authz/principals.ts';
import { WaiaasError } from '../../errors/error.ts';
import type { UnaryHandler } from '../../grpc/bind.ts';

type M = (typeof Desc)['method'];

function toProto(p: PrincipalRecord, serials: string[] = []): MessageInitShape<typeof PrincipalSchema> {
  return {
    uri: p.uri, role: p.role, wallets: p.wallets, chains: p.chains, operations: p.operations, rateLimitPerSecond: p.rateLimit, status: p.status,
    createTime: timestampFromDate(new Date(p.createTime)), certificateSerials: serials,
  };
}

/** AgentService.PutPrincipal. */
export const putPrincipal = (a: AgentService): UnaryHandler<M['putPrincipal']> => async (req, ctx) => {
  const p = req.principal;
  if (!p) throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'principal is required', { metadata: { field: 'principal' } });
  return { principal: toProto(await a.put({ uri: p.uri, wallets: p.wallets, chains: p.chains, operations: p.operations, rateLimit: p.rateLimitPerSecond }, ctx.identity.uri)) };
};

/** AgentService.ListPrincipals. */
export const listPrincipals = (a: AgentService): UnaryHandler<M['listPrincipals']> => async () => ({ principals: a.list().map((x) => toProto(x.principal, x.serials)) });

/** AgentService.IssueCredential. */
export const issueCredential = (a: AgentService): UnaryHandler<M['issueCredential']> => async (req, ctx) => {
  const c = await a.issue(req.uri, req.validSeconds, ctx.identity.uri);
  return { certificatePem: c.certPem, privateKeyPem: c.keyPem, caPem: c.caPem, serial: c.serial, expireTime: timestampFromDate(c.expireTime) };
};

/** AgentService.Revoke. */
export const revoke = (a: AgentService): UnaryHandler<M['revoke']> => async (req, ctx) => ({ revokedCertificates: await a.revoke({ uri: req.uri, serial: req.serial }, ctx.identity.uri) });
