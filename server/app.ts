/**
 * The appliance: opens the store and the HSM, checks that every wallet's key is on the token, builds the services,
 * and serves them over gRPC with mutual TLS, the standard health service and server reflection. Health reports
 * SERVING only once the HSM is logged in and every key has been found; stopping drains in-flight calls first.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { readFileSync } from 'node:fs';
import { Hsm } from '../hsm/index.ts';
import { API_SERVICES, bindApi } from './api/index.ts';
import type { Config } from './config/index.ts';
import { WaiaasError } from './errors/error.ts';
import type { CallHooks } from './grpc/bind.ts';
import { addReflection } from './grpc/reflection.ts';
import type { Logger } from './log.ts';
import { PolicyService } from './policies/policies.ts';
import { AgentService } from './authz/agents.ts';
import { Authorizer } from './authz/authorize.ts';
import { Principals } from './authz/principals.ts';
import { ApprovalService } from './owners/approvals.ts';
import { OwnerService } from './owners/owners.ts';
import { SignRequestEvents } from './signer/events.ts';
import { SignRequestService } from './signer/requests.ts';
import { createSigner } from './signer/signer.ts';
import { loadSinks, Notifier } from './notify/index.ts';
import { Store } from './store/store.ts';
import { CURVE_OF, WalletService } from './wallets/wallets.ts';
import { instrumentHsm, metrics, observeSignRequests, startMetricsServer, type MetricsServer } from './metrics/index.ts';
import { auditCheck, hsmCheck, ReadinessMonitor, storeCheck } from './health/health.ts';

/** The appliance's version, recorded in the audit log at every start. */
export const APPLIANCE_VERSION = '0.1.0';

/** A running appliance. */
export interface Appliance {
  /** The port the gRPC server listens on (useful with `listen = "127.0.0.1:0"`). */
  port: number;
  host: string;
  /** The metrics/readiness HTTP port on loopback, or null when it is off. */
  metricsPort: number | null;
  /** Stops taking calls, lets in-flight calls finish (up to the configured grace), then closes the HSM and store. */
  stop(): Promise<void>;
}

/** Options of startAppliance. */
export interface ApplianceOptions {
  /**
   * Development mode: register the dev state's agent and owner identities with access to every wallet, so that
   * `make run` works out of the box. Never in production: there principals are registered with AgentService.
   */
  devPrincipals?: boolean;
}

