// SPL Token / Token-2022 effects: each instruction the decoder types is decoded to its exact outflow or grant, then
// signed and executed in LiteSVM against the real token programs, asserting the on-chain result: the decoder reads the
// same bytes the chain executes. Lookup-table variants show table entries stay `lookup:…` placeholders.
import { ed25519 } from '@noble/curves/ed25519.js';
import { AccountRole, address, type Instruction } from '@solana/kit';
import { describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import type { Effects } from '../../server/policy/effects.ts';
import {
  ASSOCIATED_TOKEN_PROGRAM,
  assembleSolanaTransaction,
  associatedTokenAddress,
  decodeSolanaTransaction,
  signerIndex,
  solanaEffects,
  SPL_UNLIMITED_AMOUNT,
  SYSTEM_PROGRAM,
  TOKEN_2022_PROGRAM,
  TOKEN_PROGRAM,
} from '../../server/chains/solana/index.ts';
import {
  createMint,
  createSvm,
  createTokenAccount,
  executeSolana,
  latestBlockhash,
  newSolanaKey,
  readMint,
  readTokenAccount,
  setLookupTable,
  SPL_AUTHORITY,
  splApprove,
  splBurn,
  splCloseAccount,
  splRevoke,
  splSetAuthority,
  splTransfer,
  splTransferChecked,
  TOKEN_ACCOUNT_LAMPORTS,
  tokenBalance,
  unsignedSplApprove,
  unsignedSplApproveChecked,
  unsignedSplTransfer,
  unsignedSplTransferChecked,
  unsignedTransaction,
} from '../support/litesvm.ts';

const BLOCKHASH = latestBlockhash(createSvm());
const SOL = 1_000_000_000n;
const SUPPLY = 1_000_000_000n;

type Key = ReturnType<typeof newSolanaKey>;

/** The server's pipeline for each signer in turn: decode, find the slot, sign the message bytes, assemble. */
function sign(wire: Uint8Array, ...keys: Key[]): Uint8Array {
  return keys.reduce((bytes, key) => {
    const tx = decodeSolanaTransaction(bytes);
    return assembleSolanaTransaction(tx, signerIndex(tx, key.address), ed25519.sign(tx.messageBytes, key.secretKey));
  }, wire);
}

function effectsOf(wire: Uint8Array, wallet: string): Effects {
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

async function reasonOfAsync(fn: () => Promise<unknown>): Promise<[Reason, Record<string, string>]> {
  try {
    await fn();
  } catch (e) {
    if (isWaiaasError(e)) return [e.reason, e.metadata];
    throw e;
  }
  throw new Error('expected a WaiaasError, nothing was thrown');
}

/** JSON of the effects, bigints as strings: for asserting that an address appears nowhere in them. */
function dump(effects: Effects): string {
  return JSON.stringify(effects, (_, v) => (typeof v === 'bigint' ? String(v) : v));
}

/**
 * A LiteSVM with a mint (6 decimals unless given), the wallet's associated token account holding the whole supply,
 * and a recipient's empty associated token account, all under `program`.
 */
async function setup(program = TOKEN_PROGRAM, decimals = 6) {
  const svm = createSvm();
  const wallet = newSolanaKey();
  const mintAuthority = newSolanaKey();
  const mint = newSolanaKey().address;
  const recipient = newSolanaKey().address;
  const source = await associatedTokenAddress(wallet.address, mint, program);
  const destination = await associatedTokenAddress(recipient, mint, program);
  createMint(svm, { mint, decimals, authority: mintAuthority.address, supply: SUPPLY, program });
  createTokenAccount(svm, { address: source, mint, owner: wallet.address, amount: SUPPLY, program });
  createTokenAccount(svm, { address: destination, mint, owner: recipient, amount: 0n, program });
  const execute = (wire: Uint8Array, ...signers: Key[]) => {
    const run = executeSolana({ svm, signedTx: sign(wire, wallet, ...signers), fund: { [wallet.address]: SOL } });
    expect(run.error).toBeUndefined();
    expect(run.ok).toBe(true);
    return run;
  };
  return { svm, program, decimals, wallet, mintAuthority, mint, recipient, source, destination, execute };
}

describe('SPL TransferChecked', () => {
  for (const [name, program, version] of [
    ['SPL Token, v0', TOKEN_PROGRAM, 0],
    ['Token-2022, legacy', TOKEN_2022_PROGRAM, 'legacy'],
  ] as const) {
    test(`${name}: an outflow of spl:<mint> with decimals to the destination token account, and the chain moves exactly that`, async () => {
      const s = await setup(program);
      const wire = unsignedSplTransferChecked({
        program, version, blockhash: BLOCKHASH,
        source: s.source, mint: s.mint, destination: s.destination, authority: s.wallet.address, amount: 250_000n, decimals: 6,
      });
      expect(effectsOf(wire, s.wallet.address)).toEqual({
        chain: 'solana',
        outflows: [
          {
            asset: `spl:${s.mint}`,
            amount: 250_000n,
            decimals: 6,
            recipient: s.destination,
            recipientKind: 'token_account',
            from: s.source,
            source: 'SPL.TransferChecked',
          },
        ],
        grants: [],
        calls: [],
        flags: [],
        maxFee: 5_000n,
      });
      s.execute(wire);
      expect(tokenBalance(s.svm, s.destination)).toBe(250_000n);
      expect(tokenBalance(s.svm, s.source)).toBe(SUPPLY - 250_000n);
      expect(readTokenAccount(s.svm, s.destination)?.program).toBe(program);
    });
  }

  test('with destination and mint loaded from a lookup table, the recipient is the table entry and the asset unknown', async () => {
    const s = await setup();
    const table = newSolanaKey().address;
    const wire = unsignedSplTransferChecked({
      blockhash: BLOCKHASH, lookupTables: { [table]: [s.destination, s.mint] },
      source: s.source, mint: s.mint, destination: s.destination, authority: s.wallet.address, amount: 77n, decimals: 6,
    });
    const effects = effectsOf(wire, s.wallet.address);
    expect(effects.flags).toEqual(['ADDRESS_LOOKUP_TABLE']);
    expect(effects.outflows).toEqual([
      // The destination is writable (entry 0 loaded first), the mint read-only (entry 1).
      { asset: 'unknown', amount: 77n, decimals: 6, recipient: `lookup:${table}:0`, recipientKind: 'token_account', from: s.source, source: 'SPL.TransferChecked' },
    ]);
    expect(dump(effects)).not.toContain(s.destination);
    expect(dump(effects)).not.toContain(s.mint);

    setLookupTable(s.svm, table, [s.destination, s.mint]);
    s.execute(wire);
    expect(tokenBalance(s.svm, s.destination)).toBe(77n);
  });

  test('a delegate spending from someone else\'s account: the outflow names the source it leaves', async () => {
    const s = await setup();
    const delegate = newSolanaKey();
    createTokenAccount(s.svm, { address: s.source, mint: s.mint, owner: s.wallet.address, amount: SUPPLY, delegate: delegate.address, delegatedAmount: 1_000n });
    const wire = unsignedSplTransferChecked({
      blockhash: BLOCKHASH, feePayer: s.wallet.address,
      source: s.source, mint: s.mint, destination: s.destination, authority: delegate.address, amount: 600n, decimals: 6,
    });
    const effects = effectsOf(wire, delegate.address);
    expect(effects.outflows).toEqual([
      { asset: `spl:${s.mint}`, amount: 600n, decimals: 6, recipient: s.destination, recipientKind: 'token_account', from: s.source, source: 'SPL.TransferChecked' },
    ]);
    s.execute(wire, delegate);
    expect(tokenBalance(s.svm, s.destination)).toBe(600n);
    expect(readTokenAccount(s.svm, s.source)?.delegatedAmount).toBe(400n);
  });
});

describe('SPL Transfer (unchecked)', () => {
  for (const program of [TOKEN_PROGRAM, TOKEN_2022_PROGRAM]) {
    test(`${program === TOKEN_PROGRAM ? 'SPL Token' : 'Token-2022'}: an outflow of an unknown asset (the bytes name no mint), and the chain moves it`, async () => {
      const s = await setup(program);
      const wire = unsignedSplTransfer({
        program, blockhash: BLOCKHASH,
        source: s.source, destination: s.destination, authority: s.wallet.address, amount: 31_337n,
      });
      expect(effectsOf(wire, s.wallet.address).outflows).toEqual([
        { asset: 'unknown', amount: 31_337n, recipient: s.destination, recipientKind: 'token_account', from: s.source, source: 'SPL.Transfer' },
      ]);
      s.execute(wire);
      expect(tokenBalance(s.svm, s.destination)).toBe(31_337n);
    });
  }
});

describe('SPL Approve / ApproveChecked / Revoke', () => {
  test('Approve is a token_approval of an unknown asset to the delegate for the amount, and the chain sets that delegate', async () => {
    const s = await setup();
    const delegate = newSolanaKey().address;
    const wire = unsignedSplApprove({ blockhash: BLOCKHASH, source: s.source, delegate, owner: s.wallet.address, amount: 5_000n });
    const effects = effectsOf(wire, s.wallet.address);
    expect(effects.grants).toEqual([
      { kind: 'token_approval', asset: 'unknown', spender: delegate, amount: 5_000n, unlimited: false, source: 'SPL.Approve' },
    ]);
    expect(effects.outflows).toEqual([]);
    expect(effects.calls).toEqual([]);
    s.execute(wire);
    expect(readTokenAccount(s.svm, s.source)).toMatchObject({ delegate, delegatedAmount: 5_000n, amount: SUPPLY });
  });

  test('Approve of u64::MAX is unlimited; Approve of 0 only takes power away (revoke)', async () => {
    const s = await setup();
    const delegate = newSolanaKey().address;
    const max = unsignedSplApprove({ blockhash: BLOCKHASH, source: s.source, delegate, owner: s.wallet.address, amount: SPL_UNLIMITED_AMOUNT });
    expect(effectsOf(max, s.wallet.address).grants).toEqual([
      { kind: 'token_approval', asset: 'unknown', spender: delegate, amount: 2n ** 64n - 1n, unlimited: true, source: 'SPL.Approve' },
    ]);
    s.execute(max);
    expect(readTokenAccount(s.svm, s.source)?.delegatedAmount).toBe(2n ** 64n - 1n);
    const zero = unsignedSplApprove({ blockhash: BLOCKHASH, source: s.source, delegate, owner: s.wallet.address, amount: 0n });
    expect(effectsOf(zero, s.wallet.address).grants).toEqual([
      { kind: 'token_approval', asset: 'unknown', spender: delegate, amount: 0n, unlimited: false, revoke: true, source: 'SPL.Approve' },
    ]);
    s.execute(zero);
    expect(readTokenAccount(s.svm, s.source)?.delegatedAmount).toBe(0n);
  });

  test('ApproveChecked names the mint (Token-2022), and the chain sets the delegate', async () => {
    const s = await setup(TOKEN_2022_PROGRAM, 9);
    const delegate = newSolanaKey().address;
    const wire = unsignedSplApproveChecked({
      program: TOKEN_2022_PROGRAM, blockhash: BLOCKHASH,
      source: s.source, mint: s.mint, delegate, owner: s.wallet.address, amount: 1_234n, decimals: 9,
    });
    expect(effectsOf(wire, s.wallet.address).grants).toEqual([
      { kind: 'token_approval', asset: `spl:${s.mint}`, spender: delegate, amount: 1_234n, unlimited: false, source: 'SPL.ApproveChecked' },
    ]);
    s.execute(wire);
    expect(readTokenAccount(s.svm, s.source)).toMatchObject({ delegate, delegatedAmount: 1_234n });
  });

  test('with the delegate loaded from a lookup table, the spender is the table entry — yet the chain delegates to the real key', async () => {
    const s = await setup();
    const delegate = newSolanaKey().address;
    const table = newSolanaKey().address;
    const wire = unsignedSplApprove({
      blockhash: BLOCKHASH, lookupTables: { [table]: [delegate] },
      source: s.source, delegate, owner: s.wallet.address, amount: 9n,
    });
    const effects = effectsOf(wire, s.wallet.address);
    expect(effects.grants).toEqual([
      { kind: 'token_approval', asset: 'unknown', spender: `lookup:${table}:0`, amount: 9n, unlimited: false, source: 'SPL.Approve' },
    ]);
    expect(dump(effects)).not.toContain(delegate);
    setLookupTable(s.svm, table, [delegate]);
    s.execute(wire);
    expect(readTokenAccount(s.svm, s.source)?.delegate).toBe(delegate);
  });

  test('Revoke is a revoking token_approval (amount 0, not unlimited), and the chain clears the delegate', async () => {
    const s = await setup();
    const delegate = newSolanaKey().address;
    createTokenAccount(s.svm, { address: s.source, mint: s.mint, owner: s.wallet.address, amount: SUPPLY, delegate, delegatedAmount: 50n });
    const wire = unsignedTransaction({ feePayer: s.wallet.address, blockhash: BLOCKHASH, instructions: [splRevoke({ source: s.source, owner: s.wallet.address })] });
    expect(effectsOf(wire, s.wallet.address).grants).toEqual([
      { kind: 'token_approval', asset: 'unknown', spender: '', amount: 0n, unlimited: false, revoke: true, source: 'SPL.Revoke' },
    ]);
    s.execute(wire);
    const account = readTokenAccount(s.svm, s.source);
    expect(account?.delegate).toBeUndefined();
    expect(account?.delegatedAmount).toBe(0n);
  });
});

describe('SPL SetAuthority', () => {
  test('a new account owner is an unlimited set_authority grant to it, and the chain makes it the owner', async () => {
    const s = await setup();
    const newOwner = newSolanaKey().address;
    const wire = unsignedTransaction({
      feePayer: s.wallet.address, blockhash: BLOCKHASH,
      instructions: [splSetAuthority({ account: s.source, currentAuthority: s.wallet.address, authorityType: SPL_AUTHORITY.AccountOwner, newAuthority: newOwner })],
    });
    expect(effectsOf(wire, s.wallet.address)).toEqual({
      chain: 'solana',
      outflows: [],
      grants: [{ kind: 'set_authority', asset: 'unknown', spender: newOwner, amount: null, unlimited: true, source: 'SPL.SetAuthority' }],
      calls: [],
      flags: [],
      maxFee: 5_000n,
    });
    s.execute(wire);
    expect(readTokenAccount(s.svm, s.source)?.owner).toBe(newOwner);
  });

  test('removing the mint authority (None) is a revoking set_authority grant with no spender, and the chain removes it', async () => {
    const s = await setup(TOKEN_2022_PROGRAM);
    const wire = unsignedTransaction({
      feePayer: s.wallet.address, blockhash: BLOCKHASH,
      instructions: [splSetAuthority({ program: TOKEN_2022_PROGRAM, account: s.mint, currentAuthority: s.mintAuthority.address, authorityType: SPL_AUTHORITY.MintTokens })],
    });
    expect(effectsOf(wire, s.wallet.address).grants).toEqual([
      { kind: 'set_authority', asset: 'unknown', spender: '', amount: null, unlimited: true, revoke: true, source: 'SPL.SetAuthority' },
    ]);
    expect(readMint(s.svm, s.mint)?.mintAuthority).toBe(s.mintAuthority.address);
    s.execute(wire, s.mintAuthority);
    expect(readMint(s.svm, s.mint)?.mintAuthority).toBeUndefined();
  });
});

describe('SPL CloseAccount', () => {
  test('is an unlimited close_account grant of native to the destination, and the chain moves the account\'s lamports there', async () => {
    const s = await setup();
    const empty = newSolanaKey().address;
    const destination = newSolanaKey().address;
    createTokenAccount(s.svm, { address: empty, mint: s.mint, owner: s.wallet.address, amount: 0n });
    const wire = unsignedTransaction({
      feePayer: s.wallet.address, blockhash: BLOCKHASH, version: 'legacy',
      instructions: [splCloseAccount({ account: empty, destination, owner: s.wallet.address })],
    });
    expect(effectsOf(wire, s.wallet.address).grants).toEqual([
      { kind: 'close_account', asset: 'native', spender: destination, amount: null, unlimited: true, source: 'SPL.CloseAccount' },
    ]);
    const run = s.execute(wire);
    expect(run.balances(destination)).toBe(TOKEN_ACCOUNT_LAMPORTS);
    expect(run.balances(empty)).toBe(0n);
    expect(readTokenAccount(s.svm, empty)).toBeUndefined();
  });

  test('with the destination loaded from a lookup table, the spender is the table entry — yet the lamports go to the real key', async () => {
    const s = await setup(TOKEN_2022_PROGRAM);
    const empty = newSolanaKey().address;
    const destination = newSolanaKey().address;
    const table = newSolanaKey().address;
    createTokenAccount(s.svm, { address: empty, mint: s.mint, owner: s.wallet.address, amount: 0n, program: TOKEN_2022_PROGRAM });
    const wire = unsignedTransaction({
      feePayer: s.wallet.address, blockhash: BLOCKHASH, lookupTables: { [table]: [destination] },
      instructions: [splCloseAccount({ program: TOKEN_2022_PROGRAM, account: empty, destination, owner: s.wallet.address })],
    });
    const effects = effectsOf(wire, s.wallet.address);
    expect(effects.grants).toEqual([
      { kind: 'close_account', asset: 'native', spender: `lookup:${table}:0`, amount: null, unlimited: true, source: 'SPL.CloseAccount' },
    ]);
    expect(dump(effects)).not.toContain(destination);
    setLookupTable(s.svm, table, [destination]);
    const run = s.execute(wire);
    expect(run.balances(destination)).toBe(TOKEN_ACCOUNT_LAMPORTS);
  });
});

describe('SPL Burn / BurnChecked', () => {
  test('Burn is a burn outflow of spl:<mint> with no recipient, and the chain lowers balance and supply', async () => {
    const s = await setup();
    const wire = unsignedTransaction({
      feePayer: s.wallet.address, blockhash: BLOCKHASH,
      instructions: [splBurn({ account: s.source, mint: s.mint, authority: s.wallet.address, amount: 1_000n })],
    });
    expect(effectsOf(wire, s.wallet.address).outflows).toEqual([
      { asset: `spl:${s.mint}`, amount: 1_000n, recipient: '', recipientKind: 'burn', from: s.source, source: 'SPL.Burn' },
    ]);
    s.execute(wire);
    expect(tokenBalance(s.svm, s.source)).toBe(SUPPLY - 1_000n);
    expect(readMint(s.svm, s.mint)?.supply).toBe(SUPPLY - 1_000n);
  });

  test('BurnChecked carries the decimals (Token-2022), and the chain burns', async () => {
    const s = await setup(TOKEN_2022_PROGRAM, 2);
    const wire = unsignedTransaction({
      feePayer: s.wallet.address, blockhash: BLOCKHASH,
      instructions: [splBurn({ program: TOKEN_2022_PROGRAM, account: s.source, mint: s.mint, authority: s.wallet.address, amount: 5n, decimals: 2 })],
    });
    expect(effectsOf(wire, s.wallet.address).outflows).toEqual([
      { asset: `spl:${s.mint}`, amount: 5n, decimals: 2, recipient: '', recipientKind: 'burn', from: s.source, source: 'SPL.BurnChecked' },
    ]);
    s.execute(wire);
    expect(readMint(s.svm, s.mint)?.supply).toBe(SUPPLY - 5n);
  });
});

describe('several token instructions in one transaction', () => {
  test('give one effect each, in order, alongside the native fee; nothing is merged', async () => {
    const s = await setup();
    const delegate = newSolanaKey().address;
    const wire = unsignedTransaction({
      feePayer: s.wallet.address, blockhash: BLOCKHASH,
      instructions: [
        splTransfer({ source: s.source, destination: s.destination, authority: s.wallet.address, amount: 1n }),
        splTransferChecked({ source: s.source, mint: s.mint, destination: s.destination, authority: s.wallet.address, amount: 2n, decimals: 6 }),
        splApprove({ source: s.source, delegate, owner: s.wallet.address, amount: 3n }),
      ],
    });
    const effects = effectsOf(wire, s.wallet.address);
    expect(effects.outflows.map((o) => [o.source, o.amount])).toEqual([['SPL.Transfer', 1n], ['SPL.TransferChecked', 2n]]);
    expect(effects.grants.map((g) => [g.source, g.amount])).toEqual([['SPL.Approve', 3n]]);
    s.execute(wire);
    expect(tokenBalance(s.svm, s.destination)).toBe(3n);
  });
});

describe('SPL instructions without a typed effect', () => {
  test('MintTo, SyncNative, a Token-2022 extension and p-token Batch are Calls with 1-byte discriminators', () => {
    const wallet = newSolanaKey();
    const mint = newSolanaKey().address;
    const account = newSolanaKey().address;
    const ix = (program: string, data: number[], accounts: string[]): Instruction => ({
      programAddress: address(program),
      data: new Uint8Array(data),
      accounts: accounts.map((a) => ({ address: address(a), role: a === wallet.address ? AccountRole.READONLY_SIGNER : AccountRole.WRITABLE })),
    });
    const wire = unsignedTransaction({
      feePayer: wallet.address, blockhash: BLOCKHASH,
      instructions: [
        ix(TOKEN_PROGRAM, [7, 1, 0, 0, 0, 0, 0, 0, 0], [mint, account, wallet.address]),
        ix(TOKEN_PROGRAM, [17], [account]),
        ix(TOKEN_2022_PROGRAM, [26, 1], [account]),
        ix(TOKEN_PROGRAM, [255, 0], [account]),
      ],
    });
    const effects = effectsOf(wire, wallet.address);
    expect(effects.outflows).toEqual([]);
    expect(effects.grants).toEqual([]);
    expect(effects.calls).toEqual([
      { program: TOKEN_PROGRAM, discriminator: '07', data: '070100000000000000', accounts: [mint, account, wallet.address], value: 0n, description: 'Token.MintTo' },
      { program: TOKEN_PROGRAM, discriminator: '11', data: '11', accounts: [account], value: 0n, description: 'Token.SyncNative' },
      { program: TOKEN_2022_PROGRAM, discriminator: '1a', data: '1a01', accounts: [account], value: 0n, description: 'Token2022.TransferFeeExtension' },
      { program: TOKEN_PROGRAM, discriminator: 'ff', data: 'ff00', accounts: [account], value: 0n, description: 'Token.Batch' },
    ]);
  });

  test('Associated Token Account Create (no data) and CreateIdempotent are Calls, and create exactly associatedTokenAddress', async () => {
    for (const program of [TOKEN_PROGRAM, TOKEN_2022_PROGRAM]) {
      const svm = createSvm();
      const wallet = newSolanaKey();
      const owner = newSolanaKey().address;
      const mint = newSolanaKey().address;
      createMint(svm, { mint, decimals: 0, program });
      const ata = await associatedTokenAddress(owner, mint, program);
      const metas = [
        { address: address(wallet.address), role: AccountRole.WRITABLE_SIGNER },
        { address: address(ata), role: AccountRole.WRITABLE },
        { address: address(owner), role: AccountRole.READONLY },
        { address: address(mint), role: AccountRole.READONLY },
        { address: address(SYSTEM_PROGRAM), role: AccountRole.READONLY },
        { address: address(program), role: AccountRole.READONLY },
      ];
      const create: Instruction = { programAddress: address(ASSOCIATED_TOKEN_PROGRAM), accounts: metas, data: new Uint8Array(0) };
      const idempotent: Instruction = { ...create, data: new Uint8Array([1]) };
      const wire = unsignedTransaction({ feePayer: wallet.address, blockhash: BLOCKHASH, instructions: [create, idempotent] });
      const accounts = [wallet.address, ata, owner, mint, SYSTEM_PROGRAM, program];
      expect(effectsOf(wire, wallet.address).calls).toEqual([
        { program: ASSOCIATED_TOKEN_PROGRAM, discriminator: '', data: '', accounts, value: 0n, description: 'AssociatedToken.Create' },
        { program: ASSOCIATED_TOKEN_PROGRAM, discriminator: '01', data: '01', accounts, value: 0n, description: 'AssociatedToken.CreateIdempotent' },
      ]);
      const run = executeSolana({ svm, signedTx: sign(wire, wallet), fund: { [wallet.address]: SOL } });
      expect(run.error).toBeUndefined();
      expect(readTokenAccount(svm, ata)).toMatchObject({ program, mint, owner, amount: 0n });
    }
  });
});

describe('malformed SPL instructions the decoder types', () => {
  const wallet = newSolanaKey();
  const a = newSolanaKey().address;
  const b = newSolanaKey().address;
  const c = newSolanaKey().address;

  function raw(data: number[], accounts: string[], program = TOKEN_PROGRAM): Instruction {
    return {
      programAddress: address(program),
      data: new Uint8Array(data),
      accounts: [...accounts.map((x) => ({ address: address(x), role: AccountRole.WRITABLE })), { address: address(wallet.address), role: AccountRole.READONLY_SIGNER }],
    };
  }
  const amount = [1, 0, 0, 0, 0, 0, 0, 0];

  test('are WAIAAS_TX_MALFORMED: short data, too few accounts, an invalid COption tag', () => {
    const key = [...new Uint8Array(32).fill(9)];
    const cases: Record<string, Instruction> = {
      'Transfer with a 7-byte amount': raw([3, ...amount.slice(0, 7)], [a, b]),
      'Transfer with no destination and no authority': { ...raw([3, ...amount], []), accounts: [{ address: address(a), role: AccountRole.WRITABLE }] },
      'TransferChecked without decimals': raw([12, ...amount], [a, b, c]),
      'TransferChecked with three accounts': { ...raw([12, ...amount, 6], [a, b]), accounts: [a, b, c].map((x) => ({ address: address(x), role: AccountRole.WRITABLE })) },
      'Token-2022 TransferChecked without decimals': raw([12, ...amount], [a, b, c], TOKEN_2022_PROGRAM),
      'Approve with no amount': raw([4], [a, b]),
      'ApproveChecked without decimals': raw([13, ...amount], [a, b, c]),
      'Burn with a short amount': raw([8, 1, 2], [a, b]),
      'BurnChecked without decimals': raw([15, ...amount], [a, b]),
      'SetAuthority without an option': raw([6, 2], [a]),
      'SetAuthority with option tag 2': raw([6, 2, 2, ...key], [a]),
      'SetAuthority Some without a full key': raw([6, 2, 1, ...key.slice(0, 31)], [a]),
      'CloseAccount without an owner': { ...raw([9], []), accounts: [a, b].map((x) => ({ address: address(x), role: AccountRole.WRITABLE })) },
      'Revoke without an owner': { ...raw([5], []), accounts: [{ address: address(a), role: AccountRole.WRITABLE }] },
    };
    for (const [name, ix] of Object.entries(cases)) {
      const wire = unsignedTransaction({ feePayer: wallet.address, blockhash: BLOCKHASH, instructions: [ix] });
      expect(() => decodeSolanaTransaction(wire), name).not.toThrow();
      expect(reasonOf(() => effectsOf(wire, wallet.address)), name).toBe('WAIAAS_TX_MALFORMED');
    }
  });

  test('trailing data after a known instruction is ignored, as the token programs ignore it, and the chain agrees', async () => {
    const s = await setup();
    const ix = splTransferChecked({ source: s.source, mint: s.mint, destination: s.destination, authority: s.wallet.address, amount: 10n, decimals: 6 });
    const padded = { ...ix, data: new Uint8Array([...(ix.data ?? []), 0xde, 0xad]) };
    const wire = unsignedTransaction({ feePayer: s.wallet.address, blockhash: BLOCKHASH, instructions: [padded] });
    expect(effectsOf(wire, s.wallet.address).outflows).toEqual([expect.objectContaining({ amount: 10n, decimals: 6, source: 'SPL.TransferChecked' })]);
    s.execute(wire);
    expect(tokenBalance(s.svm, s.destination)).toBe(10n);
  });

  test('a TransferChecked without decimals is refused by the chain too', async () => {
    const s = await setup();
    const ix = splTransferChecked({ source: s.source, mint: s.mint, destination: s.destination, authority: s.wallet.address, amount: 10n, decimals: 6 });
    const cut = { ...ix, data: (ix.data ?? new Uint8Array(0)).slice(0, 9) };
    const wire = unsignedTransaction({ feePayer: s.wallet.address, blockhash: BLOCKHASH, instructions: [cut] });
    const run = executeSolana({ svm: s.svm, signedTx: sign(wire, s.wallet), fund: { [s.wallet.address]: SOL } });
    expect(run.ok).toBe(false);
    expect(tokenBalance(s.svm, s.destination)).toBe(0n);
  });
});

describe('associatedTokenAddress', () => {
  test('differs per token program, and refuses anything that is not an address with the field it was given in', async () => {
    const owner = newSolanaKey().address;
    const mint = newSolanaKey().address;
    const classic = await associatedTokenAddress(owner, mint, TOKEN_PROGRAM);
    const t22 = await associatedTokenAddress(owner, mint, TOKEN_2022_PROGRAM);
    expect(classic).not.toBe(t22);
    expect(await associatedTokenAddress(owner, mint, TOKEN_PROGRAM)).toBe(classic);
    expect(await reasonOfAsync(() => associatedTokenAddress(`lookup:${owner}:0`, mint, TOKEN_PROGRAM))).toEqual(['WAIAAS_INVALID_ARGUMENT', { field: 'owner' }]);
    expect(await reasonOfAsync(() => associatedTokenAddress(owner, 'not-base58!', TOKEN_PROGRAM))).toEqual(['WAIAAS_INVALID_ARGUMENT', { field: 'mint' }]);
    expect(await reasonOfAsync(() => associatedTokenAddress(owner, mint, ''))).toEqual(['WAIAAS_INVALID_ARGUMENT', { field: 'tokenProgram' }]);
    expect(await reasonOfAsync(() => associatedTokenAddress(42 as unknown as string, mint, TOKEN_PROGRAM))).toEqual(['WAIAAS_INVALID_ARGUMENT', { field: 'owner' }]);
  });
});
