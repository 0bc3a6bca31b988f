/**
 * The development state folder: one directory holding everything `--dev-state DIR` needs to run the appliance on a
 * laptop — a SoftHSM2 token (with its PINs in files), a development CA with server/agent/owner/admin certificates,
 * and a commented config.toml that points at all of it with paths relative to the folder.
 *
 * The token is created with hsm/'s initToken (PKCS#11 C_InitToken + C_InitPIN, so no PIN is ever on a command
 * line); its random PINs are in hsm.pin (user) and so.pin (security officer, for recovery), both mode 0600.
 *
 * ensureDevState is idempotent: the first call creates the folder; later calls check what is there and reuse it. Keys,
 * certificates, PINs and the token are never regenerated (a half-written pair is an error telling the operator what to
 * delete); only softhsm2.conf, which holds no secret, is rewritten when it no longer points at this folder.
 *
 * Side effect, on purpose: `process.env.SOFTHSM2_CONF` is set to `<dir>/softhsm2.conf`. SoftHSM2 reads that variable
 * at C_Initialize, and the server started afterwards in the same process must see the same token folder. It is a
 * path, not a secret.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, link, lstat, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parseListen, renderConfigToml } from '../config/index.ts';
import type { Logger } from '../log.ts';
import { certFingerprint, checkCertAndKey, createCa, issueCert, type CertAndKey, type IssueCertOptions } from './pki.ts';
import { initToken } from '../../hsm/index.ts';
import { tokenExists } from './token.ts';

/** Options of ensureDevState. */
export interface DevStateOptions {
  /** SoftHSM2 PKCS#11 module; default `$SOFTHSM_MODULE`, else /usr/lib/softhsm/libsofthsm2.so. */
  softhsmModule?: string;
  /** Progress and warnings; never given a PIN or key. */
  log?: Logger;
  /** `server.listen` for config.toml (default 127.0.0.1:7443). On reuse, a different value updates that one line. */
  listen?: string;
}

/** What ensureDevState made or found. */
export interface DevState {
  /** Absolute path of the folder's config.toml, ready for loadConfig. */
  configFile: string;
  /** Absolute path of the folder. */
  dir: string;
  /** True when this call created anything (first run, or a missing part); false when everything was reused. */
  created: boolean;
}

/** Label of the development token. */
export const DEV_TOKEN_LABEL = 'waiaas-dev';
/** Default listen address written to a new config.toml. */
export const DEV_LISTEN = '127.0.0.1:7443';
/** Identity URIs (SAN) of the development client certificates, by file stem. */
export const DEV_IDENTITIES = {
  agent: 'spiffe://waiaas/agent/dev-agent',
  owner: 'spiffe://waiaas/owner/dev-owner',
  admin: 'spiffe://waiaas/admin/dev-admin',
} as const;
/** Names of the files in the folder, relative to it. */
export const DEV_FILES = {
  softhsmConf: 'softhsm2.conf',
  tokens: 'tokens',
  userPin: 'hsm.pin',
  soPin: 'so.pin',
  config: 'config.toml',
  store: 'waiaas.db',
  ca: 'ca',
  server: 'server',
} as const;

const DEFAULT_SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const CA_DAYS = 3650;
const LEAF_DAYS = 365;

/**
 * Creates (first call) or checks and reuses (later calls) the development state in `dir`, and sets
 * `process.env.SOFTHSM2_CONF` to its softhsm2.conf. Must run before anything in the process initialises the SoftHSM2
 * module. Concurrent calls on the same folder are not supported (one of them fails rather than overwriting).
 */
