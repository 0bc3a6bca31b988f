/**
 * Test support for Solana: build unsigned wire transactions with @solana/kit, and execute signed ones in a LiteSVM
 * (an in-process Solana runtime with signature verification) to prove that what the server signed really runs.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import {
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
  const feePayer = address(opts.feePayer ?? opts.from);
  const transfer = getTransferSolInstruction({
    source: createNoopSigner(address(opts.from)),
    destination: address(opts.to),
    amount: lamports(opts.lamports),
  });
  const instructions: Instruction[] = [...(opts.leadingInstructions ?? []), transfer, ...(opts.extraInstructions ?? [])];
  const lifetime = { blockhash: opts.blockhash as Blockhash, lastValidBlockHeight: 1_000_000n };
  if (opts.version === 'legacy') {
    if (opts.lookupTables) throw new Error('lookup tables need a v0 message');
    const legacy = appendTransactionMessageInstructions(
      instructions,
      setTransactionMessageLifetimeUsingBlockhash(lifetime, setTransactionMessageFeePayer(feePayer, createTransactionMessage({ version: 'legacy' }))),
    );
    return new Uint8Array(getTransactionEncoder().encode(compileTransaction(legacy)));
  }
  let message = appendTransactionMessageInstructions(
    instructions,
    setTransactionMessageLifetimeUsingBlockhash(lifetime, setTransactionMessageFeePayer(feePayer, createTransactionMessage({ version: 0 }))),
  );
  if (opts.lookupTables) {
    const tables: Record<Address, Address[]> = {};
    for (const [table, addrs] of Object.entries(opts.lookupTables)) tables[address(table)] = addrs.map((a) => address(a));
    message = compressTransactionMessageUsingAddressLookupTables(message, tables) as typeof message;
  }
  return new Uint8Array(getTransactionEncoder().encode(compileTransaction(message)));
}
