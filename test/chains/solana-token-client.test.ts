// Cross-check against the official SPL Token client (@solana-program/token, installed with litesvm): the hand-written
// instruction builders of test/support/litesvm.ts produce the very bytes and account metas the client does, the
// decoder reads client-built transactions (multisig signers included), and associatedTokenAddress equals the client's
// findAssociatedTokenPda. Kept in its own file so that the rest of the suite does not depend on this package.
import { address, createNoopSigner, type Instruction } from '@solana/kit';
import {
  AuthorityType,
  findAssociatedTokenPda,
  getApproveCheckedInstruction,
  getApproveInstruction,
  getBurnCheckedInstruction,
  getBurnInstruction,
  getCloseAccountInstruction,
  getRevokeInstruction,
  getSetAuthorityInstruction,
  getTransferCheckedInstruction,
  getTransferInstruction,
} from '@solana-program/token';
import { describe, expect, test } from 'vitest';
import {
  associatedTokenAddress,
  decodeSolanaTransaction,
  solanaEffects,
  TOKEN_2022_PROGRAM,
  TOKEN_PROGRAM,
} from '../../server/chains/solana/index.ts';
import {
  createSvm,
  latestBlockhash,
  newSolanaKey,
  SPL_AUTHORITY,
  splApprove,
  splApproveChecked,
  splBurn,
  splCloseAccount,
  splRevoke,
  splSetAuthority,
  splTransfer,
  splTransferChecked,
  unsignedTransaction,
} from '../support/litesvm.ts';

const BLOCKHASH = latestBlockhash(createSvm());

/** A fresh random address. */
function fresh() {
  return address(newSolanaKey().address);
}

/** Program, data and (address, role) of each account: what compiles into the message. */
function shape(ix: Instruction) {
  return {
    program: ix.programAddress,
    data: [...(ix.data ?? [])],
    accounts: (ix.accounts ?? []).map((a) => [a.address, a.role]),
  };
}

describe('hand-written SPL builders', () => {
  test('write exactly what @solana-program/token writes, for SPL Token and Token-2022', () => {
    const [source, mint, destination, delegate, newOwner] = [fresh(), fresh(), fresh(), fresh(), fresh()];
    const owner = newSolanaKey().address;
    const signer = createNoopSigner(address(owner));
    for (const program of [TOKEN_PROGRAM, TOKEN_2022_PROGRAM]) {
      const config = { programAddress: address(program) };
      const pairs: [Instruction, Instruction][] = [
        [splTransfer({ program, source, destination, authority: owner, amount: 5n }), getTransferInstruction({ source, destination, authority: signer, amount: 5n }, config)],
        [
          splTransferChecked({ program, source, mint, destination, authority: owner, amount: 2n ** 64n - 1n, decimals: 9 }),
          getTransferCheckedInstruction({ source, mint, destination, authority: signer, amount: 2n ** 64n - 1n, decimals: 9 }, config),
        ],
        [splApprove({ program, source, delegate, owner, amount: 7n }), getApproveInstruction({ source, delegate, owner: signer, amount: 7n }, config)],
        [
          splApproveChecked({ program, source, mint, delegate, owner, amount: 7n, decimals: 2 }),
          getApproveCheckedInstruction({ source, mint, delegate, owner: signer, amount: 7n, decimals: 2 }, config),
        ],
        [splRevoke({ program, source, owner }), getRevokeInstruction({ source, owner: signer }, config)],
        [
          splSetAuthority({ program, account: source, currentAuthority: owner, authorityType: SPL_AUTHORITY.AccountOwner, newAuthority: newOwner }),
          getSetAuthorityInstruction({ owned: source, owner: signer, authorityType: AuthorityType.AccountOwner, newAuthority: newOwner }, config),
        ],
        [
          splSetAuthority({ program, account: mint, currentAuthority: owner, authorityType: SPL_AUTHORITY.MintTokens }),
          getSetAuthorityInstruction({ owned: mint, owner: signer, authorityType: AuthorityType.MintTokens, newAuthority: null }, config),
        ],
        [splCloseAccount({ program, account: source, destination, owner }), getCloseAccountInstruction({ account: source, destination, owner: signer }, config)],
        [splBurn({ program, account: source, mint, authority: owner, amount: 3n }), getBurnInstruction({ account: source, mint, authority: signer, amount: 3n }, config)],
        [
          splBurn({ program, account: source, mint, authority: owner, amount: 3n, decimals: 4 }),
          getBurnCheckedInstruction({ account: source, mint, authority: signer, amount: 3n, decimals: 4 }, config),
        ],
      ];
      for (const [mine, theirs] of pairs) expect(shape(mine)).toEqual(shape(theirs));
    }
  });
});

describe('client-built transactions', () => {
  test('a multisig TransferChecked decodes to the same outflow: extra signer accounts change nothing', () => {
    const wallet = newSolanaKey();
    const cosigner = newSolanaKey();
    const [source, mint, destination, multisig] = [fresh(), fresh(), fresh(), fresh()];
    const ix = getTransferCheckedInstruction({
      source, mint, destination, authority: multisig, amount: 42n, decimals: 0,
      multiSigners: [createNoopSigner(address(wallet.address)), createNoopSigner(address(cosigner.address))],
    });
    const tx = decodeSolanaTransaction(unsignedTransaction({ feePayer: wallet.address, blockhash: BLOCKHASH, instructions: [ix] }));
    expect(tx.signers).toEqual([wallet.address, cosigner.address]);
    expect(solanaEffects(tx, wallet.address).outflows).toEqual([
      { asset: `spl:${mint}`, amount: 42n, decimals: 0, recipient: destination, recipientKind: 'token_account', from: source, source: 'SPL.TransferChecked' },
    ]);
  });
});

describe('associatedTokenAddress', () => {
  test('equals the client\'s findAssociatedTokenPda for SPL Token and Token-2022', async () => {
    for (let i = 0; i < 5; i++) {
      const owner = fresh();
      const mint = fresh();
      for (const program of [TOKEN_PROGRAM, TOKEN_2022_PROGRAM]) {
        const [expected] = await findAssociatedTokenPda({ owner, mint, tokenProgram: address(program) });
        expect(await associatedTokenAddress(owner, mint, program)).toBe(expected);
      }
    }
  });
});
