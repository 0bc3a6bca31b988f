// Solana decoder robustness: truncations, random bytes and single-byte mutations never escape as anything but a
// WaiaasError, whatever does decode re-encodes to exactly its input, and random instruction data for the programs whose
// data the effects decoder reads only ever yields effects or WAIAAS_TX_MALFORMED. Seeded, so a failure reproduces.
import { address, AccountRole, createNoopSigner, getCompiledTransactionMessageEncoder, getShortU16Encoder, type Instruction } from '@solana/kit';
import { describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import { decodeSolanaTransaction, solanaEffects, type DecodedSolanaTransaction } from '../../server/chains/solana/index.ts';
import { getTransferSolWithSeedInstruction } from '@solana-program/system';
import {
  createSvm,
  latestBlockhash,
  newSolanaKey,
  SPL_AUTHORITY,
  splSetAuthority,
  unsignedSolTransfer,
  unsignedSplTransferChecked,
  unsignedTransaction,
} from '../support/litesvm.ts';

/** mulberry32: a tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DECODER_REASONS: Reason[] = ['WAIAAS_TX_MALFORMED', 'WAIAAS_TX_NOT_CANONICAL', 'WAIAAS_TX_TOO_LARGE'];

/** Decodes, and on success computes effects; returns the refusal reason or the decoded transaction. */
function attempt(bytes: Uint8Array): Reason | DecodedSolanaTransaction {
  try {
    const tx = decodeSolanaTransaction(bytes);
    solanaEffects(tx, tx.feePayer);
    return tx;
  } catch (e) {
    if (isWaiaasError(e)) return e.reason;
    throw new Error(`non-Waiaas error for ${Buffer.from(bytes).toString('hex')}: ${String(e)}`, { cause: e });
  }
}

function reencode(tx: DecodedSolanaTransaction): Uint8Array {
  const prefix = getShortU16Encoder().encode(tx.signatures.length);
  const message = getCompiledTransactionMessageEncoder().encode(tx.message);
  return new Uint8Array([...prefix, ...tx.signatures.flatMap((s) => [...s]), ...message]);
}

const blockhash = latestBlockhash(createSvm());
const wallet = newSolanaKey();
const cosigner = newSolanaKey();
const recipient = newSolanaKey().address;
const table = newSolanaKey().address;
const memo: Instruction = {
  programAddress: address('MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr'),
  data: new TextEncoder().encode('fuzz me'),
  accounts: [{ address: address(cosigner.address), role: AccountRole.READONLY_SIGNER }],
};
const samples: Record<string, Uint8Array> = {
  legacy: unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 123n, blockhash, version: 'legacy' }),
  v0: unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 123n, blockhash }),
  'v0 with lookup table': unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 1n, blockhash, lookupTables: { [table]: [recipient] } }),
  'two signers': unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 1n, blockhash, extraInstructions: [memo] }),
  // Instructions whose data the effects decoder parses: mutations of their lengths, tags and seeds reach its readers.
  'SPL TransferChecked with lookup table': unsignedSplTransferChecked({
    blockhash, lookupTables: { [table]: [recipient] },
    source: cosigner.address, mint: table, destination: recipient, authority: wallet.address, amount: 5n, decimals: 6,
  }),
  'System TransferWithSeed and SPL SetAuthority': unsignedTransaction({
    feePayer: wallet.address,
    blockhash,
    instructions: [
      getTransferSolWithSeedInstruction({
        source: address(cosigner.address),
        baseAccount: createNoopSigner(address(wallet.address)),
        destination: address(recipient),
        amount: 9n,
        fromSeed: 'seed',
        fromOwner: address(table),
      }),
      splSetAuthority({ account: recipient, currentAuthority: wallet.address, authorityType: SPL_AUTHORITY.AccountOwner, newAuthority: table }),
    ],
  }),
};

describe('truncation', () => {
  for (const [name, wire] of Object.entries(samples)) {
    test(`every truncation of a valid ${name} transaction is WAIAAS_TX_MALFORMED`, () => {
      expect(attempt(wire)).not.toBeTypeOf('string');
      for (let length = 0; length < wire.length; length++) {
        expect(attempt(wire.slice(0, length)), `length ${length}`).toBe('WAIAAS_TX_MALFORMED');
      }
    });
  }
});

