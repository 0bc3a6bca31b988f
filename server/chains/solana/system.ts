/**
 * Effects of System program instructions: the ones that move lamports (Transfer, TransferWithSeed, CreateAccount,
 * CreateAccountWithSeed) become native outflows, the ones that hand an account to another program (Assign,
 * AssignWithSeed) become 'assign' grants. Every other System instruction is left to the caller (effects.ts) as a Call,
 * and AdvanceNonceAccount is handled there too because its meaning depends on its position.
 *
 * Layouts are bincode as the System program reads them: u32 LE tag, fixed-width LE integers, 32-byte keys, strings
 * as u64 length + UTF-8 bytes, trailing bytes allowed.
 */
import type { Grant, Outflow } from '../../policy/effects.ts';
import { accountAt, InstructionDataReader, requireAccounts, type InstructionEffects, type ResolvedInstruction } from './instruction.ts';
import {
  SYSTEM_ASSIGN,
  SYSTEM_ASSIGN_WITH_SEED,
  SYSTEM_CREATE_ACCOUNT,
  SYSTEM_CREATE_ACCOUNT_WITH_SEED,
  SYSTEM_TRANSFER,
  SYSTEM_TRANSFER_WITH_SEED,
} from './programs.ts';

/** The System instruction's u32 tag, or undefined when the data is shorter than 4 bytes. */
export function systemTag(data: Uint8Array): number | undefined {
  return data.length >= 4 ? new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true) : undefined;
}

function nativeOutflow(amount: bigint, from: string, to: string, wallet: string, source: string): Outflow {
  // `from` is left out when it is the wallet itself, as the effects model says; any other source stays visible.
  return { asset: 'native', amount, recipient: to, recipientKind: 'owner', ...(from === wallet ? {} : { from }), source };
}

function assign(owner: string, source: string): Grant {
  return { kind: 'assign', asset: 'native', spender: owner, amount: null, unlimited: true, source };
}

/**
 * The typed effects of a System instruction, or undefined when it has none (it then becomes a Call). Throws
 * WAIAAS_TX_MALFORMED when a decoded instruction's data or accounts are too short for the program to run it.
 *
 * Every transfer is an outflow whoever its source is: the engine judges recipients regardless of who pays.
 * CreateAccount whose new account is the wallet itself also hands the wallet's account to the owner program, so it
 * carries an 'assign' grant as well (the program only allows that for an account without lamports, but a wallet that
 * a co-signer pays for may be one).
 */
export function systemInstructionEffects(ix: ResolvedInstruction, wallet: string): InstructionEffects | undefined {
  const tag = systemTag(ix.data);
  const data = new InstructionDataReader(ix, 4);
  switch (tag) {
    case SYSTEM_TRANSFER: {
      const lamports = data.u64();
      return { outflows: [nativeOutflow(lamports, accountAt(ix, 0), accountAt(ix, 1), wallet, 'System.Transfer')], grants: [] };
    }
    case SYSTEM_TRANSFER_WITH_SEED: {
      const lamports = data.u64();
      data.string(); // seed
      data.pubkey(); // owner program of the derived source
      requireAccounts(ix, 3); // derived source, base, recipient
      return {
        outflows: [nativeOutflow(lamports, accountAt(ix, 0), accountAt(ix, 2), wallet, 'System.TransferWithSeed')],
        grants: [],
      };
    }
    case SYSTEM_CREATE_ACCOUNT:
    case SYSTEM_CREATE_ACCOUNT_WITH_SEED: {
      const withSeed = tag === SYSTEM_CREATE_ACCOUNT_WITH_SEED;
      if (withSeed) {
        data.pubkey(); // base
        data.string(); // seed
      }
      const lamports = data.u64();
      data.u64(); // space
      const owner = data.pubkey();
      const source = withSeed ? 'System.CreateAccountWithSeed' : 'System.CreateAccount';
      const created = accountAt(ix, 1);
      return {
        outflows: [nativeOutflow(lamports, accountAt(ix, 0), created, wallet, source)],
        grants: created === wallet ? [assign(owner, source)] : [],
      };
    }
    case SYSTEM_ASSIGN:
    case SYSTEM_ASSIGN_WITH_SEED: {
      const withSeed = tag === SYSTEM_ASSIGN_WITH_SEED;
      if (withSeed) {
        data.pubkey(); // base
        data.string(); // seed
      }
      const owner = data.pubkey();
      requireAccounts(ix, withSeed ? 2 : 1); // the assigned account (and the base for the seeded form)
      return { outflows: [], grants: [assign(owner, withSeed ? 'System.AssignWithSeed' : 'System.Assign')] };
    }
    default:
      return undefined;
  }
}