/** Starts the appliance described by `config`. */
export async function startAppliance(config: Config, log: Logger, options: ApplianceOptions = {}): Promise<Appliance> {
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  const store = Store.open(config.store.path);
  let hsm: Hsm | undefined;
  let notifier: Notifier | undefined;
  let readiness: ReadinessMonitor | undefined;
  let metricsServer: MetricsServer | undefined;
  metrics.setLogger(log);
  metrics.setPendingSource(() => store.countSignRequests().PENDING);
  metrics.setAuditWritesSource(() => store.audit.head().seq);
  store.onCommit = (seconds) => metrics.storeWrite(seconds);
  try {
    const interrupted = await store.write(() => {
      const time = new Date().toISOString();
      const ids = store.listSignRequests({ state: 'SIGNING', beforeSeq: Number.MAX_SAFE_INTEGER, limit: 1_000_000 });
      const n = store.failInterruptedSignRequests(time);
      const error = { reason: 'WAIAAS_REQUEST_INTERRUPTED', message: 'the server stopped while this request was being signed', metadata: {} };
      for (const r of ids) store.audit.append({ actor: 'system', action: 'sign_request.failed', walletId: r.walletId, signRequestId: r.id, data: { error } }, time);
      store.audit.append({ actor: 'system', action: 'appliance.started', data: { version: APPLIANCE_VERSION, appliance_id: store.control.applianceId(), interrupted: n } }, time);
      return n;
    });
    if (interrupted > 0) log.warn({ interrupted }, 'sign requests interrupted by the last stop were marked FAILED');

    hsm = await Hsm.open(
      { module: config.hsm.module, tokenLabel: config.hsm.tokenLabel, pinFile: config.hsm.pinFile, sessions: config.hsm.sessions },
      { log: (level, msg, fields) => log[level]({ ...fields, component: 'hsm' }, msg) },
    );
    await checkKeysReachable(hsm, store, log);

    metrics.setHsmReinitializationsSource(() => hsm?.reinitializations ?? 0);
    const signingHsm = instrumentHsm(hsm);
    const wallets = new WalletService({ hsm: signingHsm, store, log });
    const policies = new PolicyService({ store, wallets, log });
    const events = new SignRequestEvents();
    observeSignRequests(events);
    // Owner notifications: written to the outbox in the same transaction as the change, delivered in the background.
    const sinks = loadSinks(config.notify);
    metrics.initSinks(sinks.map((s) => s.name));
    const notifications = new Notifier({ store, sinks, log, maxAttempts: config.notify.maxAttempts, maxAgeSeconds: config.notify.maxAgeSeconds });
    notifications.start();
    notifier = notifications;
    const signer = createSigner({ hsm: signingHsm, store, wallets, policies, events, notifications, log, noOwnerDelaySeconds: config.control.noOwnerDelaySeconds });
    const requests = new SignRequestService({ store, events, notifications, log });
    const owners = new OwnerService({ store, wallets, events, notifications, log, applianceUnfreezeDelaySeconds: config.control.applianceUnfreezeDelaySeconds });
    const approvals = new ApprovalService({ store, wallets, owners, signer, events, notifications, log });
    const principals = new Principals(store);
    if (options.devPrincipals) {
      const all = { wallets: ['*'], chains: ['*'], rateLimit: 1000 };
      await principals.put({ uri: 'spiffe://waiaas/agent/dev-agent', role: 'agent', ...all, operations: ['create_wallet', 'read', 'sign_transaction', 'sign_message', 'cancel_request'] }, 'dev-state', new Date().toISOString());
      await principals.put({ uri: 'spiffe://waiaas/owner/dev-owner', role: 'owner', ...all, operations: ['read'] }, 'dev-state', new Date().toISOString());
    }
    const authorizer = new Authorizer(principals);
    const agents = new AgentService({ principals, log, ca: config.tls.caKeyFile && config.tls.caCertFile ? { certFile: config.tls.caCertFile, keyFile: config.tls.caKeyFile } : undefined });
    // Every second: sign DELAY requests whose delay passed (unless vetoed or frozen), expire pending requests, apply
    // a scheduled appliance unfreeze. Old ledger buckets are pruned daily.
    let sweeping = false;
    const sweep = async (): Promise<void> => {
      if (sweeping) return;
      sweeping = true;
      try {
        await requests.expire();
        await owners.applyScheduledUnfreeze();
        for (const id of store.dueDelayed(new Date().toISOString())) {
          try {
            await signer.executePending(id);
          } catch (err) {
            log.error({ signRequestId: id, err }, 'could not sign a delayed request');
          }
        }
      } catch (err) {
        log.error({ err }, 'sweep failed');
      } finally {
        sweeping = false;
      }
    };
    await sweep();
    const sweeper = setInterval(() => void sweep(), 1_000);
    const pruner = setInterval(() => void store.write(() => store.ledger.prune(Date.now())).catch((err: unknown) => log.error({ err }, 'ledger prune failed')), 86_400_000);
    sweeper.unref();
    pruner.unref();

    let inflight = 0;
    let draining = false;
    const hooks: CallHooks = {
      log,
      enter: () => {
        if (draining) throw new WaiaasError('WAIAAS_SHUTTING_DOWN');
        inflight++;
      },
      leave: () => {
        inflight--;
      },
      authorize: (identity, method, request, serial) => authorizer.authorize(identity, method, request, serial),
      done: (method, code) => metrics.rpc(method, code),
    };

    const server = new Server({
      'grpc.max_receive_message_length': config.server.maxMessageBytes,
      'grpc.max_send_message_length': config.server.maxMessageBytes,
    });
    bindApi(server, { wallets, policies, signer, requests, owners, approvals, agents, principals, store }, hooks);
    health.addToServer(server);
    addReflection(server, API_SERVICES);

    // Mutual TLS: a client certificate chaining to the client CA is required for every call, health included.
    const credentials = ServerCredentials.createSsl(
      readFileSync(config.tls.clientCaFile),
      [{ cert_chain: readFileSync(config.tls.certFile), private_key: readFileSync(config.tls.keyFile) }],
      true,
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(config.server.listen, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    // Health follows the HSM: NOT_SERVING while it is unhealthy and re-initialising, SERVING again once it is back.
    const openHsm = hsm;
    const setServing = (serving: boolean): void => {
      const st = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', st);
      for (const s of API_SERVICES) health.setStatus(s.typeName, st);
    };
    // Readiness: SERVING only while the HSM, the database and the audit log are usable (server/health).
    const monitor: ReadinessMonitor = new ReadinessMonitor({
      checks: [
        hsmCheck(openHsm),
        storeCheck(store, { minFreeBytes: config.health.storeMinFreeMb * 1024 * 1024 }),
        auditCheck(() => void store.audit.head()),
      ],
      intervalMs: config.health.intervalSeconds * 1000,
      timeoutMs: config.health.timeoutSeconds * 1000,
      failureThreshold: config.health.failureThreshold,
      log: log.child({ component: 'readiness' }),
      onChange: (ready, failing) => {
        metrics.setReady(ready, failing, monitor.names);
        if (!draining) setServing(ready);
      },
    });
    readiness = monitor;
    // The HSM says at once when it turns unhealthy or recovers: re-check now instead of at the next round.
    const unfollowHsm = openHsm.onHealthChange((healthy, err) => {
      if (draining) return;
      if (healthy) log.info({ reinitializations: openHsm.reinitializations }, 'HSM healthy again');
      else log.error({ err, ckr: err?.ckr, reason: err?.reason }, 'HSM unhealthy: re-initialising');
      void monitor.check();
    });
    if (config.metrics.listen !== '') {
      metricsServer = await startMetricsServer({
        listen: config.metrics.listen,
        allowNonLoopback: false,
        registry: metrics.registry,
        readiness: monitor,
        log: log.child({ component: 'metrics' }),
      });
    }
    await monitor.start();
    log.info({ host: config.server.host, port, tokenLabel: hsm.tokenLabel, store: config.store.path, metricsPort: metricsServer?.port ?? null }, 'listening');

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        draining = true;
        unfollowHsm();
        monitor.stop();
        metrics.setReady(false);
        clearInterval(sweeper);
        clearInterval(pruner);
        health.setStatus('', 'NOT_SERVING');
        for (const s of API_SERVICES) health.setStatus(s.typeName, 'NOT_SERVING');
        log.info({ inflight }, 'shutting down: draining in-flight calls');
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            log.warn({ inflight }, 'shutdown grace elapsed: cancelling remaining calls');
            server.forceShutdown();
            resolve();
          }, config.server.shutdownGraceSeconds * 1000);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await notifications.stop();
        await openHsm.close();
        await metricsServer?.close();
        store.close();
        log.info('stopped');
      })());
    return { port, host: config.server.host, metricsPort: metricsServer?.port ?? null, stop };
  } catch (err) {
    readiness?.stop();
    await metricsServer?.close().catch(() => undefined);
    await notifier?.stop().catch(() => undefined);
    await hsm?.close().catch(() => undefined);
    store.close();
    throw err;
  }
}

/** Every stored wallet's key must be on the token; a missing key is logged by wallet and fails the start. */
async function checkKeysReachable(hsm: Hsm, store: Store, log: Logger): Promise<void> {
  const missing: string[] = [];
  for (const w of store.allWallets()) {
    try {
      const key = await hsm.getKey(w.keyId, CURVE_OF[w.chain]);
      if (Buffer.compare(Buffer.from(key.publicKey), Buffer.from(w.publicKey)) !== 0) {
        log.error({ walletId: w.walletId }, 'the key on the HSM does not match the wallet public key');
        missing.push(w.walletId);
      }
    } catch (err) {
      log.error({ walletId: w.walletId, keyId: Buffer.from(w.keyId).toString('hex'), err }, 'wallet key not reachable on the HSM');
      missing.push(w.walletId);
    }
  }
  if (missing.length > 0) throw new Error(`${missing.length} wallet key(s) are not reachable on the HSM: ${missing.slice(0, 5).join(', ')}`);
}