describe('random input', () => {
  test('2000 random byte strings only ever produce decoder refusals', () => {
    const random = prng(0x5eed);
    const seen = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 1300);
      const bytes = new Uint8Array(length);
      for (let j = 0; j < length; j++) bytes[j] = Math.floor(random() * 256);
      // Half of them start like a real one-signer transaction so the message decoder is reached.
      if (i % 2 === 0 && length > 70) {
        bytes[0] = 1;
        if (i % 4 === 0) bytes[65] = 0x80;
        else bytes[65] = 1;
      }
      const result = attempt(bytes);
      const reason = typeof result === 'string' ? result : 'decoded';
      if (typeof result === 'string') expect(DECODER_REASONS).toContain(result);
      else expect(reencode(result)).toEqual(bytes);
      seen.set(reason, (seen.get(reason) ?? 0) + 1);
    }
    expect(seen.get('WAIAAS_TX_MALFORMED')).toBeGreaterThan(0);
    expect(seen.get('WAIAAS_TX_TOO_LARGE')).toBeGreaterThan(0);
  });
});

describe('single-byte mutations', () => {
  for (const [name, wire] of Object.entries(samples)) {
    test(`a mutated ${name} transaction is refused, or decodes to something that re-encodes to exactly itself`, () => {
      const random = prng(wire.length);
      let decoded = 0;
      for (let i = 0; i < 1500; i++) {
        const bytes = wire.slice();
        const at = Math.floor(random() * bytes.length);
        const kind = random();
        if (kind < 0.4) bytes[at] = Math.floor(random() * 256);
        else if (kind < 0.7) bytes[at]! ^= 1 << Math.floor(random() * 8);
        else if (kind < 0.85) bytes[at] = (bytes[at]! + 1) & 0xff;
        else bytes[at] = (bytes[at]! - 1) & 0xff;
        const result = attempt(bytes);
        if (typeof result === 'string') {
          expect(DECODER_REASONS).toContain(result);
        } else {
          decoded++;
          expect(reencode(result)).toEqual(bytes);
          expect(result.bytes).toEqual(bytes);
        }
      }
      // Mutations of signatures, addresses, blockhash and amounts still decode.
      expect(decoded).toBeGreaterThan(0);
    });
  }
});

describe('random instruction data for decoded programs', () => {
  test('3000 random System / SPL / Compute Budget instructions give effects or WAIAAS_TX_MALFORMED, nothing else', () => {
    const random = prng(0x7a9);
    const programs = [
      '11111111111111111111111111111111',
      'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA',
      'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb',
      'ComputeBudget111111111111111111111111111111',
    ];
    const pool = Array.from({ length: 6 }, () => newSolanaKey().address);
    const seen = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const program = programs[i % programs.length]!;
      const length = Math.floor(random() * 90);
      const data = new Uint8Array(length);
      for (let j = 0; j < length; j++) data[j] = Math.floor(random() * 256);
      // Mostly tags the decoder knows (System u32 0..13, SPL 0..16, budget 0..5), with small seed lengths now and then.
      if (length > 0) data[0] = Math.floor(random() * 17);
      if (program === programs[0] && length >= 4) data.fill(0, 1, 4);
      if (program === programs[0] && length >= 20 && random() < 0.5) data.set([Math.floor(random() * 12), 0, 0, 0, 0, 0, 0, 0], 12);
      const accounts = Array.from({ length: Math.floor(random() * 5) }, () => ({
        address: address(pool[Math.floor(random() * pool.length)]!),
        role: AccountRole.WRITABLE,
      }));
      const wire = unsignedTransaction({
        feePayer: wallet.address,
        blockhash,
        instructions: [{ programAddress: address(program), data, accounts }],
        ...(i % 3 === 0 ? { lookupTables: { [table]: pool.slice(0, 3) } } : {}),
      });
      const result = attempt(wire);
      const outcome = typeof result === 'string' ? result : 'decoded';
      expect(['decoded', 'WAIAAS_TX_MALFORMED']).toContain(outcome);
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
    }
    expect(seen.get('decoded')).toBeGreaterThan(100);
    expect(seen.get('WAIAAS_TX_MALFORMED')).toBeGreaterThan(100);
  });
});
