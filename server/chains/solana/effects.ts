/**
 * Effects of a decoded Solana transaction for the policy engine: native outflows from the wallet, every other
 * instruction as a call, flags for features a policy must opt into, and the worst-case fee.
 *
 * Only data from the signed message is used. Accounts loaded from lookup tables stay placeholders, so an allowlist
 * can never match an address the server did not see in the signed bytes.
 */
import type { Call, Effects, Flag, Outflow } from '../../policy/effects.ts';
import {
  COMPUTE_BUDGET_PROGRAM,
  COMPUTE_BUDGET_SET_LIMIT,
  COMPUTE_BUDGET_SET_PRICE,
  ONE_BYTE_DISCRIMINATOR_PROGRAMS,
  SIGNATURE_PRECOMPILES,
  SYSTEM_ADVANCE_NONCE,
  SYSTEM_PROGRAM,
  SYSTEM_TRANSFER,
  describeInstruction,
} from './programs.ts';
import type { DecodedSolanaTransaction } from './transaction.ts';

/** Base fee per signature, in lamports. */
export const LAMPORTS_PER_SIGNATURE = 5000n;
/** Compute units granted per instruction when the transaction sets no limit. */
export const DEFAULT_UNITS_PER_INSTRUCTION = 200_000;
/** The runtime clamps every compute-unit limit to this. */
export const MAX_COMPUTE_UNIT_LIMIT = 1_400_000;

const MICRO_LAMPORTS_PER_LAMPORT = 1_000_000n;

function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

function hex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The discriminator of an instruction as hex (no 0x): 4 bytes for System, 1 byte for Compute Budget and SPL programs,
 * 8 bytes (Anchor) otherwise; undefined when the data is shorter than that.
 */
export function instructionDiscriminator(program: string, data: Uint8Array): string | undefined {
  const size = program === SYSTEM_PROGRAM ? 4 : ONE_BYTE_DISCRIMINATOR_PROGRAMS.has(program) ? 1 : 8;
  return data.length >= size ? hex(data.subarray(0, size)) : undefined;
}

/**
 * What the transaction does from the point of view of `wallet` (a base58 address). System transfers from the wallet
 * become outflows (summed per recipient); everything else is a call. The System program deserializes with trailing
 * bytes allowed, so a Transfer is recognized by its first 12 bytes whatever follows.
 */
export function solanaEffects(tx: DecodedSolanaTransaction, wallet: string): Effects {
  const outflows: Outflow[] = [];
  const calls: Call[] = [];
  const flags: Flag[] = [];
  const { message, accountKeys } = tx;

  if (message.version === 0 && (message.addressTableLookups?.length ?? 0) > 0) flags.push('ADDRESS_LOOKUP_TABLE');

  let price: bigint | undefined;
  let limit: number | undefined;
  let nonBudgetInstructions = 0;
  let precompileSignatures = 0;

  message.instructions.forEach((instruction, i) => {
    // Decoding guaranteed every index is in range; the fallback only satisfies the type checker.
    const program = accountKeys[instruction.programAddressIndex] ?? '';
    const data = new Uint8Array(instruction.data ?? new Uint8Array(0));
    const accounts = (instruction.accountIndices ?? []).map((index) => accountKeys[index] ?? '');
    const discriminator = instructionDiscriminator(program, data);

    if (program === COMPUTE_BUDGET_PROGRAM) {
      // Worst case: a duplicate would make the runtime reject the transaction, but take the largest anyway.
      if (data[0] === COMPUTE_BUDGET_SET_PRICE && data.length >= 9) {
        const p = view(data).getBigUint64(1, true);
        price = price === undefined || p > price ? p : price;
      } else if (data[0] === COMPUTE_BUDGET_SET_LIMIT && data.length >= 5) {
        const l = view(data).getUint32(1, true);
        limit = limit === undefined || l > limit ? l : limit;
      }
    } else {
      nonBudgetInstructions++;
    }
    if (SIGNATURE_PRECOMPILES.has(program) && data.length >= 1) precompileSignatures += data[0] ?? 0;

    if (program === SYSTEM_PROGRAM) {
      const tag = data.length >= 4 ? view(data).getUint32(0, true) : undefined;
      if (i === 0 && tag === SYSTEM_ADVANCE_NONCE) flags.push('DURABLE_NONCE');
      if (tag === SYSTEM_TRANSFER && data.length >= 12 && accounts.length >= 2) {
        const amount = view(data).getBigUint64(4, true);
        const from = accounts[0] as string;
        const to = accounts[1] as string;
        if (from === wallet) {
          const existing = outflows.find((o) => o.recipient === to);
          if (existing) existing.amount += amount;
          else outflows.push({ asset: 'native', amount, recipient: to });
        } else {
          calls.push({ program, discriminator: discriminator as string, description: `System.Transfer from ${from}` });
        }
        return;
      }
      calls.push(call(program, discriminator, describeInstruction(program, tag)));
      return;
    }
    const tag = ONE_BYTE_DISCRIMINATOR_PROGRAMS.has(program) ? data[0] : undefined;
    calls.push(call(program, discriminator, describeInstruction(program, tag)));
  });

  const units = BigInt(Math.min(limit ?? DEFAULT_UNITS_PER_INSTRUCTION * nonBudgetInstructions, MAX_COMPUTE_UNIT_LIMIT));
  const priorityFee = price === undefined ? 0n : (price * units + MICRO_LAMPORTS_PER_LAMPORT - 1n) / MICRO_LAMPORTS_PER_LAMPORT;
  const signatures = BigInt(message.header.numSignerAccounts + precompileSignatures);

  return { chain: 'solana', outflows, calls, flags, maxFee: LAMPORTS_PER_SIGNATURE * signatures + priorityFee };
}

function call(program: string, discriminator: string | undefined, description: string): Call {
  return discriminator === undefined ? { program, description } : { program, discriminator, description };
}
