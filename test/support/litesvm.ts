/**
 * Test support for Solana: build unsigned wire transactions with @solana/kit (System transfers, SPL Token / Token-2022
 * instructions written byte by byte from the programs' layouts), set up mint and token accounts directly in a LiteSVM
 * (an in-process Solana runtime with signature verification and the real SPL programs), and execute signed
 * transactions there to prove that what the server decoded and signed is what the chain runs.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import {
  AccountRole,
  address,
  appendTransactionMessageInstructions,
  compileTransaction,
  compressTransactionMessageUsingAddressLookupTables,
  createNoopSigner,
  createTransactionMessage,
  getAddressDecoder,
  getAddressEncoder,
  getTransactionDecoder,
  getTransactionEncoder,
  lamports,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  type AccountMeta,
  type Address,
  type Blockhash,
  type Instruction,
} from '@solana/kit';
import { getTransferSolInstruction } from '@solana-program/system';
import { FailedTransactionMetadata, LiteSVM, Rent } from 'litesvm';

const SYSTEM_PROGRAM = address('11111111111111111111111111111111');
const ADDRESS_LOOKUP_TABLE_PROGRAM = address('AddressLookupTab1e1111111111111111111111111');
/** Address lookup table accounts start with a 56-byte metadata header, then 32-byte addresses. */
const LOOKUP_TABLE_META_BYTES = 56;

/**
 * A fresh LiteSVM with the standard builtins, sysvars and SPL programs, and rent set to zero: a transfer of any amount
 * may then create its recipient. Rent exemption is a runtime rule the signer has no part in, and tests that send a few
 * lamports to a new address should prove the signature, not trip over the 890 880-lamport minimum.
 */
export function createSvm(): LiteSVM {
  const svm = new LiteSVM();
  const rent = svm.getRent();
  svm.setRent(new Rent(0n, rent.exemptionThreshold, rent.burnPercent));
  return svm;
}

/**
 * The blockhash a transaction must carry to be accepted by `svm`. A fresh LiteSVM always starts from the same one, so
 * a transaction built with `latestBlockhash(createSvm())` also runs in the fresh svm `executeSolana` makes.
 */
export function latestBlockhash(svm: LiteSVM): string {
  return svm.latestBlockhash();
}

/** A random Ed25519 key pair and its Solana address. */
export function newSolanaKey(): { secretKey: Uint8Array; publicKey: Uint8Array; address: string } {
  const secretKey = ed25519.utils.randomSecretKey();
  const publicKey = ed25519.getPublicKey(secretKey);
  return { secretKey, publicKey, address: getAddressDecoder().decode(publicKey) };
}

/** Result of executing a transaction in LiteSVM. */
export interface SolanaExecution {
  ok: boolean;
  error?: string;
  /** Lamports held by `addr` after the transaction (0 for an account that does not exist). */
  balances: (addr: string) => bigint;
  logs: string[];
}

/**
 * Executes a signed wire transaction. `fund` sets the exact lamport balance of system-owned accounts first. Without an
 * `svm` a fresh one is made, whose blockhash is the deterministic `latestBlockhash(createSvm())`.
 */
export function executeSolana(opts: { signedTx: Uint8Array; fund: Record<string, bigint>; svm?: LiteSVM }): SolanaExecution {
  const svm = opts.svm ?? createSvm();
  for (const [addr, balance] of Object.entries(opts.fund)) {
    svm.setAccount({
      address: address(addr),
      lamports: lamports(balance),
      data: new Uint8Array(0),
      executable: false,
      programAddress: SYSTEM_PROGRAM,
      space: 0n,
    });
  }
  const balances = (addr: string): bigint => svm.getBalance(address(addr)) ?? 0n;
  let tx;
  try {
    tx = getTransactionDecoder().decode(opts.signedTx);
  } catch (e) {
    return { ok: false, error: `transaction does not decode: ${(e as Error).message}`, balances, logs: [] };
  }
  let result;
  try {
    result = svm.sendTransaction(tx);
  } catch (e) {
    return { ok: false, error: (e as Error).message, balances, logs: [] };
  }
  if (result instanceof FailedTransactionMetadata) {
    return { ok: false, error: result.toString(), balances, logs: result.meta().logs() };
  }
  return { ok: true, balances, logs: result.logs() };
}

/**
 * Writes an active address lookup table holding `addresses` into `svm`, so v0 transactions that use it execute.
 * All entries are usable at once (last_extended_slot_start_index covers them all).
 */
