/**
 * waiaas-mcp: an MCP server (stdio) that lets a model use a WAIaaS Signer appliance as an AGENT.
 *
 *   WAIAAS_ADDRESS=localhost:7443 WAIAAS_CA=ca.pem WAIAAS_CERT=agent.pem WAIAAS_KEY=agent.key node clients/mcp/server.ts
 *
 * The environment gives the address and file paths only. Before anything else the certificate is checked: it must
 * name an agent (spiffe://waiaas/agent/<name>), be unexpired, and match the key; an owner's or admin's certificate is
 * refused (exit 2), since a model must never hold the powers that set policies or approve requests. stdout carries
 * the MCP protocol; every note goes to stderr.
 */
import { ConfigError, configFromEnv, loadAgentCredentials, type AgentCredentials, type McpConfig } from './lib/config.ts';

const note = (msg: string): void => void process.stderr.write(`waiaas-mcp: ${msg}\n`);

async function main(): Promise<number> {
  let config: McpConfig;
  let creds: AgentCredentials;
  try {
    config = configFromEnv();
    creds = loadAgentCredentials(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      note(`refusing to start: ${e.message}`);
      return 2;
    }
    throw e;
  }
  note(`agent ${creds.identity.uri} (certificate ${creds.identity.serial}, valid until ${creds.identity.validTo.toISOString()}) → ${config.address}`);
  // Loaded only once the credentials passed: a refused start stays quick and never touches the network.
  const [{ StdioServerTransport }, { createMcpServer }, { clientSource }] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/stdio.js'),
    import('./lib/app.ts'),
    import('./lib/connection.ts'),
  ]);
  const source = clientSource(config, creds);
  const server = createMcpServer(source);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close().catch(() => {});
  source.close();
  return 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    note(`unexpected error: ${(e as Error)?.stack ?? String(e)}`);
    process.exit(1);
  },
);
