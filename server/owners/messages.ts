/**
 * The messages owners sign, and the verification of their signatures. Every message is canonical text the server
 * issues: domain-separated (it starts with "waiaas.dev", names this appliance and the action), human-readable (a
 * hardware wallet shows it), bound to one request or one change, and time-limited. On submission the server rebuilds
 * the message from its own records and the submitted times and requires the exact same text, so an owner's signature
 * approves exactly what the owner was shown.
 *
 * Ed25519 owners (Solana keys) sign the UTF-8 bytes, as wallets' signMessage does; EVM owners sign with EIP-191
 * personal_sign, as every EVM wallet does.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { getAddressEncoder } from '@solana/kit';
import { recoverMessageAddress } from 'viem';
import { WaiaasError } from '../errors/error.ts';

/** Longest validity of an issued message. */
export const MESSAGE_TTL_MS = 60 * 60 * 1000;
/** Clock skew tolerated on "Issued At". */
const SKEW_MS = 5 * 60 * 1000;

/** What an approval message is about. */
export interface ApprovalSubject {
  applianceId: string;
  action: 'APPROVE' | 'REJECT';
  signRequestId: string;
  walletId: string;
  walletAddress: string;
  chain: string;
  summary: string[];
  payloadHash: string;
  policyHash: string;
  verdict: string;
}

/** What an owner-change message is about. */
export interface ChangeSubject {
  applianceId: string;
  action: 'SET_OWNERS' | 'UNFREEZE';
  walletId: string;
  walletAddress: string;
  ownershipVersion: number;
  owners?: { keyType: string; key: string; label: string }[];
  threshold?: number;
}

function times(issuedAt: Date, expiresAt: Date): string[] {
  return [`Issued At: ${issuedAt.toISOString()}`, `Expiration Time: ${expiresAt.toISOString()}`];
}

/** The approval (or rejection) message for a pending request. */
export function approvalMessage(s: ApprovalSubject, issuedAt: Date, expiresAt: Date): string {
  const verb = s.action === 'APPROVE' ? 'approves' : 'rejects';
  return [
    `waiaas.dev: owner ${s.action === 'APPROVE' ? 'approval' : 'rejection'}`,
    `Signing this message ${verb} one signing request on the WAIaaS Signer appliance named below. Sign it only if that is what you want.`,
    '',
    `Action: ${s.action}`,
    `Appliance: ${s.applianceId}`,
    `Request: ${s.signRequestId}`,
    `Verdict: ${s.verdict}`,
    `Wallet: ${s.walletId} (${s.walletAddress})`,
    `Chain: ${s.chain}`,
    'Effects:',
    ...(s.summary.length ? s.summary.map((l) => `- ${l}`) : ['- (none)']),
    `Payload SHA-256: ${s.payloadHash}`,
    `Policy SHA-256: ${s.policyHash}`,
    ...times(issuedAt, expiresAt),
  ].join('\n');
}

/** The owner-change or unfreeze message for a wallet. */
export function changeMessage(s: ChangeSubject, issuedAt: Date, expiresAt: Date): string {
  const lines = [
    `waiaas.dev: owner ${s.action === 'UNFREEZE' ? 'unfreeze' : 'change'}`,
    `Signing this message ${s.action === 'UNFREEZE' ? 'unfreezes' : 'changes the owners of'} the wallet named below on the WAIaaS Signer appliance named below. Sign it only if that is what you want.`,
    '',
    `Action: ${s.action}`,
    `Appliance: ${s.applianceId}`,
    `Wallet: ${s.walletId} (${s.walletAddress})`,
    `Ownership Version: ${s.ownershipVersion}`,
  ];
  if (s.action === 'SET_OWNERS') {
    lines.push('New Owners:', ...(s.owners?.length ? s.owners.map((o) => `- ${o.keyType} ${o.key}${o.label ? ` "${o.label.replace(/["\r\n]/g, '')}"` : ''}`) : ['- (none)']), `New Threshold: ${s.threshold ?? 0}`);
  }
  return [...lines, ...times(issuedAt, expiresAt)].join('\n');
}

/** Reads "Issued At", "Expiration Time" and any other `Key: value` field from a submitted message. */
export function messageField(message: string, name: string): string | undefined {
  const prefix = `${name}: `;
  return message.split('\n').find((l) => l.startsWith(prefix))?.slice(prefix.length);
}

/**
 * Checks a submitted message against the one the server would issue now for `build` and the submitted times:
 * identical text, not expired, not issued in the future, at most MESSAGE_TTL_MS of validity. Returns the expiry.
 */
export function checkIssuedMessage(submitted: string, build: (issuedAt: Date, expiresAt: Date) => string, now: Date, reason: 'WAIAAS_APPROVAL_INVALID' | 'WAIAAS_OWNER_SIGNATURE_INVALID'): Date {
  const bad = (problem: string, msg: string): WaiaasError => new WaiaasError(reason, msg, { metadata: { problem } });
  const issued = new Date(messageField(submitted, 'Issued At') ?? '');
  const expires = new Date(messageField(submitted, 'Expiration Time') ?? '');
  if (Number.isNaN(issued.getTime()) || Number.isNaN(expires.getTime())) throw bad('message_mismatch', 'the message is not one this appliance issued');
  if (submitted !== build(issued, expires)) throw bad('message_mismatch', 'the message does not match what this appliance issues for it (another request, wallet or change?)');
  if (expires.getTime() <= now.getTime()) throw bad('expired', 'the signed message has expired');
  if (issued.getTime() > now.getTime() + SKEW_MS || expires.getTime() - issued.getTime() > MESSAGE_TTL_MS) throw bad('message_mismatch', 'the message times are not valid');
  return expires;
}

/** Verifies an owner's signature over `message` with its registered key. */
export async function verifyOwnerSignature(keyType: 'ed25519' | 'evm', key: string, message: string, signature: Uint8Array): Promise<boolean> {
  try {
    if (keyType === 'ed25519') {
      if (signature.length !== 64) return false;
      const pub = new Uint8Array(getAddressEncoder().encode(key as Parameters<ReturnType<typeof getAddressEncoder>['encode']>[0]));
      return ed25519.verify(signature, new TextEncoder().encode(message), pub);
    }
    if (signature.length !== 65) return false;
    const recovered = await recoverMessageAddress({ message, signature: `0x${Buffer.from(signature).toString('hex')}` });
    return recovered.toLowerCase() === key.toLowerCase();
  } catch {
    return false;
  }
}