export function setLookupTable(svm: LiteSVM, table: string, addresses: readonly string[]): void {
  const data = new Uint8Array(LOOKUP_TABLE_META_BYTES + 32 * addresses.length);
  const view = new DataView(data.buffer);
  view.setUint32(0, 1, true); // ProgramState::LookupTable
  view.setBigUint64(4, 0xffff_ffff_ffff_ffffn, true); // deactivation_slot: never
  view.setBigUint64(12, 0n, true); // last_extended_slot
  data[20] = addresses.length; // last_extended_slot_start_index
  data[21] = 0; // authority: None (frozen)
  addresses.forEach((a, i) => data.set(getAddressEncoder().encode(address(a)), LOOKUP_TABLE_META_BYTES + 32 * i));
  svm.setAccount({
    address: address(table),
    lamports: lamports(svm.minimumBalanceForRentExemption(BigInt(data.length))),
    data,
    executable: false,
    programAddress: ADDRESS_LOOKUP_TABLE_PROGRAM,
    space: BigInt(data.length),
  });
}

/** Options of {@link unsignedSolTransfer}. */
export interface UnsignedSolTransferOptions {
  from: string;
  to: string;
  lamports: bigint;
  blockhash: string;
  /** Instructions placed before the transfer (e.g. AdvanceNonceAccount, compute budget). */
  leadingInstructions?: Instruction[];
  /** Instructions placed after the transfer. */
  extraInstructions?: Instruction[];
  /** Fee payer; defaults to `from`. */
  feePayer?: string;
  /** Message version; defaults to 0 (legacy when 'legacy'). */
  version?: 'legacy' | 0;
  /** For v0: lookup tables (table address → its addresses) to compress non-signer accounts into. */
  lookupTables?: Record<string, string[]>;
}

/**
 * Wire bytes of an unsigned System transfer (all signature slots zero), built with @solana/kit and
 * @solana-program/system the way a client would build it.
 */
export function unsignedSolTransfer(opts: UnsignedSolTransferOptions): Uint8Array {
  const transfer = getTransferSolInstruction({
    source: createNoopSigner(address(opts.from)),
    destination: address(opts.to),
    amount: lamports(opts.lamports),
  });
  return unsignedTransaction({
    feePayer: opts.feePayer ?? opts.from,
    instructions: [...(opts.leadingInstructions ?? []), transfer, ...(opts.extraInstructions ?? [])],
    blockhash: opts.blockhash,
    ...(opts.version === undefined ? {} : { version: opts.version }),
    ...(opts.lookupTables === undefined ? {} : { lookupTables: opts.lookupTables }),
  });
}

/** Options of {@link unsignedTransaction}. */
export interface UnsignedTransactionOptions {
  /** Fee payer: the first signer. */
  feePayer: string;
  instructions: readonly Instruction[];
  blockhash: string;
  /** Message version; defaults to 0 (legacy when 'legacy'). */
  version?: 'legacy' | 0;
  /** For v0: lookup tables (table address → its addresses) to compress non-signer, non-program accounts into. */
  lookupTables?: Record<string, readonly string[]>;
}

/**
 * Wire bytes of an unsigned transaction (one zeroed signature slot per signer) holding `instructions`, compiled by
 * @solana/kit exactly as a client would. Signer roles in the instructions' account metas decide the signers.
 */
export function unsignedTransaction(opts: UnsignedTransactionOptions): Uint8Array {
  const feePayer = address(opts.feePayer);
  const lifetime = { blockhash: opts.blockhash as Blockhash, lastValidBlockHeight: 1_000_000n };
  if (opts.version === 'legacy') {
    if (opts.lookupTables) throw new Error('lookup tables need a v0 message');
    const legacy = appendTransactionMessageInstructions(
      opts.instructions,
      setTransactionMessageLifetimeUsingBlockhash(lifetime, setTransactionMessageFeePayer(feePayer, createTransactionMessage({ version: 'legacy' }))),
    );
    return new Uint8Array(getTransactionEncoder().encode(compileTransaction(legacy)));
  }
  let message = appendTransactionMessageInstructions(
    opts.instructions,
    setTransactionMessageLifetimeUsingBlockhash(lifetime, setTransactionMessageFeePayer(feePayer, createTransactionMessage({ version: 0 }))),
  );
  if (opts.lookupTables) {
    const tables: Record<Address, Address[]> = {};
    for (const [table, addrs] of Object.entries(opts.lookupTables)) tables[address(table)] = addrs.map((a) => address(a));
    message = compressTransactionMessageUsingAddressLookupTables(message, tables) as typeof message;
  }
  return new Uint8Array(getTransactionEncoder().encode(compileTransaction(message)));
}