export async function ensureDevState(dir: string, opts: DevStateOptions = {}): Promise<DevState> {
  const root = path.resolve(dir);
  const log = opts.log;
  const module = opts.softhsmModule ?? process.env['SOFTHSM_MODULE'] ?? DEFAULT_SOFTHSM_MODULE;
  const at = (name: string): string => path.join(root, name);
  let created = false;

  if (opts.listen !== undefined && typeof parseListen(opts.listen) === 'string') {
    throw new DevStateError(`listen address "${opts.listen}" ${parseListen(opts.listen) as string}`);
  }
  if (!existsSync(module)) {
    throw new DevStateError(
      `SoftHSM2 module ${module} not found: install softhsm2 (apt-get install softhsm2) or set SOFTHSM_MODULE`,
    );
  }

  created = (await ensurePrivateDir(root, log)) || created;
  created = (await ensurePrivateDir(at(DEV_FILES.tokens), log)) || created;

  // softhsm2.conf holds no secret; rewrite it if the folder moved so it never points at another folder's tokens.
  const conf = softhsmConf(at(DEV_FILES.tokens));
  const confPath = at(DEV_FILES.softhsmConf);
  const current = await readFile(confPath, 'utf8').catch(() => undefined);
  if (current !== conf) {
    if (current !== undefined) {
      log?.warn({ file: confPath }, 'softhsm2.conf did not point at this folder; rewriting it');
      await unlink(confPath);
    }
    await writeNew(confPath, conf);
    created = true;
  }
  const previousConf = process.env['SOFTHSM2_CONF'];
  if (previousConf !== undefined && previousConf !== confPath) {
    log?.debug({ previous: previousConf, now: confPath }, 'replacing SOFTHSM2_CONF with the development state one');
  }
  process.env['SOFTHSM2_CONF'] = confPath;

  // The development CA and the certificates it issues.
  const pki = await ensurePki(root, log);
  created = pki.created || created;

  // The token and its PINs. PINs are written before C_InitToken so a crash in between never strands a token
  // nobody can log in to.
  created = (await ensureToken(root, module, log)) || created;

  // config.toml: written once; afterwards it is the operator's, except for the listen line when opts.listen changes.
  const configFile = at(DEV_FILES.config);
  if (!existsSync(configFile)) {
    await writeNew(configFile, devConfigToml(module, opts.listen ?? DEV_LISTEN));
    created = true;
  } else if (opts.listen !== undefined) {
    await updateListen(configFile, opts.listen, log);
  }

  await tightenModes(root, log);
  if (created) {
    log?.info({ dir: root, caFingerprint: certFingerprint(pki.ca.certPem) }, 'development state ready');
  } else {
    log?.debug({ dir: root }, 'reusing development state');
  }
  return { configFile, dir: root, created };
}

/** A development state folder that cannot be used as it is; the message says what to do. */
export class DevStateError extends Error {
  override name = 'DevStateError';
}

/** The contents of config.toml for a new folder. */
function devConfigToml(module: string, listen: string): string {
  return renderConfigToml(
    {
      server: { listen },
      tls: { certFile: 'server.pem', keyFile: 'server.key', clientCaFile: 'ca.pem', caCertFile: 'ca.pem', caKeyFile: 'ca.key' },
      hsm: { module, tokenLabel: DEV_TOKEN_LABEL, pinFile: DEV_FILES.userPin },
      store: { path: DEV_FILES.store },
    },
    {
      header:
        'WAIaaS Signer: DEVELOPMENT configuration, written by ensureDevState (node server/main.ts --dev-state DIR).\n' +
        'Everything here is for development only: the CA key, the TLS keys and the token PINs sit in this folder.\n' +
        'Relative paths are relative to this file. Environment variables WAIAAS_<SECTION>__<KEY> override any key.\n' +
        'The SoftHSM2 token lives in tokens/; softhsm2.conf points at it (SOFTHSM2_CONF is set at start-up).',
    },
  );
}

function softhsmConf(tokenDir: string): string {
  return (
    '# SoftHSM2 configuration of this development state folder (written by ensureDevState).\n' +
    `directories.tokendir = ${tokenDir}\n` +
    'objectstore.backend = file\n' +
    'log.level = ERROR\n'
  );
}

