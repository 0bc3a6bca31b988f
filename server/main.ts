/**
 * waiaas-signerd: the appliance's entry point.
 *
 *   node server/main.ts --config /etc/waiaas/config.toml
 *   node server/main.ts --dev-state ./.waiaas        (creates a development state folder on first start)
 *
 * Exit codes: 0 after a clean stop, 2 for a configuration error, 1 for any other start-up failure.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/index.ts';
import { ensureDevState } from './devstate/index.ts';
import { createLogger } from './log.ts';
import { startAppliance } from './app.ts';

const USAGE = `usage: waiaas-signerd (--config FILE | --dev-state DIR) [--listen HOST:PORT]
  --config FILE     configuration file (TOML); WAIAAS_<SECTION>__<KEY> environment variables override it
  --dev-state DIR   development mode: create (first time) and use a state folder with a SoftHSM2 token,
                    a SQLite file and a development CA with server, agent, owner and admin certificates
  --listen ADDR     with --dev-state: the address to listen on (default 127.0.0.1:7443; port 0 picks one)`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string' }, 'dev-state': { type: 'string' }, listen: { type: 'string' }, help: { type: 'boolean' } } });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { config: configFile, 'dev-state': devState, listen } = args.values;
  if ((configFile === undefined) === (devState === undefined)) {
    process.stderr.write(`give exactly one of --config or --dev-state\n${USAGE}\n`);
    return 2;
  }

  let file = configFile;
  let bootLog = createLogger({ level: process.env.WAIAAS_LOG__LEVEL ?? 'info' });
  if (devState !== undefined) {
    const state = await ensureDevState(devState, { log: bootLog, ...(listen ? { listen } : {}) });
    file = state.configFile;
  }
  let config;
  try {
    // A development server takes a free metrics port unless told otherwise (tests run many at once; 9464 may be taken).
    const env = devState !== undefined ? { WAIAAS_METRICS__LISTEN: '127.0.0.1:0', ...process.env } : process.env;
    config = loadConfig({ file, env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ level: config.log.level });
  bootLog = log;
  const appliance = await startAppliance(config, log, { devPrincipals: devState !== undefined });
  if (devState !== undefined) {
    process.stderr.write(
      `\nWAIaaS Signer (development state in ${devState}) is listening on ${config.server.host}:${appliance.port}\n` +
        `  agent certificate:  ${devState}/agent.pem  ${devState}/agent.key\n` +
        `  owner certificate:  ${devState}/owner.pem  ${devState}/owner.key\n` +
        `  CA:                 ${devState}/ca.pem\n` +
        `  admin certificate:  ${devState}/admin.pem  ${devState}/admin.key\n` +
        (appliance.metricsPort !== null ? `  metrics:            http://127.0.0.1:${appliance.metricsPort}/metrics  (readiness: /readyz)\n` : '') +
        `  call it from TypeScript: see clients/ts/README.md; the owners' CLI: clients/ctl/waiaas-ctl --state ${devState} --help\n` +
        `  stop with Ctrl-C\n\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string): void => {
      log.info({ signal }, 'stop requested');
      appliance.stop().then(resolve, (err: unknown) => {
        log.error({ err }, 'error while stopping');
        resolve();
      });
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    createLogger({ level: 'info' }).fatal({ err }, 'start-up failed');
    process.exit(1);
  },
);