// ---------------------------------------------------------------------------------------------------------------
// SPL Token / Token-2022 accounts, written directly into the svm in the programs' own (base, extension-less) layouts.
// ---------------------------------------------------------------------------------------------------------------

/** SPL Token. */
export const SPL_TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
/** SPL Token-2022; its base Mint and Account layouts (without extensions) are the same as SPL Token's. */
export const SPL_TOKEN_2022_PROGRAM = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';
/** Size of an SPL Mint: COption<Pubkey> mint authority (u32 tag + 32), supply u64, decimals u8, initialized u8, COption<Pubkey> freeze authority. */
export const SPL_MINT_BYTES = 82;
/**
 * Size of an SPL token Account: mint, owner, amount u64, COption<Pubkey> delegate, state u8, COption<u64> is_native,
 * delegated_amount u64, COption<Pubkey> close_authority.
 */
export const SPL_ACCOUNT_BYTES = 165;
/** Mainnet rent-exempt minimum of a token account, used as the default lamports so closing one moves a real amount. */
export const TOKEN_ACCOUNT_LAMPORTS = 2_039_280n;
/** Mainnet rent-exempt minimum of a mint. */
export const MINT_LAMPORTS = 1_461_600n;

function writeOptionalKey(data: Uint8Array, at: number, key: string | undefined): void {
  // Program state (unlike instruction data) writes COption with a u32 tag.
  if (key === undefined) return;
  new DataView(data.buffer).setUint32(at, 1, true);
  data.set(getAddressEncoder().encode(address(key)), at + 4);
}

function readOptionalKey(data: Uint8Array, at: number): string | undefined {
  const tag = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(at, true);
  return tag === 1 ? getAddressDecoder().decode(data.subarray(at + 4, at + 36)) : undefined;
}

/** Options of {@link createMint}. */
export interface CreateMintOptions {
  mint: string;
  decimals: number;
  /** Mint authority; undefined for a fixed-supply mint. */
  authority?: string;
  freezeAuthority?: string;
  supply?: bigint;
  /** Owning token program; defaults to SPL Token. */
  program?: string;
  lamports?: bigint;
}

/** Writes an initialized mint into `svm`, owned by `program`. */
export function createMint(svm: LiteSVM, opts: CreateMintOptions): void {
  const data = new Uint8Array(SPL_MINT_BYTES);
  const view = new DataView(data.buffer);
  writeOptionalKey(data, 0, opts.authority);
  view.setBigUint64(36, opts.supply ?? 0n, true);
  data[44] = opts.decimals;
  data[45] = 1; // is_initialized
  writeOptionalKey(data, 46, opts.freezeAuthority);
  svm.setAccount({
    address: address(opts.mint),
    lamports: lamports(opts.lamports ?? MINT_LAMPORTS),
    data,
    executable: false,
    programAddress: address(opts.program ?? SPL_TOKEN_PROGRAM),
    space: BigInt(data.length),
  });
}

/** Options of {@link createTokenAccount}. */
export interface CreateTokenAccountOptions {
  address: string;
  mint: string;
  owner: string;
  amount: bigint;
  /** Owning token program; defaults to SPL Token. */
  program?: string;
  delegate?: string;
  delegatedAmount?: bigint;
  closeAuthority?: string;
  lamports?: bigint;
}

/** Writes an initialized (not frozen, not native) token account into `svm`, owned by `program`. */
export function createTokenAccount(svm: LiteSVM, opts: CreateTokenAccountOptions): void {
  const data = new Uint8Array(SPL_ACCOUNT_BYTES);
  const view = new DataView(data.buffer);
  data.set(getAddressEncoder().encode(address(opts.mint)), 0);
  data.set(getAddressEncoder().encode(address(opts.owner)), 32);
  view.setBigUint64(64, opts.amount, true);
  writeOptionalKey(data, 72, opts.delegate);
  data[108] = 1; // AccountState::Initialized
  view.setBigUint64(121, opts.delegatedAmount ?? 0n, true);
  writeOptionalKey(data, 129, opts.closeAuthority);
  svm.setAccount({
    address: address(opts.address),
    lamports: lamports(opts.lamports ?? TOKEN_ACCOUNT_LAMPORTS),
    data,
    executable: false,
    programAddress: address(opts.program ?? SPL_TOKEN_PROGRAM),
    space: BigInt(data.length),
  });
}

/** A token account as the chain holds it. */
export interface TokenAccountState {
  /** The token program that owns the account. */
  program: string;
  mint: string;
  owner: string;
  amount: bigint;
  delegate?: string;
  delegatedAmount: bigint;
  closeAuthority?: string;
  lamports: bigint;
}

