/**
 * Effects of SPL Token and Token-2022 instructions (their base instructions share one layout: a 1-byte tag, LE
 * integers, COption<Pubkey> as u8 tag + 32 bytes, trailing bytes ignored), and the associated-token-address
 * derivation the policy engine uses to tie an SPL destination token account to an allowlisted owner.
 *
 * What moves tokens out or hands power over them is typed: Transfer(Checked) and Burn(Checked) are outflows,
 * Approve(Checked), Revoke, SetAuthority and CloseAccount are grants. Everything else (InitializeAccount, SyncNative,
 * MintTo, Token-2022 extension families, p-token's Batch and UnwrapLamports...) is left to effects.ts as a Call,
 * which only an explicit program rule allows; that includes instructions that do move value but are not decoded
 * here (Batch, UnwrapLamports, TransferCheckedWithFee and other extension transfers).
 */
import { getAddressEncoder, getProgramDerivedAddress, isAddress, type Address } from '@solana/kit';
import { WaiaasError } from '../../errors/error.ts';
import type { Grant, Outflow } from '../../policy/effects.ts';
import {
  accountAt,
  InstructionDataReader,
  malformedInstruction,
  requireAccounts,
  type InstructionEffects,
  type ResolvedInstruction,
} from './instruction.ts';
import {
  ASSOCIATED_TOKEN_PROGRAM,
  TOKEN_APPROVE,
  TOKEN_APPROVE_CHECKED,
  TOKEN_BURN,
  TOKEN_BURN_CHECKED,
  TOKEN_CLOSE_ACCOUNT,
  TOKEN_REVOKE,
  TOKEN_SET_AUTHORITY,
  TOKEN_TRANSFER,
  TOKEN_TRANSFER_CHECKED,
} from './programs.ts';

/** u64::MAX: an SPL approval of this amount never runs out. */
export const SPL_UNLIMITED_AMOUNT = 0xffff_ffff_ffff_ffffn;

/**
 * The asset id of a mint account: `spl:<mint>`, or `unknown` when the mint is loaded from a lookup table (the bytes
 * then do not say which token it is, and `spl:lookup:…` would look like an asset id).
 */
export function splAsset(mint: string): string {
  return mint.startsWith('lookup:') ? 'unknown' : `spl:${mint}`;
}

function outflow(fields: Omit<Outflow, 'from'>, from: string, wallet: string): Outflow {
  // Value leaves a token account, which is never the wallet's own address in practice; the uniform rule of the effects
  // model (no `from` when it is the wallet) still applies.
  return { ...fields, ...(from === wallet ? {} : { from }) };
}

function approval(asset: string, spender: string, amount: bigint, source: string): Grant {
  // Approve(0) replaces the delegate with one that may move nothing: it only takes power away.
  return {
    kind: 'token_approval',
    asset,
    spender,
    amount,
    unlimited: amount === SPL_UNLIMITED_AMOUNT,
    ...(amount === 0n ? { revoke: true } : {}),
    source,
  };
}

/**
 * The typed effects of an SPL Token / Token-2022 instruction, or undefined when it has none (it then becomes a Call).
 * Throws WAIAAS_TX_MALFORMED when a decoded instruction's data or accounts are too short for the program to run it.
 * Outflows and grants are reported whoever the authority is: the engine judges recipients and spenders regardless.
 */
