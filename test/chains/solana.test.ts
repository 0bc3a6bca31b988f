// Solana decoder: decode → effects → sign the message bytes → assemble → execute in LiteSVM, plus every refusal.
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  address,
  AccountRole,
  appendTransactionMessageInstructions,
  compileTransaction,
  createNoopSigner,
  createTransactionMessage,
  getCompiledTransactionMessageEncoder,
  getShortU16Encoder,
  getTransactionEncoder,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  type Blockhash,
  type Instruction,
} from '@solana/kit';
import { getAdvanceNonceAccountInstruction, getAllocateInstruction, getTransferSolInstruction } from '@solana-program/system';
import { describe, expect, test } from 'vitest';
import { isWaiaasError, WaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import type { Outflow } from '../../server/policy/effects.ts';
import {
  assembleSolanaTransaction,
  COMPUTE_BUDGET_PROGRAM,
  decodeSolanaTransaction,
  signerIndex,
  solanaAddress,
  solanaEffects,
  SYSTEM_PROGRAM,
  TOKEN_PROGRAM,
  type DecodedSolanaTransaction,
  type SolanaCompiledMessage,
} from '../../server/chains/solana/index.ts';
import { createSvm, executeSolana, latestBlockhash, newSolanaKey, setLookupTable, unsignedSolTransfer } from '../support/litesvm.ts';

const BLOCKHASH = latestBlockhash(createSvm());
const SOL = 1_000_000_000n;
/** Above mainnet's rent-exempt minimum of an empty account (890 880), so these transfers would land on a real cluster too. */
const RENT = 1_000_000n;
const MEMO_PROGRAM = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';

type Key = ReturnType<typeof newSolanaKey>;

/** The server's pipeline for one signer: decode, find the slot, sign the message bytes, assemble. */
function sign(wire: Uint8Array, key: Key): Uint8Array {
  const tx = decodeSolanaTransaction(wire);
  return assembleSolanaTransaction(tx, signerIndex(tx, key.address), ed25519.sign(tx.messageBytes, key.secretKey));
}

/** The outflow a System.Transfer of `amount` lamports to `recipient` decodes to (`from` only when not the wallet). */
function native(amount: bigint, recipient: string, from?: string): Outflow {
  return { asset: 'native', amount, recipient, recipientKind: 'owner', ...(from === undefined ? {} : { from }), source: 'System.Transfer' };
}

function hexOf(data: Uint8Array): string {
  return Buffer.from(data).toString('hex');
}

function reasonOf(fn: () => unknown): Reason {
  try {
    fn();
  } catch (e) {
    if (isWaiaasError(e)) return e.reason;
    throw e;
  }
  throw new Error('expected a WaiaasError, nothing was thrown');
}

function transferTo(from: string, to: string, amount: bigint): Instruction {
  return getTransferSolInstruction({ source: createNoopSigner(address(from)), destination: address(to), amount });
}

function computeUnitLimit(units: number): Instruction {
  const data = new Uint8Array(5);
  data[0] = 2;
  new DataView(data.buffer).setUint32(1, units, true);
  return { programAddress: address(COMPUTE_BUDGET_PROGRAM), data };
}

function computeUnitPrice(microLamports: bigint): Instruction {
  const data = new Uint8Array(9);
  data[0] = 3;
  new DataView(data.buffer).setBigUint64(1, microLamports, true);
  return { programAddress: address(COMPUTE_BUDGET_PROGRAM), data };
}

function memo(text: string, signer?: string): Instruction {
  return {
    programAddress: address(MEMO_PROGRAM),
    data: new TextEncoder().encode(text),
    ...(signer ? { accounts: [{ address: address(signer), role: AccountRole.READONLY_SIGNER }] } : {}),
  };
}

/** Wire bytes for a hand-made compiled message, with `slots` zeroed signature slots. */
function wireOf(message: SolanaCompiledMessage, slots = message.header.numSignerAccounts): Uint8Array {
  const prefix = getShortU16Encoder().encode(slots);
  const body = getCompiledTransactionMessageEncoder().encode(message);
  const out = new Uint8Array(prefix.length + 64 * slots + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length + 64 * slots);
  return out;
}

function plainMessage(from: string, to: string): SolanaCompiledMessage {
  const data = new Uint8Array(12);
  data[0] = 2;
  new DataView(data.buffer).setBigUint64(4, 5n, true);
  return {
    version: 'legacy',
    header: { numSignerAccounts: 1, numReadonlySignerAccounts: 0, numReadonlyNonSignerAccounts: 1 },
    staticAccounts: [address(from), address(to), address(SYSTEM_PROGRAM)],
    lifetimeToken: BLOCKHASH,
    instructions: [{ programAddressIndex: 2, accountIndices: [0, 1], data }],
  } as SolanaCompiledMessage;
}

describe('solanaAddress', () => {
  test('is the base58 form of the 32-byte Ed25519 public key', () => {
    const key = newSolanaKey();
    expect(solanaAddress(key.publicKey)).toBe(key.address);
    expect(solanaAddress(new Uint8Array(32))).toBe(SYSTEM_PROGRAM);
  });

  test('refuses a key of the wrong length as a server fault', () => {
    expect(reasonOf(() => solanaAddress(new Uint8Array(33)))).toBe('WAIAAS_INTERNAL');
  });
});

describe('a System transfer from the wallet', () => {
  test('decodes to exactly one outflow, signs, and moves exactly that many lamports in LiteSVM', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const wire = unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 1_234_567n, blockhash: BLOCKHASH });

    const tx = decodeSolanaTransaction(wire);
    expect(tx.version).toBe(0);
    expect(tx.signers).toEqual([wallet.address]);
    expect(tx.feePayer).toBe(wallet.address);
    expect(tx.signatures).toEqual([new Uint8Array(64)]);
    expect(tx.messageBytes).toEqual(wire.subarray(65));
    expect(solanaEffects(tx, wallet.address)).toEqual({
      chain: 'solana',
      outflows: [{ asset: 'native', amount: 1_234_567n, recipient, recipientKind: 'owner', source: 'System.Transfer' }],
      grants: [],
      calls: [],
      flags: [],
      maxFee: 5000n,
    });

    const signed = sign(wire, wallet);
    expect(signed.subarray(65)).toEqual(wire.subarray(65));
    const run = executeSolana({ signedTx: signed, fund: { [wallet.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.ok).toBe(true);
    expect(run.balances(recipient)).toBe(1_234_567n);
    expect(run.balances(wallet.address)).toBe(SOL - 1_234_567n - 5000n);
  });

  test('a transfer of a few lamports to a new account executes too, since the test svm charges no rent', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const svm = createSvm();
    const wire = unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 999n, blockhash: latestBlockhash(svm) });
    const run = executeSolana({ svm, signedTx: sign(wire, wallet), fund: { [wallet.address]: 10_000_000n } });
    expect(run.error).toBeUndefined();
    expect(run.balances(recipient)).toBe(999n);
  });

  test('works the same with a legacy message', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const wire = unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: RENT + 42n, blockhash: BLOCKHASH, version: 'legacy' });
    const tx = decodeSolanaTransaction(wire);
    expect(tx.version).toBe('legacy');
    expect(solanaEffects(tx, wallet.address).outflows).toEqual([native(RENT + 42n, recipient)]);
    const run = executeSolana({ signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL } });
    expect(run.ok).toBe(true);
    expect(run.balances(recipient)).toBe(RENT + 42n);
  });

  test('two transfers to one recipient stay two outflows in instruction order (the engine sums), as do two recipients', () => {
    const wallet = newSolanaKey();
    const a = newSolanaKey().address;
    const b = newSolanaKey().address;
    const same = unsignedSolTransfer({
      from: wallet.address, to: a, lamports: RENT, blockhash: BLOCKHASH,
      extraInstructions: [transferTo(wallet.address, a, 2_500n)],
    });
    expect(solanaEffects(decodeSolanaTransaction(same), wallet.address).outflows).toEqual([native(RENT, a), native(2_500n, a)]);
    const run = executeSolana({ signedTx: sign(same, wallet), fund: { [wallet.address]: SOL } });
    expect(run.ok).toBe(true);
    expect(run.balances(a)).toBe(RENT + 2_500n);

    const two = unsignedSolTransfer({
      from: wallet.address, to: a, lamports: RENT, blockhash: BLOCKHASH,
      extraInstructions: [transferTo(wallet.address, b, RENT + 7n)],
    });
    const effects = solanaEffects(decodeSolanaTransaction(two), wallet.address);
    expect(effects.outflows).toEqual([native(RENT, a), native(RENT + 7n, b)]);
    expect(effects.outflows.reduce((sum, o) => sum + o.amount, 0n)).toBe(2n * RENT + 7n);
    const run2 = executeSolana({ signedTx: sign(two, wallet), fund: { [wallet.address]: SOL } });
    expect(run2.ok).toBe(true);
    expect(run2.balances(a) + run2.balances(b)).toBe(2n * RENT + 7n);
  });

  test('a Transfer with trailing instruction data still counts, because the System program ignores the tail', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const ix = transferTo(wallet.address, recipient, RENT);
    const padded = { ...ix, data: new Uint8Array([...(ix.data ?? []), 0xde, 0xad]) };
    const wire = unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 1n, blockhash: BLOCKHASH, extraInstructions: [padded] });
    expect(solanaEffects(decodeSolanaTransaction(wire), wallet.address).outflows).toEqual([native(1n, recipient), native(RENT, recipient)]);
    const run = executeSolana({ signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL } });
    expect(run.ok).toBe(true);
    expect(run.balances(recipient)).toBe(RENT + 1n);
  });
});

