/**
 * The MCP server object: tools and resources over one appliance client. Transport-free, so it can be connected to
 * stdio (server.ts) or to anything else the SDK offers.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ClientSource } from './connection.ts';
import { registerResources } from './resources.ts';
import { registerTools } from './tools.ts';

/** The server's name and version, as MCP clients show them. */
export const SERVER_INFO = { name: 'waiaas-signer', title: 'WAIaaS Signer', version: '0.1.0' } as const;

const INSTRUCTIONS = `Signs blockchain transactions and messages for AI agents with keys held in an HSM appliance (WAIaaS Signer).
You act as an agent: you can list your wallets, dry-run requests (evaluate_request), sign (sign_evm_transaction,
sign_solana_transaction, sign_message, sign_typed_data) and follow requests (get_request, wait_for_request, cancel_request).
Every request is judged by the wallet owner's policy on what the bytes really do: INSTANT/NOTIFY sign at once,
DELAY/APPROVAL answer PENDING with a sign_request_id (wait with wait_for_request; never resubmit), DENY is refused with the rule.
You cannot change policies or approve requests: only the wallet's owners can. The signer never broadcasts.
Read a wallet's policy at waiaas://wallets/{id}/policy before building requests for it.`;

/** Builds the MCP server for the agent behind `source`. */
export function createMcpServer(source: ClientSource): McpServer {
  const server = new McpServer(SERVER_INFO, { instructions: INSTRUCTIONS, capabilities: { tools: {}, resources: {} } });
  registerTools(server, source);
  registerResources(server, source);
  return server;
}
