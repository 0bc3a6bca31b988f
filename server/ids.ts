/**
 * Identifiers the server assigns (`wlt_…`, `req_…`) and validation of the ones callers choose (request_id).
 */
import { randomBytes } from 'node:crypto';
import { WaiaasError } from './errors/error.ts';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 128 random bits as 26 Crockford base32 characters. */
function random26(): string {
  const bytes = randomBytes(17); // 136 bits; the top 130 bits are used
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let s = '';
  for (let i = 0; i < 26; i++) {
    s += CROCKFORD[Number(n & 31n)];
    n >>= 5n;
  }
  return s;
}

/** A new wallet id. */
export function newWalletId(): string {
  return `wlt_${random26()}`;
}

/** A new sign request id. */
export function newSignRequestId(): string {
  return `req_${random26()}`;
}

const WALLET_ID = /^wlt_[0-9A-HJKMNP-TV-Z]{26}$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Validates a wallet id; a malformed one is INVALID_ARGUMENT naming the field (so it is never a lookup). */
export function checkWalletId(id: string, field = 'wallet_id'): string {
  if (!WALLET_ID.test(id)) {
    throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `${field} must be "wlt_" followed by 26 base32 characters`, { metadata: { field } });
  }
  return id;
}

/** Validates an optional idempotency key; returns null when it is empty. */
export function checkRequestId(id: string, field = 'request_id'): string | null {
  if (id === '') return null;
  if (!REQUEST_ID.test(id)) {
    throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `${field} must be 1-128 characters of [A-Za-z0-9._:-]`, { metadata: { field } });
  }
  return id;
}