describe('instructions that are not transfers from the wallet', () => {
  test('another program is a Call with its 8-byte discriminator, whole data and accounts; SPL programs get 1 byte', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const wsol = newSolanaKey().address;
    const syncNative: Instruction = {
      programAddress: address(TOKEN_PROGRAM),
      accounts: [{ address: address(wsol), role: AccountRole.WRITABLE }],
      data: new Uint8Array([17]),
    };
    const wire = unsignedSolTransfer({
      from: wallet.address, to: recipient, lamports: 1n, blockhash: BLOCKHASH,
      extraInstructions: [memo('hello, world', wallet.address), memo('hi'), syncNative],
    });
    const effects = solanaEffects(decodeSolanaTransaction(wire), wallet.address);
    expect(effects.outflows).toEqual([native(1n, recipient)]);
    expect(effects.grants).toEqual([]);
    expect(effects.calls).toEqual([
      {
        program: MEMO_PROGRAM,
        discriminator: '68656c6c6f2c2077',
        data: hexOf(new TextEncoder().encode('hello, world')),
        accounts: [wallet.address],
        value: 0n,
        description: `call ${MEMO_PROGRAM}`,
      },
      // Shorter than a discriminator: '' so that it can never match a rule written for an 8-byte one.
      { program: MEMO_PROGRAM, discriminator: '', data: '6869', accounts: [], value: 0n, description: `call ${MEMO_PROGRAM}` },
      { program: TOKEN_PROGRAM, discriminator: '11', data: '11', accounts: [wsol], value: 0n, description: 'Token.SyncNative' },
    ]);
  });

  test('System instructions without a typed effect (Allocate) are Calls with a 4-byte discriminator and their name', () => {
    const wallet = newSolanaKey();
    const fresh = newSolanaKey();
    const allocate = getAllocateInstruction({ newAccount: createNoopSigner(address(fresh.address)), space: 10n });
    const wire = unsignedSolTransfer({ from: wallet.address, to: fresh.address, lamports: 1n, blockhash: BLOCKHASH, extraInstructions: [allocate] });
    const tx = decodeSolanaTransaction(wire);
    expect(tx.signers).toEqual([wallet.address, fresh.address]);
    expect(solanaEffects(tx, wallet.address).calls).toEqual([
      { program: SYSTEM_PROGRAM, discriminator: '08000000', data: '080000000a00000000000000', accounts: [fresh.address], value: 0n, description: 'System.Allocate' },
    ]);
  });

  test('a System transfer from another signer is an outflow naming its source; both signers sign their own slot and it executes', () => {
    const wallet = newSolanaKey();
    const other = newSolanaKey();
    const recipient = newSolanaKey().address;
    // The wallet pays the fee; `other` sends the lamports.
    const wire = unsignedSolTransfer({ from: other.address, to: recipient, lamports: RENT + 777n, blockhash: BLOCKHASH, feePayer: wallet.address });
    const tx = decodeSolanaTransaction(wire);
    expect(tx.signers).toEqual([wallet.address, other.address]);
    expect(signerIndex(tx, other.address)).toBe(1);
    const effects = solanaEffects(tx, wallet.address);
    // The engine judges the recipient whoever pays; `from` tells it the lamports are not the wallet's own.
    expect(effects.outflows).toEqual([native(RENT + 777n, recipient, other.address)]);
    expect(effects.calls).toEqual([]);
    expect(effects.maxFee).toBe(10_000n);
    // From the other signer's point of view the same outflow leaves the wallet itself.
    expect(solanaEffects(tx, other.address).outflows).toEqual([native(RENT + 777n, recipient)]);

    const half = sign(wire, other);
    const halfTx = decodeSolanaTransaction(half);
    expect(halfTx.signatures[0]).toEqual(new Uint8Array(64));
    expect(halfTx.signatures[1]).not.toEqual(new Uint8Array(64));
    const full = sign(half, wallet);
    expect(decodeSolanaTransaction(full).signatures[1]).toEqual(halfTx.signatures[1]);

    const run = executeSolana({ signedTx: full, fund: { [wallet.address]: SOL, [other.address]: SOL } });
    expect(run.ok).toBe(true);
    expect(run.balances(recipient)).toBe(RENT + 777n);
    expect(run.balances(wallet.address)).toBe(SOL - 10_000n);
    expect(run.balances(other.address)).toBe(SOL - RENT - 777n);
  });

  test('a half-signed transaction does not execute', () => {
    const wallet = newSolanaKey();
    const other = newSolanaKey();
    const wire = unsignedSolTransfer({ from: other.address, to: newSolanaKey().address, lamports: RENT, blockhash: BLOCKHASH, feePayer: wallet.address });
    const run = executeSolana({ signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL, [other.address]: SOL } });
    expect(run.ok).toBe(false);
    expect(run.error).toMatch(/signature/i);
    expect(run.balances(other.address)).toBe(SOL);
  });
});

