/**
 * Certificate issuing for the development CA (and, later, short-lived agent credentials): ECDSA P-256 keys and
 * SHA-256 signatures through WebCrypto, X.509 through @peculiar/x509. Keys leave as PKCS#8 PEM strings; writing them
 * to disk with the right mode is the caller's job.
 */
import 'reflect-metadata'; // before @peculiar/x509: its tsyringe dependency needs Reflect metadata at import time
import { createPublicKey, randomBytes, X509Certificate as NodeX509Certificate, type webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** A certificate and its private key, both PEM (the key PKCS#8). */
export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

/** Options of createCa. */
export interface CreateCaOptions {
  /** Subject CN of the CA. */
  commonName: string;
  /** Validity in days from now (fractions allowed). */
  days: number;
  /** Subject O; defaults to 'WAIaaS Signer'. */
  organization?: string;
}

/** Options of issueCert. */
export interface IssueCertOptions {
  /** Subject CN. Informational: identity is carried by the SAN URI, never the CN. */
  commonName: string;
  /** 'server' adds extendedKeyUsage serverAuth, 'client' clientAuth. */
  usage: 'server' | 'client';
  /** SAN DNS names. */
  dnsNames?: readonly string[];
  /** SAN IP addresses (IPv4 or IPv6 text form). */
  ips?: readonly string[];
  /** SAN URIs, e.g. 'spiffe://waiaas/agent/dev-agent'. */
  uris?: readonly string[];
  /** Validity in days from now; fractions allowed (1/24 is an hour). Clamped to the CA's own expiry. */
  days: number;
}

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
/** notBefore is backdated by this much so a peer whose clock is slightly behind still accepts a fresh certificate. */
const BACKDATE_MS = 5 * 60_000;

/**
 * Creates a self-signed CA: basicConstraints cA with pathLen 0 (it signs leaves only), keyUsage keyCertSign + cRLSign,
 * and a subject key identifier that issued certificates reference.
 */
export async function createCa(opts: CreateCaOptions): Promise<CertAndKey> {
  checkDays(opts.days);
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subjectName(opts.commonName, opts.organization),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + opts.days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Issues a leaf certificate signed by `ca`, with a fresh key: keyUsage digitalSignature, the extendedKeyUsage of
 * `usage`, and the given SANs. Leaves are never CAs.
 */
export async function issueCert(ca: CertAndKey, opts: IssueCertOptions): Promise<CertAndKey> {
  checkDays(opts.days);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey('pkcs8', pemToDer(ca.keyPem, 'PRIVATE KEY'), EC, false, ['sign']);
  const keys = await generateKeys();

  const names: x509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(opts.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      [opts.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    caSki ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId) : await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));

  const now = Date.now();
  const notAfter = Math.min(now + opts.days * DAY_MS, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subjectName(opts.commonName),
    issuer: caCert.subjectName,
    notBefore: new Date(Math.max(now - BACKDATE_MS, caCert.notBefore.getTime())),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Checks that `pair.keyPem` is the private key of `pair.certPem` and, when `issuerCertPem` is given, that the
 * certificate's signature verifies under that issuer. Returns a reason when it does not, so a reused state folder
 * whose files were mixed up is refused instead of producing a server no client can reach.
 */
export async function checkCertAndKey(pair: CertAndKey, issuerCertPem?: string): Promise<string | undefined> {
  let cert: NodeX509Certificate;
  try {
    cert = new NodeX509Certificate(pair.certPem);
  } catch {
    return 'the certificate is not valid PEM';
  }
  let keySpki: Buffer;
  try {
    keySpki = createPublicKey(pair.keyPem).export({ type: 'spki', format: 'der' });
  } catch {
    return 'the private key is not a valid PEM key';
  }
  if (!keySpki.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))) {
    return 'the private key does not belong to the certificate';
  }
  if (issuerCertPem !== undefined && !cert.verify(new NodeX509Certificate(issuerCertPem).publicKey)) {
    return 'the certificate was not issued by this CA';
  }
  return undefined;
}

/** SHA-256 fingerprint of a PEM certificate, colon-separated upper-case hex (as openssl and node print it). */
export function certFingerprint(certPem: string): string {
  return new NodeX509Certificate(certPem).fingerprint256;
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return await crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function pemToDer(pem: string, tag: string): ArrayBuffer {
  const m = new RegExp(`-----BEGIN ${tag}-----([\\s\\S]*?)-----END ${tag}-----`).exec(pem);
  if (!m?.[1]) throw new Error(`expected a PEM ${tag}`);
  const der = Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength);
}

function subjectName(commonName: string, organization = 'WAIaaS Signer'): x509.JsonName {
  return [{ CN: [commonName] }, { O: [organization] }];
}

/** 16 random bytes with the top bit clear: positive, and within RFC 5280's 20-octet limit. */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  if (b[0] === 0) b[0] = 1; // keep the encoding minimal (no leading zero byte)
  return b.toString('hex');
}

function checkDays(days: number): void {
  if (!(Number.isFinite(days) && days > 0)) throw new RangeError(`days must be a positive number, got ${days}`);
}
