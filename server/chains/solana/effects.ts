/**
 * Effects of a decoded Solana transaction for the policy engine (server/policy/effects.ts): outflows and grants of the
 * System and SPL token instructions (system.ts, token.ts), every other instruction as a Call, flags for features a
 * policy must opt into, and the worst-case fee.
 *
 * Only data from the signed message is used. Accounts loaded from lookup tables stay `lookup:<table>:<index>`
 * placeholders, so an allowlist can never match an address the server did not see in the signed bytes. Effects come
 * one per decoded instruction, in instruction order, never merged: the engine sums per asset itself, and each keeps its
 * `source` and `from`.
 */
import { emptyEffects, type Call, type Effects } from '../../policy/effects.ts';
import { malformedInstruction, type InstructionEffects, type ResolvedInstruction } from './instruction.ts';
import {
  COMPUTE_BUDGET_PROGRAM,
  COMPUTE_BUDGET_SET_LIMIT,
  COMPUTE_BUDGET_SET_PRICE,
  ONE_BYTE_DISCRIMINATOR_PROGRAMS,
  SIGNATURE_PRECOMPILES,
  SYSTEM_ADVANCE_NONCE,
  SYSTEM_PROGRAM,
  TOKEN_PROGRAMS,
  describeInstruction,
} from './programs.ts';
import { systemInstructionEffects, systemTag } from './system.ts';
import { tokenInstructionEffects } from './token.ts';
import type { DecodedSolanaTransaction } from './transaction.ts';

/** Base fee per signature, in lamports. */
export const LAMPORTS_PER_SIGNATURE = 5000n;
/** Compute units granted per instruction when the transaction sets no limit. */
export const DEFAULT_UNITS_PER_INSTRUCTION = 200_000;
/** The runtime clamps every compute-unit limit to this. */
export const MAX_COMPUTE_UNIT_LIMIT = 1_400_000;

const MICRO_LAMPORTS_PER_LAMPORT = 1_000_000n;

function hex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The discriminator of an instruction as lower-case hex without 0x: 4 bytes (u32 tag) for System, 1 byte for Compute
 * Budget, the SPL token programs and the Associated Token program, 8 bytes (Anchor) otherwise; '' when the data is
 * shorter than that, so that a short prefix can never match a rule written for a full discriminator.
 */
export function instructionDiscriminator(program: string, data: Uint8Array): string {
  const size = program === SYSTEM_PROGRAM ? 4 : ONE_BYTE_DISCRIMINATOR_PROGRAMS.has(program) ? 1 : 8;
  return data.length >= size ? hex(data.subarray(0, size)) : '';
}

/** The tag describeInstruction names: the System u32 tag, the first byte of other one-byte programs. */
function instructionTag(program: string, data: Uint8Array): number | undefined {
  if (program === SYSTEM_PROGRAM) return systemTag(data);
  return ONE_BYTE_DISCRIMINATOR_PROGRAMS.has(program) ? data[0] : undefined;
}

function callOf(ix: ResolvedInstruction): Call {
  return {
    program: ix.program,
    discriminator: instructionDiscriminator(ix.program, ix.data),
    data: hex(ix.data),
    accounts: [...ix.accounts],
    value: 0n,
    description: ix.name,
  };
}

/**
 * What the transaction does, from the point of view of `wallet` (a base58 address, used only to leave `from` out of
 * outflows that leave the wallet itself).
 *
 * - System Transfer, TransferWithSeed, CreateAccount(WithSeed) are native outflows; Assign(WithSeed) are grants.
 * - SPL Token / Token-2022 Transfer(Checked) and Burn(Checked) are outflows; Approve(Checked), Revoke, SetAuthority,
 *   CloseAccount are grants.
 * - AdvanceNonceAccount as the first instruction is the DURABLE_NONCE flag (the runtime only honours it there);
 *   anywhere else it is a Call.
 * - Compute Budget instructions only feed maxFee and are never Calls: SetComputeUnitLimit and SetComputeUnitPrice set
 *   the fee; RequestHeapFrame, SetLoadedAccountsDataSizeLimit and any other tag change no fee and move nothing (an
 *   unknown tag makes the runtime reject the whole transaction).
 * - Everything else is a Call carrying program, discriminator, data and resolved accounts.
 * - Any message with address table lookups is flagged ADDRESS_LOOKUP_TABLE.
 *
 * Throws WAIAAS_TX_MALFORMED when an instruction it decodes is too short (data or accounts) for the program to run it,
 * and nothing but WaiaasError on any input decodeSolanaTransaction accepted.
 */
export function solanaEffects(tx: DecodedSolanaTransaction, wallet: string): Effects {
  const effects = emptyEffects('solana');
  const { message, accountKeys } = tx;

  if (message.version === 0 && (message.addressTableLookups?.length ?? 0) > 0) effects.flags.push('ADDRESS_LOOKUP_TABLE');

  let price: bigint | undefined;
  let limit: number | undefined;
  let nonBudgetInstructions = 0;
  let precompileSignatures = 0;

  message.instructions.forEach((instruction, index) => {
    // Decoding guaranteed every index is in range (and programs static); the fallback only satisfies the type checker.
    const program = accountKeys[instruction.programAddressIndex] ?? '';
    const data = new Uint8Array(instruction.data ?? new Uint8Array(0));
    const accounts = (instruction.accountIndices ?? []).map((i) => accountKeys[i] ?? '');
    const ix: ResolvedInstruction = { index, program, data, accounts, name: describeInstruction(program, instructionTag(program, data)) };

    if (program === COMPUTE_BUDGET_PROGRAM) {
      // Worst case: a duplicate would make the runtime reject the transaction, but take the largest anyway.
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      if (data[0] === COMPUTE_BUDGET_SET_PRICE) {
        if (data.length < 9) malformedInstruction(ix, 'data is too short');
        const p = view.getBigUint64(1, true);
        price = price === undefined || p > price ? p : price;
      } else if (data[0] === COMPUTE_BUDGET_SET_LIMIT) {
        if (data.length < 5) malformedInstruction(ix, 'data is too short');
        const l = view.getUint32(1, true);
        limit = limit === undefined || l > limit ? l : limit;
      }
      return;
    }
    nonBudgetInstructions++;
    if (SIGNATURE_PRECOMPILES.has(program) && data.length >= 1) precompileSignatures += data[0] ?? 0;

    let decoded: InstructionEffects | undefined;
    if (program === SYSTEM_PROGRAM) {
      if (index === 0 && systemTag(data) === SYSTEM_ADVANCE_NONCE) {
        effects.flags.push('DURABLE_NONCE');
        return;
      }
      decoded = systemInstructionEffects(ix, wallet);
    } else if (TOKEN_PROGRAMS.has(program)) {
      decoded = tokenInstructionEffects(ix, wallet);
    }
    if (decoded === undefined) {
      effects.calls.push(callOf(ix));
    } else {
      effects.outflows.push(...decoded.outflows);
      effects.grants.push(...decoded.grants);
    }
  });

  const units = BigInt(Math.min(limit ?? DEFAULT_UNITS_PER_INSTRUCTION * nonBudgetInstructions, MAX_COMPUTE_UNIT_LIMIT));
  const priorityFee = price === undefined ? 0n : (price * units + MICRO_LAMPORTS_PER_LAMPORT - 1n) / MICRO_LAMPORTS_PER_LAMPORT;
  const signatures = BigInt(message.header.numSignerAccounts + precompileSignatures);
  effects.maxFee = LAMPORTS_PER_SIGNATURE * signatures + priorityFee;
  return effects;
}