describe('address lookup tables', () => {
  test('are flagged, and an account loaded from one never resolves to a plain address — yet the lamports really go there', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const table = newSolanaKey().address;
    const wire = unsignedSolTransfer({
      from: wallet.address, to: recipient, lamports: RENT + 5_555n, blockhash: BLOCKHASH,
      lookupTables: { [table]: [recipient] },
    });
    const tx = decodeSolanaTransaction(wire);
    expect(tx.message.version === 0 && tx.message.addressTableLookups).toEqual([
      { lookupTableAddress: table, writableIndexes: [0], readonlyIndexes: [] },
    ]);
    const effects = solanaEffects(tx, wallet.address);
    expect(effects.flags).toEqual(['ADDRESS_LOOKUP_TABLE']);
    expect(effects.outflows).toEqual([native(RENT + 5_555n, `lookup:${table}:0`)]);
    expect(effects.outflows.map((o) => o.recipient)).not.toContain(recipient);
    expect(tx.accountKeys).not.toContain(recipient);

    const svm = createSvm();
    setLookupTable(svm, table, [recipient]);
    const run = executeSolana({ svm, signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.balances(recipient)).toBe(RENT + 5_555n);
  });
});

describe('durable nonce', () => {
  test('AdvanceNonceAccount as the first instruction is flagged DURABLE_NONCE, and is not also a Call', () => {
    const wallet = newSolanaKey();
    const nonce = newSolanaKey().address;
    const advance = getAdvanceNonceAccountInstruction({ nonceAccount: address(nonce), nonceAuthority: createNoopSigner(address(wallet.address)) });
    const wire = unsignedSolTransfer({ from: wallet.address, to: newSolanaKey().address, lamports: 1n, blockhash: BLOCKHASH, leadingInstructions: [advance] });
    const effects = solanaEffects(decodeSolanaTransaction(wire), wallet.address);
    expect(effects.flags).toEqual(['DURABLE_NONCE']);
    expect(effects.calls).toEqual([]);
    expect(effects.outflows).toHaveLength(1);
  });

  test('AdvanceNonceAccount later in the transaction is only a Call', () => {
    const wallet = newSolanaKey();
    const advance = getAdvanceNonceAccountInstruction({ nonceAccount: address(newSolanaKey().address), nonceAuthority: createNoopSigner(address(wallet.address)) });
    const wire = unsignedSolTransfer({ from: wallet.address, to: newSolanaKey().address, lamports: 1n, blockhash: BLOCKHASH, extraInstructions: [advance] });
    const effects = solanaEffects(decodeSolanaTransaction(wire), wallet.address);
    expect(effects.flags).toEqual([]);
    expect(effects.calls).toEqual([
      expect.objectContaining({ program: SYSTEM_PROGRAM, discriminator: '04000000', data: '04000000', description: 'System.AdvanceNonceAccount' }),
    ]);
  });
});

