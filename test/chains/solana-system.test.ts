// System program effects beyond the plain Transfer: each instruction the decoder types is decoded to its exact
// outflow or grant, then signed and executed in LiteSVM to show the chain does exactly that with the same bytes.
import { ed25519 } from '@noble/curves/ed25519.js';
import { AccountRole, address, createAddressWithSeed, createNoopSigner, type Instruction } from '@solana/kit';
import {
  getAssignInstruction,
  getAssignWithSeedInstruction,
  getCreateAccountInstruction,
  getCreateAccountWithSeedInstruction,
  getTransferSolWithSeedInstruction,
  getWithdrawNonceAccountInstruction,
} from '@solana-program/system';
import { describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import {
  assembleSolanaTransaction,
  decodeSolanaTransaction,
  signerIndex,
  solanaEffects,
  SYSTEM_PROGRAM,
} from '../../server/chains/solana/index.ts';
import { createSvm, executeSolana, latestBlockhash, newSolanaKey, setLookupTable, unsignedTransaction } from '../support/litesvm.ts';

const BLOCKHASH = latestBlockhash(createSvm());
const SOL = 1_000_000_000n;

type Key = ReturnType<typeof newSolanaKey>;

/** The server's pipeline for each signer in turn: decode, find the slot, sign the message bytes, assemble. */
function sign(wire: Uint8Array, ...keys: Key[]): Uint8Array {
  return keys.reduce((bytes, key) => {
    const tx = decodeSolanaTransaction(bytes);
    return assembleSolanaTransaction(tx, signerIndex(tx, key.address), ed25519.sign(tx.messageBytes, key.secretKey));
  }, wire);
}

function effectsOf(wire: Uint8Array, wallet: string) {
  return solanaEffects(decodeSolanaTransaction(wire), wallet);
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

/** A one-instruction transaction paid by `feePayer`. */
function txOf(feePayer: string, ix: Instruction, version?: 'legacy' | 0): Uint8Array {
  return unsignedTransaction({ feePayer, instructions: [ix], blockhash: BLOCKHASH, ...(version ? { version } : {}) });
}

/** A raw System instruction with hand-written data, for lengths and values no client would produce. */
function rawSystem(data: number[] | Uint8Array, accounts: { address: string; role: AccountRole }[]): Instruction {
  return {
    programAddress: address(SYSTEM_PROGRAM),
    accounts: accounts.map((a) => ({ address: address(a.address), role: a.role })),
    data: new Uint8Array(data),
  };
}

function u64le(value: bigint): number[] {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, true);
  return [...out];
}

describe('System CreateAccount', () => {
  test('is a native outflow of its lamports to the new account; the chain creates it with that balance and owner', () => {
    const wallet = newSolanaKey();
    const fresh = newSolanaKey();
    const owner = newSolanaKey().address;
    const wire = txOf(
      wallet.address,
      getCreateAccountInstruction({
        payer: createNoopSigner(address(wallet.address)),
        newAccount: createNoopSigner(address(fresh.address)),
        lamports: 3_000_000n,
        space: 42,
        programAddress: address(owner),
      }),
    );
    expect(effectsOf(wire, wallet.address)).toEqual({
      chain: 'solana',
      outflows: [{ asset: 'native', amount: 3_000_000n, recipient: fresh.address, recipientKind: 'owner', source: 'System.CreateAccount' }],
      grants: [],
      calls: [],
      flags: [],
      maxFee: 10_000n,
    });

    const svm = createSvm();
    const run = executeSolana({ svm, signedTx: sign(wire, wallet, fresh), fund: { [wallet.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.balances(fresh.address)).toBe(3_000_000n);
    expect(run.balances(wallet.address)).toBe(SOL - 3_000_000n - 10_000n);
    const created = svm.getAccount(address(fresh.address));
    expect(created.exists && [created.programAddress, created.data.length]).toEqual([owner, 42]);
  });

  test('creating the wallet itself, paid by a co-signer, is an outflow from the payer and an assign grant of the wallet', () => {
    const wallet = newSolanaKey();
    const payer = newSolanaKey();
    const owner = newSolanaKey().address;
    const wire = txOf(
      payer.address,
      getCreateAccountInstruction({
        payer: createNoopSigner(address(payer.address)),
        newAccount: createNoopSigner(address(wallet.address)),
        lamports: 1_000n,
        space: 0,
        programAddress: address(owner),
      }),
    );
    const effects = effectsOf(wire, wallet.address);
    expect(effects.outflows).toEqual([
      { asset: 'native', amount: 1_000n, recipient: wallet.address, recipientKind: 'owner', from: payer.address, source: 'System.CreateAccount' },
    ]);
    expect(effects.grants).toEqual([
      { kind: 'assign', asset: 'native', spender: owner, amount: null, unlimited: true, source: 'System.CreateAccount' },
    ]);

    const svm = createSvm();
    const run = executeSolana({ svm, signedTx: sign(wire, payer, wallet), fund: { [payer.address]: SOL } });
    expect(run.error).toBeUndefined();
    const account = svm.getAccount(address(wallet.address));
    expect(account.exists && account.programAddress).toBe(owner);
  });
});

describe('System CreateAccountWithSeed', () => {
  test('is a native outflow to the derived account, and the chain funds exactly that address', async () => {
    const wallet = newSolanaKey();
    const owner = newSolanaKey().address;
    const seed = 'vault-1';
    const derived = await createAddressWithSeed({ baseAddress: address(wallet.address), programAddress: address(owner), seed });
    const wire = txOf(
      wallet.address,
      getCreateAccountWithSeedInstruction({
        payer: createNoopSigner(address(wallet.address)),
        newAccount: derived,
        baseAccount: createNoopSigner(address(wallet.address)),
        base: address(wallet.address),
        seed,
        amount: 2_500_000n,
        space: 8n,
        programAddress: address(owner),
      }),
      'legacy',
    );
    const effects = effectsOf(wire, wallet.address);
    expect(effects.outflows).toEqual([
      { asset: 'native', amount: 2_500_000n, recipient: derived, recipientKind: 'owner', source: 'System.CreateAccountWithSeed' },
    ]);
    expect(effects.grants).toEqual([]);
    expect(effects.calls).toEqual([]);

    const svm = createSvm();
    const run = executeSolana({ svm, signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.balances(derived)).toBe(2_500_000n);
    const account = svm.getAccount(derived);
    expect(account.exists && account.programAddress).toBe(owner);
  });
});

describe('System Assign', () => {
  test('is an unlimited assign grant to the new owner program, and the chain hands the account to it', () => {
    const wallet = newSolanaKey();
    const target = newSolanaKey();
    const owner = newSolanaKey().address;
    const wire = txOf(wallet.address, getAssignInstruction({ account: createNoopSigner(address(target.address)), programAddress: address(owner) }));
    expect(effectsOf(wire, wallet.address)).toEqual({
      chain: 'solana',
      outflows: [],
      grants: [{ kind: 'assign', asset: 'native', spender: owner, amount: null, unlimited: true, source: 'System.Assign' }],
      calls: [],
      flags: [],
      maxFee: 10_000n,
    });

    const svm = createSvm();
    const run = executeSolana({ svm, signedTx: sign(wire, wallet, target), fund: { [wallet.address]: SOL, [target.address]: 5_000n } });
    expect(run.error).toBeUndefined();
    const account = svm.getAccount(address(target.address));
    expect(account.exists && account.programAddress).toBe(owner);
  });

  test('AssignWithSeed is the same grant for a derived account, and the chain re-owns the derived account', async () => {
    const wallet = newSolanaKey();
    const owner = newSolanaKey().address;
    const seed = 'assign-me';
    // The derived address is computed with the new owner, as the System program checks it.
    const derived = await createAddressWithSeed({ baseAddress: address(wallet.address), programAddress: address(owner), seed });
    const wire = txOf(
      wallet.address,
      getAssignWithSeedInstruction({
        account: derived,
        baseAccount: createNoopSigner(address(wallet.address)),
        base: address(wallet.address),
        seed,
        programAddress: address(owner),
      }),
    );
    const effects = effectsOf(wire, wallet.address);
    expect(effects.grants).toEqual([
      { kind: 'assign', asset: 'native', spender: owner, amount: null, unlimited: true, source: 'System.AssignWithSeed' },
    ]);
    expect(effects.outflows).toEqual([]);
    expect(effects.calls).toEqual([]);

    const svm = createSvm();
    const run = executeSolana({ svm, signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL, [derived]: 7_000n } });
    expect(run.error).toBeUndefined();
    const account = svm.getAccount(derived);
    expect(account.exists && account.programAddress).toBe(owner);
  });
});

describe('System TransferWithSeed', () => {
  async function seeded(wallet: Key) {
    const seed = 'savings';
    const derived = await createAddressWithSeed({ baseAddress: address(wallet.address), programAddress: address(SYSTEM_PROGRAM), seed });
    return { seed, derived };
  }

  test('is a native outflow from the derived account to the recipient, and the chain moves exactly that', async () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const { seed, derived } = await seeded(wallet);
    const wire = txOf(
      wallet.address,
      getTransferSolWithSeedInstruction({
        source: derived,
        baseAccount: createNoopSigner(address(wallet.address)),
        destination: address(recipient),
        amount: 400_000n,
        fromSeed: seed,
        fromOwner: address(SYSTEM_PROGRAM),
      }),
    );
    expect(effectsOf(wire, wallet.address).outflows).toEqual([
      { asset: 'native', amount: 400_000n, recipient, recipientKind: 'owner', from: derived, source: 'System.TransferWithSeed' },
    ]);

    const run = executeSolana({ signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL, [derived]: 1_000_000n } });
    expect(run.error).toBeUndefined();
    expect(run.balances(recipient)).toBe(400_000n);
    expect(run.balances(derived)).toBe(600_000n);
    expect(run.balances(wallet.address)).toBe(SOL - 5_000n);
  });

  test('with the recipient loaded from a lookup table, the outflow names the table entry, never the address it holds', async () => {
    const wallet = newSolanaKey();
    const recipient = newSolanaKey().address;
    const table = newSolanaKey().address;
    const { seed, derived } = await seeded(wallet);
    const wire = unsignedTransaction({
      feePayer: wallet.address,
      blockhash: BLOCKHASH,
      lookupTables: { [table]: [recipient] },
      instructions: [
        getTransferSolWithSeedInstruction({
          source: derived,
          baseAccount: createNoopSigner(address(wallet.address)),
          destination: address(recipient),
          amount: 123_456n,
          fromSeed: seed,
          fromOwner: address(SYSTEM_PROGRAM),
        }),
      ],
    });
    const effects = effectsOf(wire, wallet.address);
    expect(effects.flags).toEqual(['ADDRESS_LOOKUP_TABLE']);
    expect(effects.outflows).toEqual([
      { asset: 'native', amount: 123_456n, recipient: `lookup:${table}:0`, recipientKind: 'owner', from: derived, source: 'System.TransferWithSeed' },
    ]);
    expect(JSON.stringify(effects, (_, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(recipient);

    const svm = createSvm();
    setLookupTable(svm, table, [recipient]);
    const run = executeSolana({ svm, signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL, [derived]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.balances(recipient)).toBe(123_456n);
  });
});

describe('other System instructions', () => {
  test('WithdrawNonceAccount moves lamports but has no typed effect here, so it is a Call needing a program rule', () => {
    const wallet = newSolanaKey();
    const nonce = newSolanaKey().address;
    const recipient = newSolanaKey().address;
    const wire = txOf(
      wallet.address,
      getWithdrawNonceAccountInstruction({
        nonceAccount: address(nonce),
        recipientAccount: address(recipient),
        nonceAuthority: createNoopSigner(address(wallet.address)),
        withdrawAmount: 9n,
      }),
    );
    const effects = effectsOf(wire, wallet.address);
    expect(effects.outflows).toEqual([]);
    expect(effects.calls).toEqual([
      {
        program: SYSTEM_PROGRAM,
        discriminator: '05000000',
        data: '050000000900000000000000',
        accounts: [nonce, recipient, 'SysvarRecentB1ockHashes11111111111111111111', 'SysvarRent111111111111111111111111111111111', wallet.address],
        value: 0n,
        description: 'System.WithdrawNonceAccount',
      },
    ]);
  });

  test('data shorter than a tag, or an unknown tag, is a Call with what is there', () => {
    const wallet = newSolanaKey();
    const signer = [{ address: wallet.address, role: AccountRole.WRITABLE_SIGNER }];
    expect(effectsOf(txOf(wallet.address, rawSystem([2, 0], signer)), wallet.address).calls).toEqual([
      { program: SYSTEM_PROGRAM, discriminator: '', data: '0200', accounts: [wallet.address], value: 0n, description: 'System.(no data)' },
    ]);
    expect(effectsOf(txOf(wallet.address, rawSystem([99, 0, 0, 0], signer)), wallet.address).calls).toEqual([
      { program: SYSTEM_PROGRAM, discriminator: '63000000', data: '63000000', accounts: [wallet.address], value: 0n, description: 'System.Unknown(99)' },
    ]);
  });
});

describe('malformed System instructions the decoder types', () => {
  const wallet = newSolanaKey();
  const other = newSolanaKey().address;
  const from = { address: wallet.address, role: AccountRole.WRITABLE_SIGNER };
  const to = { address: other, role: AccountRole.WRITABLE };
  const owner = [...new Uint8Array(32).fill(1)];

  test('are WAIAAS_TX_MALFORMED: too-short data, too few accounts, a seed longer than the data or not UTF-8', () => {
    const cases: Record<string, Instruction> = {
      'Transfer without its full amount': rawSystem([2, 0, 0, 0, 1, 0, 0, 0], [from, to]),
      'Transfer with only the source account': rawSystem([2, 0, 0, 0, ...u64le(1n)], [from]),
      'CreateAccount without its owner': rawSystem([0, 0, 0, 0, ...u64le(1n), ...u64le(0n)], [from, to]),
      'Assign with a short owner': rawSystem([1, 0, 0, 0, ...owner.slice(0, 31)], [from]),
      'Assign without an account': rawSystem([1, 0, 0, 0, ...owner], []),
      'TransferWithSeed with a seed past the end': rawSystem([11, 0, 0, 0, ...u64le(1n), ...u64le(40n), 65, 66], [from, from, to]),
      'TransferWithSeed with a u64::MAX seed length': rawSystem([11, 0, 0, 0, ...u64le(1n), ...u64le(2n ** 64n - 1n), ...owner], [from, from, to]),
      'TransferWithSeed with a non-UTF-8 seed': rawSystem([11, 0, 0, 0, ...u64le(1n), ...u64le(1n), 0xff, ...owner], [from, from, to]),
      'TransferWithSeed with two accounts': rawSystem([11, 0, 0, 0, ...u64le(1n), ...u64le(1n), 65, ...owner], [from, to]),
      'CreateAccountWithSeed cut inside the seed': rawSystem([3, 0, 0, 0, ...owner, ...u64le(5n), 65, 65], [from, to]),
      'AssignWithSeed without its owner': rawSystem([10, 0, 0, 0, ...owner, ...u64le(1n), 65], [to, from]),
    };
    for (const [name, ix] of Object.entries(cases)) {
      const wire = txOf(wallet.address, ix);
      // The transaction itself is well formed: only the instruction's effects cannot be read.
      expect(() => decodeSolanaTransaction(wire), name).not.toThrow();
      expect(reasonOf(() => effectsOf(wire, wallet.address)), name).toBe('WAIAAS_TX_MALFORMED');
    }
  });

  test('a Transfer without its full amount is refused by the chain too', () => {
    const wire = txOf(wallet.address, rawSystem([2, 0, 0, 0, 1, 0, 0, 0], [from, to]));
    const run = executeSolana({ signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL } });
    expect(run.ok).toBe(false);
    expect(run.balances(other)).toBe(0n);
  });
});