/** The token account at `addr`, or undefined when no account with a token-account layout exists there (e.g. closed). */
export function readTokenAccount(svm: LiteSVM, addr: string): TokenAccountState | undefined {
  const account = svm.getAccount(address(addr));
  if (!account.exists || account.data.length < SPL_ACCOUNT_BYTES) return undefined;
  const data = new Uint8Array(account.data);
  const view = new DataView(data.buffer);
  const delegate = readOptionalKey(data, 72);
  const closeAuthority = readOptionalKey(data, 129);
  return {
    program: account.programAddress,
    mint: getAddressDecoder().decode(data.subarray(0, 32)),
    owner: getAddressDecoder().decode(data.subarray(32, 64)),
    amount: view.getBigUint64(64, true),
    ...(delegate === undefined ? {} : { delegate }),
    delegatedAmount: view.getBigUint64(121, true),
    ...(closeAuthority === undefined ? {} : { closeAuthority }),
    lamports: account.lamports,
  };
}

/** Token balance of the token account at `addr` in base units; 0 when it does not exist. */
export function tokenBalance(svm: LiteSVM, addr: string): bigint {
  return readTokenAccount(svm, addr)?.amount ?? 0n;
}

/** A mint as the chain holds it. */
export interface MintState {
  mintAuthority?: string;
  supply: bigint;
  decimals: number;
  freezeAuthority?: string;
}