describe('compute budget fee math', () => {
  test('maxFee is 5000 per signature plus ceil(price × limit / 1e6), LiteSVM charges exactly that, and budget instructions are no Calls', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const wire = unsignedSolTransfer({
      from: wallet.address, to: recipient, lamports: RENT, blockhash: BLOCKHASH,
      leadingInstructions: [computeUnitLimit(300_001), computeUnitPrice(3_333_333n)],
    });
    const effects = solanaEffects(decodeSolanaTransaction(wire), wallet.address);
    // 300_001 × 3_333_333 = 1_000_003_233_333 µL → 1_000_004 lamports (rounded up).
    expect(effects.maxFee).toBe(5000n + 1_000_004n);
    expect(effects.calls).toEqual([]);
    const run = executeSolana({ signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL } });
    expect(run.ok).toBe(true);
    expect(SOL - run.balances(wallet.address) - RENT).toBe(effects.maxFee);
  });

  test('without a limit, 200 000 units per non-budget instruction are assumed, capped at 1 400 000', () => {
    const wallet = newSolanaKey();
    const to = newSolanaKey().address;
    const one = unsignedSolTransfer({ from: wallet.address, to, lamports: 1n, blockhash: BLOCKHASH, leadingInstructions: [computeUnitPrice(1_000_000n)] });
    expect(solanaEffects(decodeSolanaTransaction(one), wallet.address).maxFee).toBe(5000n + 200_000n);
    const many = unsignedSolTransfer({
      from: wallet.address, to, lamports: 1n, blockhash: BLOCKHASH,
      leadingInstructions: [computeUnitPrice(1_000_000n)],
      extraInstructions: Array.from({ length: 9 }, (_, i) => memo(`m${i}`)),
    });
    expect(solanaEffects(decodeSolanaTransaction(many), wallet.address).maxFee).toBe(5000n + 1_400_000n);
    const capped = unsignedSolTransfer({
      from: wallet.address, to, lamports: 1n, blockhash: BLOCKHASH,
      leadingInstructions: [computeUnitPrice(1_000_000n), computeUnitLimit(4_000_000)],
    });
    expect(solanaEffects(decodeSolanaTransaction(capped), wallet.address).maxFee).toBe(5000n + 1_400_000n);
    const free = unsignedSolTransfer({ from: wallet.address, to, lamports: 1n, blockhash: BLOCKHASH, leadingInstructions: [computeUnitLimit(1_000)] });
    expect(solanaEffects(decodeSolanaTransaction(free), wallet.address).maxFee).toBe(5000n);
  });
});

