/**
 * The dev CA's certificates in a real mutual-TLS handshake (node:tls, requestCert + rejectUnauthorized, as the gRPC
 * server will run): the agent certificate is accepted and its SAN URI reaches the server; a client certificate from
 * another CA and a missing client certificate are both refused. Also checks the X.509 extensions pki.ts writes.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevState } from '../../server/devstate/index.ts';
import { createCa, issueCert, type CertAndKey } from '../../server/devstate/pki.ts';
import * as x509 from '@peculiar/x509'; // after pki.ts, which installs the Reflect shim @peculiar/x509 needs

const MODULE = process.env['SOFTHSM_MODULE'] ?? '/usr/lib/softhsm/libsofthsm2.so';

let parent: string;
let dir: string;
let server: tls.Server;
let port: number;
/** Same credentials but rejectUnauthorized false: tells why `server` refused a client (node destroys it silently). */
let probe: tls.Server;
let probePort: number;
const probed: { authorized: boolean; authorizationError?: string }[] = [];
/** What the server saw for each connection: the peer's SAN when the handshake succeeded, or the TLS error. */
const seen: { san?: string; error?: Error }[] = [];

const read = (f: string): string => readFileSync(path.join(dir, f), 'utf8');
const pair = (stem: string): CertAndKey => ({ certPem: read(`${stem}.pem`), keyPem: read(`${stem}.key`) });