/** The mint at `addr`, or undefined when none exists there. */
export function readMint(svm: LiteSVM, addr: string): MintState | undefined {
  const account = svm.getAccount(address(addr));
  if (!account.exists || account.data.length < SPL_MINT_BYTES) return undefined;
  const data = new Uint8Array(account.data);
  const mintAuthority = readOptionalKey(data, 0);
  const freezeAuthority = readOptionalKey(data, 46);
  return {
    ...(mintAuthority === undefined ? {} : { mintAuthority }),
    supply: new DataView(data.buffer).getBigUint64(36, true),
    decimals: data[44] ?? 0,
    ...(freezeAuthority === undefined ? {} : { freezeAuthority }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SPL instructions, byte by byte: a 1-byte tag, LE integers, COption<Pubkey> as a u8 tag + 32 bytes.
// ---------------------------------------------------------------------------------------------------------------

function writableMeta(addr: string): AccountMeta {
  return { address: address(addr), role: AccountRole.WRITABLE };
}

function readonlyMeta(addr: string): AccountMeta {
  return { address: address(addr), role: AccountRole.READONLY };
}

function signerMeta(addr: string): AccountMeta {
  return { address: address(addr), role: AccountRole.READONLY_SIGNER };
}

function tokenInstruction(program: string | undefined, accounts: AccountMeta[], data: Uint8Array): Instruction {
  return { programAddress: address(program ?? SPL_TOKEN_PROGRAM), accounts, data };
}

function tagAmount(tag: number, amount: bigint, decimals?: number): Uint8Array {
  const data = new Uint8Array(decimals === undefined ? 9 : 10);
  data[0] = tag;
  new DataView(data.buffer).setBigUint64(1, amount, true);
  if (decimals !== undefined) data[9] = decimals;
  return data;
}

/** Fields shared by the SPL instruction builders: the token program (SPL Token unless given). */
export interface SplProgramOption {
  program?: string;
}

/** SPL Transfer (3): [source, destination, authority (signer)], amount. */
export function splTransfer(opts: SplProgramOption & { source: string; destination: string; authority: string; amount: bigint }): Instruction {
  return tokenInstruction(opts.program, [writableMeta(opts.source), writableMeta(opts.destination), signerMeta(opts.authority)], tagAmount(3, opts.amount));
}

/** SPL TransferChecked (12): [source, mint, destination, authority (signer)], amount, decimals. */
export function splTransferChecked(
  opts: SplProgramOption & { source: string; mint: string; destination: string; authority: string; amount: bigint; decimals: number },
): Instruction {
  return tokenInstruction(
    opts.program,
    [writableMeta(opts.source), readonlyMeta(opts.mint), writableMeta(opts.destination), signerMeta(opts.authority)],
    tagAmount(12, opts.amount, opts.decimals),
  );
}

/** SPL Approve (4): [source, delegate, owner (signer)], amount. */
export function splApprove(opts: SplProgramOption & { source: string; delegate: string; owner: string; amount: bigint }): Instruction {
  return tokenInstruction(opts.program, [writableMeta(opts.source), readonlyMeta(opts.delegate), signerMeta(opts.owner)], tagAmount(4, opts.amount));
}

/** SPL ApproveChecked (13): [source, mint, delegate, owner (signer)], amount, decimals. */
export function splApproveChecked(
  opts: SplProgramOption & { source: string; mint: string; delegate: string; owner: string; amount: bigint; decimals: number },
): Instruction {
  return tokenInstruction(
    opts.program,
    [writableMeta(opts.source), readonlyMeta(opts.mint), readonlyMeta(opts.delegate), signerMeta(opts.owner)],
    tagAmount(13, opts.amount, opts.decimals),
  );
}

/** SPL Revoke (5): [source, owner (signer)]. */
export function splRevoke(opts: SplProgramOption & { source: string; owner: string }): Instruction {
  return tokenInstruction(opts.program, [writableMeta(opts.source), signerMeta(opts.owner)], new Uint8Array([5]));
}

/** SPL authority types (SetAuthority's first argument). */
export const SPL_AUTHORITY = { MintTokens: 0, FreezeAccount: 1, AccountOwner: 2, CloseAccount: 3 } as const;

/** SPL SetAuthority (6): [account, current authority (signer)], authority type, COption<Pubkey> new authority. */
export function splSetAuthority(
  opts: SplProgramOption & { account: string; currentAuthority: string; authorityType: number; newAuthority?: string },
): Instruction {
  const data = new Uint8Array(opts.newAuthority === undefined ? 3 : 35);
  data[0] = 6;
  data[1] = opts.authorityType;
  if (opts.newAuthority !== undefined) {
    data[2] = 1;
    data.set(getAddressEncoder().encode(address(opts.newAuthority)), 3);
  }
  return tokenInstruction(opts.program, [writableMeta(opts.account), signerMeta(opts.currentAuthority)], data);
}

/** SPL CloseAccount (9): [account, destination, owner (signer)]. */
export function splCloseAccount(opts: SplProgramOption & { account: string; destination: string; owner: string }): Instruction {
  return tokenInstruction(opts.program, [writableMeta(opts.account), writableMeta(opts.destination), signerMeta(opts.owner)], new Uint8Array([9]));
}

/** SPL Burn (8) or, with `decimals`, BurnChecked (15): [account, mint, authority (signer)], amount(, decimals). */
export function splBurn(opts: SplProgramOption & { account: string; mint: string; authority: string; amount: bigint; decimals?: number }): Instruction {
  return tokenInstruction(
    opts.program,
    [writableMeta(opts.account), writableMeta(opts.mint), signerMeta(opts.authority)],
    opts.decimals === undefined ? tagAmount(8, opts.amount) : tagAmount(15, opts.amount, opts.decimals),
  );
}

/** Transaction-level options of the unsignedSpl* builders; the fee payer defaults to the instruction's authority. */
export type UnsignedSplOptions = Omit<UnsignedTransactionOptions, 'instructions' | 'feePayer'> & { feePayer?: string };

/** Wire bytes of an unsigned transaction holding one SPL TransferChecked (see {@link splTransferChecked}). */
export function unsignedSplTransferChecked(opts: Parameters<typeof splTransferChecked>[0] & UnsignedSplOptions): Uint8Array {
  return unsignedTransaction({ ...opts, feePayer: opts.feePayer ?? opts.authority, instructions: [splTransferChecked(opts)] });
}

/** Wire bytes of an unsigned transaction holding one SPL Transfer (see {@link splTransfer}). */
export function unsignedSplTransfer(opts: Parameters<typeof splTransfer>[0] & UnsignedSplOptions): Uint8Array {
  return unsignedTransaction({ ...opts, feePayer: opts.feePayer ?? opts.authority, instructions: [splTransfer(opts)] });
}

/** Wire bytes of an unsigned transaction holding one SPL Approve (see {@link splApprove}). */
export function unsignedSplApprove(opts: Parameters<typeof splApprove>[0] & UnsignedSplOptions): Uint8Array {
  return unsignedTransaction({ ...opts, feePayer: opts.feePayer ?? opts.owner, instructions: [splApprove(opts)] });
}

/** Wire bytes of an unsigned transaction holding one SPL ApproveChecked (see {@link splApproveChecked}). */
export function unsignedSplApproveChecked(opts: Parameters<typeof splApproveChecked>[0] & UnsignedSplOptions): Uint8Array {
  return unsignedTransaction({ ...opts, feePayer: opts.feePayer ?? opts.owner, instructions: [splApproveChecked(opts)] });
}