describe('other compute budget instructions', () => {
  test('RequestHeapFrame and SetLoadedAccountsDataSizeLimit change no fee and are no Calls; the chain runs them', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const u32 = (tag: number, value: number): Instruction => {
      const data = new Uint8Array(5);
      data[0] = tag;
      new DataView(data.buffer).setUint32(1, value, true);
      return { programAddress: address(COMPUTE_BUDGET_PROGRAM), data };
    };
    const wire = unsignedSolTransfer({
      from: wallet.address, to: recipient, lamports: RENT, blockhash: BLOCKHASH,
      leadingInstructions: [u32(1, 64 * 1024), u32(4, 128 * 1024)],
    });
    const effects = solanaEffects(decodeSolanaTransaction(wire), wallet.address);
    expect(effects.calls).toEqual([]);
    expect(effects.outflows).toEqual([native(RENT, recipient)]);
    expect(effects.maxFee).toBe(5000n);
    const run = executeSolana({ signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(SOL - run.balances(wallet.address) - RENT).toBe(effects.maxFee);
  });

  test('a SetComputeUnitPrice or SetComputeUnitLimit too short to read is malformed, and the chain refuses it as well', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    for (const data of [new Uint8Array([3, 1, 0, 0, 0]), new Uint8Array([2, 1, 0])]) {
      const wire = unsignedSolTransfer({
        from: wallet.address, to: recipient, lamports: RENT, blockhash: BLOCKHASH,
        leadingInstructions: [{ programAddress: address(COMPUTE_BUDGET_PROGRAM), data }],
      });
      expect(reasonOf(() => solanaEffects(decodeSolanaTransaction(wire), wallet.address))).toBe('WAIAAS_TX_MALFORMED');
      const tx = decodeSolanaTransaction(wire);
      const signed = assembleSolanaTransaction(tx, 0, ed25519.sign(tx.messageBytes, wallet.secretKey));
      const run = executeSolana({ signedTx: signed, fund: { [wallet.address]: SOL } });
      expect(run.ok).toBe(false);
      expect(run.balances(recipient)).toBe(0n);
    }
  });
});