/** Ensures the CA, the server certificate and the three client certificates; issues whatever is missing. */
async function ensurePki(root: string, log: Logger | undefined): Promise<{ ca: CertAndKey; created: boolean }> {
  let created = false;
  const leaves: { stem: string; opts: IssueCertOptions }[] = [
    {
      stem: DEV_FILES.server,
      opts: { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'], days: LEAF_DAYS },
    },
    ...Object.entries(DEV_IDENTITIES).map(([stem, uri]) => ({
      stem,
      opts: { commonName: `dev-${stem}`, usage: 'client' as const, uris: [uri], days: LEAF_DAYS },
    })),
  ];

  let ca = await readPair(root, DEV_FILES.ca);
  if (ca === undefined) {
    for (const leaf of leaves) {
      if ((await readPair(root, leaf.stem)) !== undefined) {
        throw new DevStateError(
          `${path.join(root, leaf.stem)}.pem exists but the CA that issued it (ca.pem/ca.key) is gone; ` +
            `delete ${root} to start over`,
        );
      }
    }
    ca = await createCa({ commonName: 'WAIaaS development CA', days: CA_DAYS });
    await writePair(root, DEV_FILES.ca, ca);
    log?.info({ file: path.join(root, 'ca.pem') }, 'created development CA');
    created = true;
  } else {
    const bad = await checkCertAndKey(ca);
    if (bad) throw new DevStateError(`${path.join(root, 'ca.pem')}: ${bad}; delete ${root} to start over`);
  }

  for (const leaf of leaves) {
    const existing = await readPair(root, leaf.stem);
    if (existing === undefined) {
      await writePair(root, leaf.stem, await issueCert(ca, leaf.opts));
      created = true;
    } else {
      const bad = await checkCertAndKey(existing, ca.certPem);
      if (bad) {
        throw new DevStateError(
          `${path.join(root, leaf.stem)}.pem: ${bad}; delete ${leaf.stem}.pem and ${leaf.stem}.key to issue a new one`,
        );
      }
    }
  }
  return { ca, created };
}

/** Creates the token (and PINs) unless a token with the dev label already exists, in which case its PIN file must. */
async function ensureToken(root: string, module: string, log: Logger | undefined): Promise<boolean> {
  const userPinFile = path.join(root, DEV_FILES.userPin);
  const soPinFile = path.join(root, DEV_FILES.soPin);
  const haveUser = existsSync(userPinFile);
  const haveSo = existsSync(soPinFile);

  if (tokenExists(module, DEV_TOKEN_LABEL)) {
    if (!haveUser) {
      throw new DevStateError(
        `token "${DEV_TOKEN_LABEL}" exists in ${path.join(root, DEV_FILES.tokens)} but ${userPinFile} is missing, ` +
          `so nothing can log in to it; delete ${root} to start over`,
      );
    }
    if (!haveSo) log?.warn({ file: soPinFile }, 'the SO PIN file is missing; the token cannot be re-PINned');
    return false;
  }

  let soPin: string;
  let userPin: string;
  if (haveUser && haveSo) {
    // A previous run saved the PINs but did not get to C_InitToken (or the token folder was emptied).
    log?.warn({ dir: path.join(root, DEV_FILES.tokens) }, 'no development token found; initialising a new, empty one');
    soPin = (await readFile(soPinFile, 'utf8')).trim();
    userPin = (await readFile(userPinFile, 'utf8')).trim();
  } else if (!haveUser && !haveSo) {
    soPin = randomBytes(16).toString('hex');
    userPin = randomBytes(16).toString('hex');
    await writeNew(soPinFile, soPin);
    await writeNew(userPinFile, userPin);
  } else {
    throw new DevStateError(
      `only one of ${userPinFile} and ${soPinFile} exists and there is no token; delete ${root} to start over`,
    );
  }
  await initToken(module, DEV_TOKEN_LABEL, soPin, userPin);
  log?.info({ tokenLabel: DEV_TOKEN_LABEL, dir: path.join(root, DEV_FILES.tokens) }, 'initialised SoftHSM2 token');
  return true;
}

/** Points the [server] listen line of an existing config.toml at `listen`, when it says something else. */
async function updateListen(configFile: string, listen: string, log: Logger | undefined): Promise<void> {
  const text = await readFile(configFile, 'utf8');
  let current: unknown;
  try {
    const server = (parseToml(text) as { server?: { listen?: unknown } }).server;
    current = server?.listen;
  } catch {
    return; // loadConfig reports a broken file with a proper message
  }
  if (current === listen) return;
  // Line by line, so comments (which contain brackets and the word listen) are never touched.
  const lines = text.split('\n');
  let section = '';
  const i = lines.findIndex((l) => {
    const header = /^\s*\[([^\]]+)\]\s*(?:#.*)?$/.exec(l);
    if (header) section = (header[1] ?? '').trim();
    return section === 'server' && /^\s*listen\s*=/.test(l);
  });
  if (i < 0) {
    log?.warn({ file: configFile, listen }, 'cannot find server.listen in config.toml to update; set WAIAAS_SERVER__LISTEN');
    return;
  }
  lines[i] = `listen = ${JSON.stringify(listen)}`;
  const tmp = `${configFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, lines.join('\n'), { mode: 0o600, flag: 'wx' });
  await rename(tmp, configFile);
  log?.info({ file: configFile, listen, previous: current }, 'updated server.listen in config.toml');
}

/** Reads `<stem>.pem` and `<stem>.key`; undefined when neither exists, an error when only one does. */
async function readPair(root: string, stem: string): Promise<CertAndKey | undefined> {
  const certFile = path.join(root, `${stem}.pem`);
  const keyFile = path.join(root, `${stem}.key`);
  const [certPem, keyPem] = await Promise.all([
    readFile(certFile, 'utf8').catch(missingAsUndefined),
    readFile(keyFile, 'utf8').catch(missingAsUndefined),
  ]);
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    const [have, missing] = certPem === undefined ? [keyFile, certFile] : [certFile, keyFile];
    throw new DevStateError(`${have} exists but ${missing} does not; delete ${have} so both are issued again`);
  }
  return { certPem, keyPem };
}

/** Writes a key then its certificate, each created exclusively with mode 0600. */
async function writePair(root: string, stem: string, pair: CertAndKey): Promise<void> {
  await writeNew(path.join(root, `${stem}.key`), pair.keyPem);
  await writeNew(path.join(root, `${stem}.pem`), pair.certPem);
}

/**
 * Creates `file` with mode 0600 atomically and exclusively: written to a temporary name, then hard-linked into
 * place, which fails (instead of overwriting) when another process created it meanwhile.
 */
async function writeNew(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode: 0o600, flag: 'wx' });
  try {
    await chmod(tmp, 0o600);
    await link(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new DevStateError(`${file} appeared while creating it: is another process setting up ${path.dirname(file)}?`);
    }
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Creates `dir` with mode 0700, or checks an existing one: it must be a directory owned by this user, and group/other
 * permission bits are removed (with a warning). Returns true when it was created.
 */
async function ensurePrivateDir(dir: string, log: Logger | undefined): Promise<boolean> {
  const st = await stat(dir).catch(missingAsUndefined);
  if (st === undefined) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    return true;
  }
  if (!st.isDirectory()) throw new DevStateError(`${dir} exists and is not a directory`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new DevStateError(`${dir} is owned by uid ${st.uid}, not by this user; refusing to use it`);
  }
  if ((st.mode & 0o077) !== 0) {
    log?.warn({ dir, mode: (st.mode & 0o777).toString(8) }, 'development state folder was group/world accessible; chmod 700');
    await chmod(dir, st.mode & 0o700);
  }
  return false;
}

/**
 * Removes group/other permission bits from everything below `root` (e.g. a waiaas.db created with the default umask),
 * so nothing in the folder is group or world readable. Symbolic links are left alone.
 */
async function tightenModes(root: string, log: Logger | undefined): Promise<void> {
  for (const name of await readdir(root, { recursive: true })) {
    const p = path.join(root, name);
    const st = await lstat(p).catch(missingAsUndefined);
    if (st === undefined || st.isSymbolicLink() || (st.mode & 0o077) === 0) continue;
    log?.warn({ file: p, mode: (st.mode & 0o777).toString(8) }, 'removing group/other permissions in the development state folder');
    await chmod(p, st.mode & 0o700);
  }
}

function missingAsUndefined(e: unknown): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw e;
}