export function tokenInstructionEffects(ix: ResolvedInstruction, wallet: string): InstructionEffects | undefined {
  const tag = ix.data[0];
  const data = new InstructionDataReader(ix, 1);
  switch (tag) {
    case TOKEN_TRANSFER: {
      const amount = data.u64();
      requireAccounts(ix, 3); // source, destination, authority
      const [source, destination] = [accountAt(ix, 0), accountAt(ix, 1)];
      return {
        outflows: [
          outflow(
            { asset: 'unknown', amount, recipient: destination, recipientKind: 'token_account', source: 'SPL.Transfer' },
            source,
            wallet,
          ),
        ],
        grants: [],
      };
    }
    case TOKEN_TRANSFER_CHECKED: {
      const amount = data.u64();
      const decimals = data.u8();
      requireAccounts(ix, 4); // source, mint, destination, authority
      const [source, mint, destination] = [accountAt(ix, 0), accountAt(ix, 1), accountAt(ix, 2)];
      return {
        outflows: [
          outflow(
            { asset: splAsset(mint), amount, decimals, recipient: destination, recipientKind: 'token_account', source: 'SPL.TransferChecked' },
            source,
            wallet,
          ),
        ],
        grants: [],
      };
    }
    case TOKEN_BURN:
    case TOKEN_BURN_CHECKED: {
      const checked = tag === TOKEN_BURN_CHECKED;
      const amount = data.u64();
      const decimals = checked ? data.u8() : undefined;
      requireAccounts(ix, 3); // account, mint, authority
      const [account, mint] = [accountAt(ix, 0), accountAt(ix, 1)];
      return {
        outflows: [
          outflow(
            {
              asset: splAsset(mint),
              amount,
              ...(decimals === undefined ? {} : { decimals }),
              recipient: '',
              recipientKind: 'burn',
              source: checked ? 'SPL.BurnChecked' : 'SPL.Burn',
            },
            account,
            wallet,
          ),
        ],
        grants: [],
      };
    }
    case TOKEN_APPROVE: {
      const amount = data.u64();
      requireAccounts(ix, 3); // source, delegate, owner
      return { outflows: [], grants: [approval('unknown', accountAt(ix, 1), amount, 'SPL.Approve')] };
    }
    case TOKEN_APPROVE_CHECKED: {
      const amount = data.u64();
      data.u8(); // decimals: the program checks them against the mint; the grant's amount is in base units anyway
      requireAccounts(ix, 4); // source, mint, delegate, owner
      const [mint, delegate] = [accountAt(ix, 1), accountAt(ix, 2)];
      return { outflows: [], grants: [approval(splAsset(mint), delegate, amount, 'SPL.ApproveChecked')] };
    }
    case TOKEN_REVOKE: {
      requireAccounts(ix, 2); // source, owner
      // The delegate being revoked is not named in the instruction.
      return {
        outflows: [],
        grants: [{ kind: 'token_approval', asset: 'unknown', spender: '', amount: 0n, unlimited: false, revoke: true, source: 'SPL.Revoke' }],
      };
    }
    case TOKEN_SET_AUTHORITY: {
      data.u8(); // authority type: mint, freeze, owner, close... Every kind is a full transfer of power.
      const option = data.u8();
      if (option !== 0 && option !== 1) malformedInstruction(ix, 'has an invalid new-authority option');
      const newAuthority = option === 1 ? data.pubkey() : undefined;
      requireAccounts(ix, 2); // account, current authority
      // The account may be a mint or a token account; the bytes do not say which, so the asset is unknown.
      return {
        outflows: [],
        grants: [
          {
            kind: 'set_authority',
            asset: 'unknown',
            spender: newAuthority ?? '',
            amount: null,
            unlimited: true,
            ...(newAuthority === undefined ? { revoke: true } : {}),
            source: 'SPL.SetAuthority',
          },
        ],
      };
    }
    case TOKEN_CLOSE_ACCOUNT: {
      requireAccounts(ix, 3); // account, destination, owner
      const destination = accountAt(ix, 1);
      // All the account's lamports (rent, and the whole balance of a wrapped-SOL account) go to the destination.
      return {
        outflows: [],
        grants: [{ kind: 'close_account', asset: 'native', spender: destination, amount: null, unlimited: true, source: 'SPL.CloseAccount' }],
      };
    }
    default:
      return undefined;
  }
}

const ADDRESS_ENCODER = getAddressEncoder();

function addressArgument(value: string, field: string): Address {
  if (typeof value !== 'string' || !isAddress(value)) {
    throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', 'not a Solana address', { metadata: { field } });
  }
  return value;
}

/**
 * The associated token account of `owner` for `mint` under `tokenProgram` (SPL Token or Token-2022): the program
 * derived address of the Associated Token Account program with seeds [owner, tokenProgram, mint]. The engine uses it
 * to accept an SPL destination token account only when it is the ATA of an allowlisted owner. An argument that is not
 * a base58 address (e.g. a `lookup:…` placeholder) is WAIAAS_INVALID_ARGUMENT with metadata.field naming it.
 */
export async function associatedTokenAddress(owner: string, mint: string, tokenProgram: string): Promise<string> {
  const seeds = [
    ADDRESS_ENCODER.encode(addressArgument(owner, 'owner')),
    ADDRESS_ENCODER.encode(addressArgument(tokenProgram, 'tokenProgram')),
    ADDRESS_ENCODER.encode(addressArgument(mint, 'mint')),
  ];
  try {
    const [ata] = await getProgramDerivedAddress({ programAddress: ASSOCIATED_TOKEN_PROGRAM as Address, seeds });
    return ata;
  } catch (cause) {
    // Only reachable if no bump seed gives an off-curve address, which does not happen for 32-byte seeds in practice.
    throw new WaiaasError('WAIAAS_INTERNAL', 'associated token address does not derive', { cause });
  }
}