describe('signature precompiles', () => {
  test('each signature an Ed25519 verify instruction checks adds 5000 lamports to maxFee', () => {
    const wallet = newSolanaKey();
    const verify: Instruction = { programAddress: address('Ed25519SigVerify111111111111111111111111111'), data: new Uint8Array([2, 0]) };
    const wire = unsignedSolTransfer({ from: wallet.address, to: newSolanaKey().address, lamports: 1n, blockhash: BLOCKHASH, extraInstructions: [verify] });
    const effects = solanaEffects(decodeSolanaTransaction(wire), wallet.address);
    expect(effects.maxFee).toBe(5000n + 2n * 5000n);
    expect(effects.calls).toEqual([
      {
        program: 'Ed25519SigVerify111111111111111111111111111',
        discriminator: '',
        data: '0200',
        accounts: [],
        value: 0n,
        description: 'call Ed25519SigVerify111111111111111111111111111',
      },
    ]);
  });
});

describe('signers', () => {
  test('a wallet that is not a required signer is WAIAAS_WALLET_NOT_A_SIGNER, even when it is an account of the transaction', () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey();
    const tx = decodeSolanaTransaction(unsignedSolTransfer({ from: wallet.address, to: recipient.address, lamports: 1n, blockhash: BLOCKHASH }));
    expect(signerIndex(tx, wallet.address)).toBe(0);
    expect(reasonOf(() => signerIndex(tx, recipient.address))).toBe('WAIAAS_WALLET_NOT_A_SIGNER');
    expect(reasonOf(() => signerIndex(tx, newSolanaKey().address))).toBe('WAIAAS_WALLET_NOT_A_SIGNER');
  });

  test('assemble puts the signature in its slot only, and refuses a bad slot or signature length', () => {
    const wallet = newSolanaKey();
    const tx = decodeSolanaTransaction(unsignedSolTransfer({ from: wallet.address, to: newSolanaKey().address, lamports: 1n, blockhash: BLOCKHASH }));
    const sig = new Uint8Array(64).fill(7);
    const out = assembleSolanaTransaction(tx, 0, sig);
    expect(out.length).toBe(tx.bytes.length);
    expect(out.subarray(1, 65)).toEqual(sig);
    expect(out.subarray(65)).toEqual(tx.messageBytes);
    expect(tx.signatures[0]).toEqual(new Uint8Array(64));
    expect(reasonOf(() => assembleSolanaTransaction(tx, 1, sig))).toBe('WAIAAS_INTERNAL');
    expect(reasonOf(() => assembleSolanaTransaction(tx, 0, new Uint8Array(63)))).toBe('WAIAAS_INTERNAL');
  });

  test('the decoded transaction does not change when the caller reuses its buffer', () => {
    const wallet = newSolanaKey();
    const wire = unsignedSolTransfer({ from: wallet.address, to: newSolanaKey().address, lamports: 1n, blockhash: BLOCKHASH });
    const buffer = Buffer.from(wire);
    const tx: DecodedSolanaTransaction = decodeSolanaTransaction(buffer);
    buffer.fill(0xff);
    expect(tx.bytes).toEqual(wire);
    expect(tx.messageBytes).toEqual(wire.subarray(65));
  });
});

