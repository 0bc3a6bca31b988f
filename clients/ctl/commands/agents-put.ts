/**
 * `waiaas-ctl agents put`: registers an agent or owner principal, or changes the scope of one (AgentService.
 * PutPrincipal, admin only): the wallets it may act on, its rate limit, and for agents the chain families and
 * operations. On a registered principal only what is given changes: the rest of the stored scope is sent back as it
 * was (PutPrincipal itself replaces the whole scope, and would otherwise drop wallets or reset operations).
 */
import type { Principal } from '../../../gen/waiaas/v1/agent_pb.js';
import { CHAINS, OPERATIONS, principalUri } from '../lib/agents.ts';
import { defineCommand, flag, idArg, integer, list, positionals, str } from '../lib/command.ts';
import type { Context } from '../lib/context.ts';
import { principalJson } from '../lib/convert.ts';
import { UsageError } from '../lib/errors.ts';

/** The set given, refusing a value given twice. */
function distinct<T extends string>(values: readonly T[], what: string): T[] {
  const seen = new Set<T>();
  for (const v of values) {
    if (seen.has(v)) throw new UsageError(`${what} ${v} is given twice`);
    seen.add(v);
  }
  return [...seen];
}

/** Prints a principal (JSON or a key/value block). */
export function printPrincipal(ctx: Context, principal: Principal): void {
  const p = principalJson(principal);
  if (ctx.json) {
    ctx.out.data(p);
    return;
  }
  const all = (xs: string[], none: string): string => (xs.includes('*') ? '* (all)' : xs.length === 0 ? none : xs.join(', '));
  ctx.out.kv([
    ['principal', p.uri],
    ['role', p.role],
    ['status', p.status],
    ['wallets', all(p.wallets, p.role === 'agent' ? '(none: only the wallets it creates)' : '(none)')],
    ...(p.role === 'agent'
      ? ([
          ['chains', all(p.chains, '* (all)')],
          ['operations', p.operations.join(', ')],
        ] as const)
      : []),
    ['rate limit', p.rateLimitPerSecond === 0 ? 'default (20 calls/s)' : `${p.rateLimitPerSecond} calls/s`],
    ['certificates', p.certificateSerials.join('\n') || '(none valid)'],
    ['created', p.createTime ?? '-'],
  ]);
}

export default defineCommand({
  name: 'agents put',
  summary: 'register an agent or owner principal, or change its scope',
  usage: 'URI [--wallet WALLET_ID ...|--all-wallets|--no-wallets] [--chain solana|evm ...] [--operation OP ...] [--rate-limit N]',
  args: ['URI'],
  description:
    'URI is spiffe://waiaas/agent/NAME or spiffe://waiaas/owner/NAME, or the short form agent/NAME, owner/NAME.\n' +
    'A new principal gets what is given, and for the rest: no wallet (an agent may still act on the wallets it\n' +
    'creates), both chain families, the operations read, sign_transaction, sign_message and cancel_request, and\n' +
    'the default rate limit. For a registered principal, each of wallets, chains, operations and rate limit that\n' +
    'is given replaces the stored value (the whole list: repeat --wallet for each wallet to keep); what is not\n' +
    'given stays as it was. --chain and --operation apply to agents only. Putting a revoked principal makes it\n' +
    'active again; its earlier certificates stay revoked.\n' +
    `Operations: ${OPERATIONS.join(', ')}.`,
  options: {
    wallet: { type: 'string', multiple: true, value: 'WALLET_ID', help: 'a wallet it may act on' },
    'all-wallets': { type: 'boolean', help: 'every wallet, present and future' },
    'no-wallets': { type: 'boolean', help: 'no wallet (an agent keeps only the wallets it creates from now on)' },
    chain: { type: 'string', multiple: true, help: 'agents: a chain family it may sign for (default both)', choices: CHAINS },
    operation: { type: 'string', multiple: true, value: 'OP', help: 'agents: an operation it may perform', choices: OPERATIONS },
    'rate-limit': { type: 'string', value: 'N', help: 'calls per second (burst twice this); 0 = the default, 20' },
  },
  examples: [
    'agents put agent/trader-1 --wallet wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --chain solana --operation read --operation sign_transaction',
    'agents put agent/provisioner --all-wallets --operation create_wallet --operation read --rate-limit 5',
    'agents put owner/alice --wallet wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --state .waiaas --identity admin',
    'agents put spiffe://waiaas/agent/trader-1 --rate-limit 5 --json    # only the rate limit changes',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { URI } = positionals(input, ['URI']);
    const p = principalUri(URI!, 'URI');
    const wallets = distinct(list(input, 'wallet').map((w) => idArg(w, 'wlt_', '--wallet')), '--wallet');
    const allWallets = flag(input, 'all-wallets');
    const noWallets = flag(input, 'no-wallets');
    const walletFlags = [wallets.length > 0 && '--wallet', allWallets && '--all-wallets', noWallets && '--no-wallets'].filter(Boolean);
    if (walletFlags.length > 1) throw new UsageError(`give one of --wallet, --all-wallets and --no-wallets (got ${walletFlags.join(' and ')})`);
    const chains = distinct(list(input, 'chain'), '--chain');
    for (const c of chains) if (!(CHAINS as readonly string[]).includes(c)) throw new UsageError(`--chain must be one of ${CHAINS.join(', ')} (got "${c}")`);
    const operations = distinct(list(input, 'operation'), '--operation');
    for (const o of operations) if (!(OPERATIONS as readonly string[]).includes(o)) throw new UsageError(`--operation must be one of ${OPERATIONS.join(', ')} (got "${o}")`);
    const rate = str(input, 'rate-limit');
    const rateLimit = rate === undefined ? undefined : integer(rate, '--rate-limit', 0, 10_000);
    if (p.role === 'owner') {
      const agentOnly = [chains.length > 0 && '--chain', operations.length > 0 && '--operation'].filter(Boolean);
      if (agentOnly.length > 0) throw new UsageError(`${agentOnly.join(' and ')} apply to agents only; an owner is scoped by --wallet or --all-wallets`);
    }
    return {
      uri: p.uri,
      // undefined: not given (keep the stored value, or the appliance's default for a new principal).
      wallets: allWallets ? ['*'] : noWallets ? [] : wallets.length > 0 ? wallets : undefined,
      chains: chains.length > 0 ? chains : undefined,
      operations: operations.length > 0 ? operations : undefined,
      rateLimit,
    };
  },
  async run(o, ctx) {
    const { agents } = await ctx.clients();
    // The stored scope, for what is not given (an empty list asks the appliance for its default).
    const before = (await agents.listPrincipals({}, ctx.call())).principals.find((p) => p.uri === o.uri);
    const { principal } = await agents.putPrincipal(
      {
        principal: {
          uri: o.uri,
          wallets: o.wallets ?? before?.wallets ?? [],
          chains: o.chains ?? before?.chains ?? [],
          operations: o.operations ?? before?.operations ?? [],
          rateLimitPerSecond: o.rateLimit ?? before?.rateLimitPerSecond ?? 0,
        },
      },
      ctx.call(),
    );
    printPrincipal(ctx, principal!);
    if (before?.status === 'REVOKED' && !ctx.json) ctx.note(`waiaas-ctl: note: ${o.uri} was revoked and is active again; its earlier certificates stay revoked (issue a new one)`);
  },
});