beforeAll(async () => {
  parent = mkdtempSync(path.join(tmpdir(), 'waiaas-tls-'));
  dir = path.join(parent, 'state');
  await ensureDevState(dir, { softhsmModule: MODULE, listen: '127.0.0.1:0' });
  server = tls.createServer({
    cert: read('server.pem'),
    key: read('server.key'),
    ca: read('ca.pem'),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  server.on('secureConnection', (socket) => {
    seen.push({ san: socket.getPeerCertificate().subjectaltname });
    socket.end('ok\n');
  });
  server.on('tlsClientError', (error) => seen.push({ error }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  probe = tls.createServer({
    cert: read('server.pem'),
    key: read('server.key'),
    ca: read('ca.pem'),
    requestCert: true,
    rejectUnauthorized: false,
  });
  probe.on('secureConnection', (socket) => {
    probed.push({ authorized: socket.authorized, authorizationError: socket.authorizationError?.toString() });
    socket.end();
  });
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  probePort = (probe.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (probe ? probe.close(() => resolve()) : resolve()));
  rmSync(parent, { recursive: true, force: true });
});

/**
 * Connects with `client` credentials (trusting the dev CA) and resolves with what the client read (the server writes
 * "ok" only after it accepted the client) and the client-side error, if any.
 */
function connect(client: Partial<CertAndKey>, opts: tls.ConnectionOptions = {}): Promise<{ data: string; error?: Error }> {
  return new Promise((resolve) => {
    let data = '';
    let error: Error | undefined;
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: read('ca.pem'),
      ...(client.certPem ? { cert: client.certPem } : {}),
      ...(client.keyPem ? { key: client.keyPem } : {}),
      ...opts,
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', (e) => (error = e));
    socket.on('close', () => resolve(error ? { data, error } : { data }));
  });
}

/** The server's record of connection number `index`, waiting for it: the server may see a close after the client. */
async function serverSaw(index: number): Promise<{ san?: string; error?: Error }> {
  for (let i = 0; i < 200 && seen.length <= index; i++) await new Promise((r) => setTimeout(r, 10));
  const rec = seen[index];
  if (rec === undefined) throw new Error(`the server recorded no connection #${index}`);
  return rec;
}

describe('development certificates over mutual TLS', () => {
  it('accepts the agent certificate and hands its SAN URI to the server', async () => {
    const before = seen.length;
    const r = await connect(pair('agent'));
    expect(r.error).toBeUndefined();
    expect(r.data).toBe('ok\n');
    expect((await serverSaw(before)).san).toBe('URI:spiffe://waiaas/agent/dev-agent');
  });

  it('accepts the owner and admin certificates with their own URIs', async () => {
    for (const [stem, uri] of [
      ['owner', 'spiffe://waiaas/owner/dev-owner'],
      ['admin', 'spiffe://waiaas/admin/dev-admin'],
    ] as const) {
      const before = seen.length;
      expect((await connect(pair(stem))).data).toBe('ok\n');
      expect((await serverSaw(before)).san).toBe(`URI:${uri}`);
    }
  });

  it('lets clients verify the server by name and by IP address, and only those', async () => {
    const before = seen.length;
    expect((await connect(pair('agent'), { servername: 'localhost' })).data).toBe('ok\n');
    // No servername: node checks the server certificate's IP SAN against host 127.0.0.1.
    expect((await connect(pair('agent'), { servername: undefined })).data).toBe('ok\n');
    const wrong = await connect(pair('agent'), { servername: 'example.com' });
    expect(wrong.data).toBe('');
    expect((wrong.error as NodeJS.ErrnoException | undefined)?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    await serverSaw(before + 2); // let the server see the aborted connection before the next test counts
  });

  it('refuses a client certificate issued by another CA, even one with the same name', async () => {
    for (const [commonName, reason] of [
      ['Another CA', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
      ['WAIaaS development CA', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'], // same issuer DN, different key (and key id)
    ] as const) {
      const otherCa = await createCa({ commonName, days: 30 });
      const impostor = await issueCert(otherCa, {
        commonName: 'dev-agent',
        usage: 'client',
        uris: ['spiffe://waiaas/agent/dev-agent'],
        days: 1,
      });
      const before = seen.length;
      const r = await connect(impostor);
      // The server is the authority: with TLS 1.3 the client's handshake completes before the server checks its
      // certificate, so the client only sees the connection close. The server never emitted secureConnection.
      expect(r.data).toBe('');
      expect(await serverSaw(before)).toEqual({ error: expect.any(Error) });
      // Why it was refused, from the probe server.
      await connect(impostor, { port: probePort });
      expect(probed.at(-1)).toEqual({ authorized: false, authorizationError: reason });
    }
  });

  it('refuses a client without a certificate', async () => {
    const before = seen.length;
    const r = await connect({});
    expect(r.data).toBe('');
    expect(((await serverSaw(before)).error as NodeJS.ErrnoException | undefined)?.code).toBe(
      'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE',
    );
  });

  it('refuses a server certificate used as a client certificate (no clientAuth)', async () => {
    const before = seen.length;
    const r = await connect(pair('server'));
    expect(r.data).toBe('');
    expect(await serverSaw(before)).toEqual({ error: expect.any(Error) });
    await connect(pair('server'), { port: probePort });
    expect(probed.at(-1)).toEqual({ authorized: false, authorizationError: 'INVALID_PURPOSE' });
  });
});

describe('pki', () => {
  it('writes a CA with critical basicConstraints and keyCertSign + cRLSign', () => {
    const ca = new x509.X509Certificate(read('ca.pem'));
    const bc = ca.getExtension(x509.BasicConstraintsExtension);
    expect(bc?.ca).toBe(true);
    expect(bc?.critical).toBe(true);
    const ku = ca.getExtension(x509.KeyUsagesExtension);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(ca.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
  });

  it('writes leaves with digitalSignature, an authority key id matching the CA, and 1-year validity', () => {
    const ca = new x509.X509Certificate(read('ca.pem'));
    const leaf = new x509.X509Certificate(read('agent.pem'));
    expect(leaf.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(leaf.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
      ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    );
    const days = (leaf.notAfter.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThanOrEqual(365);
  });

  it('issues short-lived certificates (fractional days), never outliving the CA', async () => {
    const ca = await createCa({ commonName: 'Short CA', days: 1 });
    const hour = new x509.X509Certificate((await issueCert(ca, { commonName: 'a', usage: 'client', days: 1 / 24 })).certPem);
    expect(Math.round((hour.notAfter.getTime() - Date.now()) / 60_000)).toBe(60);
    const long = new x509.X509Certificate((await issueCert(ca, { commonName: 'b', usage: 'client', days: 365 })).certPem);
    expect(long.notAfter.getTime()).toBe(new x509.X509Certificate(ca.certPem).notAfter.getTime());
    await expect(issueCert(ca, { commonName: 'c', usage: 'client', days: 0 })).rejects.toThrow(RangeError);
  });
});
