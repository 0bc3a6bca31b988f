/**
 * MCP resources: `waiaas://wallets` (the wallets this agent may use) and the template `waiaas://wallets/{id}/policy`
 * (a wallet's current policy document, listed once per wallet, with completion of `id`). Both are JSON.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, type ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { WaiaasClientError } from '../../ts/src/index.ts';
import type { ClientSource } from './connection.ts';
import { chainName, time, walletJson } from './format.ts';
import { listAllWallets } from './tools.ts';

const JSON_TYPE = 'application/json';

function json(uri: URL, data: unknown): ReadResourceResult {
  return { contents: [{ uri: uri.href, mimeType: JSON_TYPE, text: JSON.stringify(data, null, 2) }] };
}

/**
 * A resource read failed: a JSON-RPC error whose message names the reason. (A plain Error with `code`, not an
 * McpError, whose message would carry the "MCP error -32602:" prefix twice once the client wraps it.)
 */
function readError(e: unknown, what: string): Error {
  if (e instanceof WaiaasClientError) {
    return Object.assign(new Error(`${what}: ${e.reason || 'error'}: ${e.message}`), { code: ErrorCode.InvalidParams, data: { reason: e.reason, metadata: e.metadata } });
  }
  return Object.assign(new Error(`${what}: ${(e as Error)?.message ?? String(e)}`), { code: ErrorCode.InternalError });
}

/** Registers the resources on `server`. */
export function registerResources(server: McpServer, source: ClientSource): void {
  server.registerResource(
    'wallets',
    'waiaas://wallets',
    {
      title: 'Wallets',
      description: 'The wallets this agent may sign with: wallet_id, chain, address, labels, and the URI of each wallet\'s policy.',
      mimeType: JSON_TYPE,
    },
    async (uri) => {
      try {
        const wallets = await listAllWallets(source.get());
        return json(uri, { wallets: wallets.map(walletJson) });
      } catch (e) {
        throw readError(e, 'cannot list wallets');
      }
    },
  );

  const template = new ResourceTemplate('waiaas://wallets/{id}/policy', {
    list: async () => {
      try {
        const wallets = await listAllWallets(source.get());
        return {
          resources: wallets.map((w) => ({
            uri: `waiaas://wallets/${w.walletId}/policy`,
            name: `policy of ${w.walletId}`,
            description: `The signing policy of ${chainName(w.chain)} wallet ${w.address}.`,
            mimeType: JSON_TYPE,
          })),
        };
      } catch (e) {
        process.stderr.write(`waiaas-mcp: cannot list wallet policies: ${(e as Error).message}\n`);
        return { resources: [] };
      }
    },
    complete: {
      id: async (value) => {
        try {
          return (await listAllWallets(source.get())).map((w) => w.walletId).filter((id) => id.startsWith(value));
        } catch {
          return [];
        }
      },
    },
  });

  server.registerResource(
    'wallet-policy',
    template,
    {
      title: 'Wallet policy',
      description:
        "A wallet's current signing policy, set by its owner (schema waiaas.policy.v1): its rules say what the wallet may sign and with which verdict " +
        '(INSTANT, NOTIFY, DELAY, APPROVAL, DENY); anything no rule allows is denied. Read it to build requests the policy allows.',
      mimeType: JSON_TYPE,
    },
    async (uri, variables) => {
      const id = String(Array.isArray(variables.id) ? variables.id[0] : variables.id);
      const client = source.get();
      try {
        const { policy } = await client.policies.getPolicy({ walletId: id });
        return json(uri, {
          wallet_id: id,
          version: Number(policy!.version),
          policy_hash: policy!.policyHash,
          set_by: policy!.setBy,
          set_time: time(policy!.createTime),
          document: JSON.parse(policy!.document) as unknown,
        });
      } catch (e) {
        if (e instanceof WaiaasClientError && e.reason === 'WAIAAS_POLICY_NOT_FOUND') {
          return json(uri, { wallet_id: id, document: null, note: "This wallet has no policy yet, so it signs nothing. Ask the wallet's owner to set one." });
        }
        throw readError(e, `cannot read the policy of ${id}`);
      }
    },
  );
}
