/**
 * One instruction of a decoded Solana message, resolved for the per-program decoders (system.ts, token.ts): its program,
 * data and accounts as strings, and bounds-checked readers for its data.
 *
 * The readers follow the programs' own deserializers: little-endian fixed-width integers, bincode strings (u64 length,
 * UTF-8 bytes) and 32-byte public keys, with trailing bytes ignored, as the System program (bincode with trailing
 * bytes allowed) and the SPL token programs (which read a prefix of the data) do. Whatever those programs would
 * refuse to parse (data too short, too few accounts, invalid UTF-8, an impossible option tag) is WAIAAS_TX_MALFORMED:
 * an instruction the chain would reject cannot be judged safely, and refusing it costs an honest caller nothing.
 */
import { getAddressDecoder } from '@solana/kit';
import { WaiaasError } from '../../errors/error.ts';
import type { Grant, Outflow } from '../../policy/effects.ts';

/** An instruction of a message with every index resolved (lookup-table accounts as `lookup:<table>:<index>`). */
export interface ResolvedInstruction {
  /** Position in the message, for error metadata. */
  readonly index: number;
  /** Program id; always a static account of the message, so a real address. */
  readonly program: string;
  /** The instruction data, a private copy. */
  readonly data: Uint8Array;
  /** The instruction's accounts in order. */
  readonly accounts: readonly string[];
  /** Human label, e.g. 'System.Transfer' or 'Token2022.TransferChecked'; used in error messages. */
  readonly name: string;
}

/** Typed effects of one decoded instruction; a decoded instruction is never also a Call. */
export interface InstructionEffects {
  outflows: Outflow[];
  grants: Grant[];
}

const ADDRESS_DECODER = getAddressDecoder();
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Refuses an instruction the program would reject; the message names the instruction, never caller data. */
export function malformedInstruction(ix: ResolvedInstruction, problem: string, cause?: unknown): never {
  throw new WaiaasError('WAIAAS_TX_MALFORMED', `${ix.name} instruction ${problem}`, {
    metadata: { instruction: String(ix.index), program: ix.program },
    cause,
  });
}

/**
 * The instruction's account at `position`. Too few accounts is malformed: the program would fail with
 * NotEnoughAccountKeys, and the decoder would have no recipient or source to report.
 */
export function accountAt(ix: ResolvedInstruction, position: number): string {
  const account = ix.accounts[position];
  if (account === undefined) malformedInstruction(ix, 'has too few accounts');
  return account;
}

/**
 * Checks that the instruction has at least `count` accounts (those the program requires, e.g. the signing authority,
 * even when the effect does not name them); too few is malformed, as for {@link accountAt}.
 */
export function requireAccounts(ix: ResolvedInstruction, count: number): void {
  if (ix.accounts.length < count) malformedInstruction(ix, 'has too few accounts');
}

/** A cursor over an instruction's data; every read is bounds-checked and a short read is malformed. */
export class InstructionDataReader {
  readonly #ix: ResolvedInstruction;
  readonly #view: DataView;
  #offset: number;

  /** Starts reading `ix.data` at `offset` (after the discriminator). */
  constructor(ix: ResolvedInstruction, offset: number) {
    this.#ix = ix;
    this.#view = new DataView(ix.data.buffer, ix.data.byteOffset, ix.data.byteLength);
    this.#offset = offset;
  }

  #take(size: number): number {
    const at = this.#offset;
    if (size > this.#view.byteLength - at) malformedInstruction(this.#ix, 'data is too short');
    this.#offset = at + size;
    return at;
  }

  /** An unsigned byte. */
  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }

  /** A little-endian u64. */
  u64(): bigint {
    return this.#view.getBigUint64(this.#take(8), true);
  }

  /** A 32-byte public key as a base58 address. */
  pubkey(): string {
    const at = this.#take(32);
    return ADDRESS_DECODER.decode(this.#ix.data.subarray(at, at + 32));
  }

  /** A bincode String: u64 byte length, then UTF-8 bytes (bincode refuses invalid UTF-8, so do we). */
  string(): string {
    const length = this.u64();
    if (length > BigInt(this.#view.byteLength - this.#offset)) malformedInstruction(this.#ix, 'data is too short');
    const at = this.#take(Number(length));
    try {
      return UTF8.decode(this.#ix.data.subarray(at, at + Number(length)));
    } catch (cause) {
      return malformedInstruction(this.#ix, 'has a seed that is not UTF-8', cause);
    }
  }
}
