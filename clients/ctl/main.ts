/**
 * waiaas-ctl: the command-line tool owners and admins use to manage a WAIaaS Signer appliance (wallets, owners,
 * policies, approvals, freezes, agents and their credentials, the audit log). Entry point: `node clients/ctl/main.ts
 * <command> …`, or the `waiaas-ctl` wrapper next to this file. See README.md in this folder for every command, the
 * exit codes and examples.
 *
 * Ctrl-C aborts the running call (exit 130); `watch` treats it as the normal way to stop (exit 0).
 */
import { enableCompileCache } from 'node:module';

// Node's compile cache (in the OS temp folder, or NODE_COMPILE_CACHE) keeps the type-stripped, compiled modules
// between runs: a command then starts in about a tenth of a second instead of half a second.
enableCompileCache();
// grpc-js passes an IP address target as the TLS server name, which Node deprecates (DEP0123) with a warning on
// stderr; the certificate check itself is unaffected. Keep stderr for this tool's own messages.
process.noDeprecation = true;
const { dispatch } = await import('./lib/dispatch.ts');

const controller = new AbortController();
let signals = 0;
const onSignal = (): void => {
  // A second Ctrl-C leaves at once, whatever is still running.
  if (signals++ > 0) process.exit(130);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await dispatch(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  stdin: process.stdin,
  stdoutIsTTY: process.stdout.isTTY === true,
  env: process.env,
  signal: controller.signal,
});

// Let buffered output drain, then leave even if a library still holds a handle open.
const flush = (s: NodeJS.WriteStream): Promise<void> => new Promise((r) => s.write('', () => r()));
await Promise.all([flush(process.stdout), flush(process.stderr)]);
process.exit(code);
