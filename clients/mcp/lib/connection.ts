/**
 * The appliance client the tools call through, with the agent's mTLS credentials. Agent certificates are short-lived
 * (24 h by default) while an MCP server may run for days, so the certificate and key files are watched: when either
 * changes on disk (a renewed credential), they are read again, checked again (still an agent, unexpired, matching
 * key) and the channel is replaced. If the new files fail the check, calls fail with that reason instead of falling
 * back to anything else.
 */
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { statSync } from 'node:fs';
import { createWaiaasClient, type WaiaasClient } from '../../ts/src/index.ts';
import { loadAgentCredentials, type AgentCredentials, type McpConfig } from './config.ts';

/** Hands out the current client. */
export interface ClientSource {
  /** The client for the current credentials (re-made when the files changed). Throws ConfigError if they no longer pass. */
  get(): WaiaasClient;
  /** The agent identity in use. */
  identity(): AgentCredentials['identity'];
  /** The appliance's address. */
  readonly address: string;
  close(): void;
}

function stamp(config: McpConfig): string {
  const s = (p: string): string => {
    try {
      const st = statSync(p);
      return `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      return 'missing';
    }
  };
  return `${s(config.cert)}|${s(config.key)}|${s(config.ca)}`;
}

/** A client source over the configured files; `initial` are the credentials already checked at start-up. */
export function clientSource(config: McpConfig, initial: AgentCredentials): ClientSource {
  let creds = initial;
  let seen = stamp(config);
  const make = (c: AgentCredentials): WaiaasClient => createWaiaasClient({ address: config.address, credentials: grpcCredentials.createSsl(c.ca, c.key, c.cert) });
  let client = make(creds);
  return {
    address: config.address,
    get() {
      const now = stamp(config);
      if (now !== seen) {
        const next = loadAgentCredentials(config); // throws ConfigError: the old channel is kept for nothing
        client.close();
        creds = next;
        client = make(next);
        seen = now;
      } else if (creds.identity.validTo.getTime() <= Date.now()) {
        loadAgentCredentials(config); // throws the expiry error, naming the file
      }
      return client;
    },
    identity: () => creds.identity,
    close: () => client.close(),
  };
}
