/**
 * The appliance's services as the CLI calls them: the TypeScript client (clients/ts) over mutual TLS with the
 * caller's certificate. Loaded lazily by the context, so that commands that never call the appliance (help, keys,
 * completion) do not load grpc-js.
 */
import { createWaiaasClient, credentialsFromFiles, type WaiaasClient } from '../../ts/src/index.ts';
import type { Connection } from './connection.ts';
import { UsageError } from './errors.ts';

/** Every service the CLI uses. */
export type Clients = WaiaasClient;

/** Connects (lazily: the channel opens on the first call). */
export function connectClients(conn: Connection): Clients {
  let credentials;
  try {
    credentials = credentialsFromFiles({ ca: conn.ca, cert: conn.cert, key: conn.key });
  } catch (e) {
    throw new UsageError(`cannot read the TLS files: ${(e as Error).message}`);
  }
  return createWaiaasClient({ address: conn.address, credentials });
}