describe('refusals', () => {
  const wallet = newSolanaKey();
  const recipient = newSolanaKey().address;
  const valid = unsignedSolTransfer({ from: wallet.address, to: recipient, lamports: 1n, blockhash: BLOCKHASH, version: 'legacy' });

  test('empty bytes are malformed; more than 1232 bytes are too large', () => {
    expect(reasonOf(() => decodeSolanaTransaction(new Uint8Array(0)))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeSolanaTransaction(new Uint8Array(1233)))).toBe('WAIAAS_TX_TOO_LARGE');
    expect(reasonOf(() => decodeSolanaTransaction('not bytes' as unknown as Uint8Array))).toBe('WAIAAS_TX_MALFORMED');
  });

  test('a hand-built message like the one kit builds decodes; each structural defect in it is malformed', () => {
    const base = plainMessage(wallet.address, recipient);
    expect(solanaEffects(decodeSolanaTransaction(wireOf(base)), wallet.address).outflows).toEqual([native(5n, recipient)]);
    const ix = base.instructions[0]!;
    const variants: Record<string, SolanaCompiledMessage> = {
      'program index out of range': { ...base, instructions: [{ ...ix, programAddressIndex: 3 }] },
      'program is the fee payer': { ...base, instructions: [{ ...ix, programAddressIndex: 0 }] },
      'account index out of range': { ...base, instructions: [{ ...ix, accountIndices: [0, 3] }] },
      'no signer': { ...base, header: { ...base.header, numSignerAccounts: 0 } },
      'read-only fee payer': { ...base, header: { ...base.header, numReadonlySignerAccounts: 1 } },
      'header exceeds accounts': { ...base, header: { ...base.header, numReadonlyNonSignerAccounts: 3 } },
      'duplicate account': { ...base, staticAccounts: [address(wallet.address), address(wallet.address), address(SYSTEM_PROGRAM)] },
      'program from a lookup table': {
        ...base,
        version: 0,
        addressTableLookups: [{ lookupTableAddress: address(newSolanaKey().address), writableIndexes: [], readonlyIndexes: [0] }],
        instructions: [{ ...ix, programAddressIndex: 3 }],
      } as SolanaCompiledMessage,
      'empty lookup': {
        ...base,
        version: 0,
        addressTableLookups: [{ lookupTableAddress: address(newSolanaKey().address), writableIndexes: [], readonlyIndexes: [] }],
      } as SolanaCompiledMessage,
    };
    for (const [name, message] of Object.entries(variants)) {
      expect(reasonOf(() => decodeSolanaTransaction(wireOf(message, 1))), name).toBe('WAIAAS_TX_MALFORMED');
    }
    expect(reasonOf(() => decodeSolanaTransaction(wireOf(base, 2))), 'too many slots').toBe('WAIAAS_TX_MALFORMED');
  });

  test('trailing bytes after the message are malformed', () => {
    expect(reasonOf(() => decodeSolanaTransaction(new Uint8Array([...valid, 0])))).toBe('WAIAAS_TX_MALFORMED');
  });

  test('over-long compact-u16 lengths decode in kit but are refused as not canonical', () => {
    // Signature count 1 written as 0x81 0x00.
    const longCount = new Uint8Array([0x81, 0x00, ...valid.subarray(1)]);
    expect(reasonOf(() => decodeSolanaTransaction(longCount))).toBe('WAIAAS_TX_NOT_CANONICAL');
    // Static account count (after the 3 header bytes) written in two bytes.
    const at = 65 + 3;
    const count = valid[at]!;
    const longAccounts = new Uint8Array([...valid.subarray(0, at), count | 0x80, 0x00, ...valid.subarray(at + 1)]);
    expect(reasonOf(() => decodeSolanaTransaction(longAccounts))).toBe('WAIAAS_TX_NOT_CANONICAL');
  });

  test('a v1 (message-first) transaction, which kit would accept, is refused', () => {
    const message = appendTransactionMessageInstructions(
      [transferTo(wallet.address, recipient, 1n)],
      setTransactionMessageLifetimeUsingBlockhash(
        { blockhash: BLOCKHASH as Blockhash, lastValidBlockHeight: 1n },
        setTransactionMessageFeePayer(address(wallet.address), createTransactionMessage({ version: 1 })),
      ),
    );
    const v1 = new Uint8Array(getTransactionEncoder().encode(compileTransaction(message)));
    expect(v1[0]! & 0x80).toBe(0x80);
    expect(reasonOf(() => decodeSolanaTransaction(v1))).toBe('WAIAAS_TX_MALFORMED');
    // The v1 message placed in a signatures-first envelope is refused too.
    const inner = new Uint8Array(compileTransaction(message).messageBytes);
    expect(reasonOf(() => decodeSolanaTransaction(new Uint8Array([1, ...new Uint8Array(64), ...inner])))).toBe('WAIAAS_TX_MALFORMED');
  });

  test('every error is a WaiaasError with a short message and string metadata', () => {
    try {
      decodeSolanaTransaction(valid.subarray(0, 100));
      throw new Error('unreachable');
    } catch (e) {
      expect(e).toBeInstanceOf(WaiaasError);
      const err = e as WaiaasError;
      expect(err.message.length).toBeLessThan(100);
      for (const v of Object.values(err.metadata)) expect(typeof v).toBe('string');
    }
  });
});
