/**
 * Well-known Solana program ids and instruction names, used to describe calls and to read the few instructions whose
 * data the policy needs (System transfers, compute-budget prices). Names only label calls for humans; nothing is
 * allowed because of a name.
 */

/** The System program. */
export const SYSTEM_PROGRAM = '11111111111111111111111111111111';
/** The Compute Budget program. */
export const COMPUTE_BUDGET_PROGRAM = 'ComputeBudget111111111111111111111111111111';
/** SPL Token. */
export const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
/** SPL Token-2022. */
export const TOKEN_2022_PROGRAM = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';
/** SPL Associated Token Account. */
export const ASSOCIATED_TOKEN_PROGRAM = 'ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL';

/**
 * Signature-verification precompiles: each signature they verify is charged like a transaction signature, and the
 * count is the first data byte.
 */
export const SIGNATURE_PRECOMPILES: ReadonlySet<string> = new Set([
  'Ed25519SigVerify111111111111111111111111111',
  'KeccakSecp256k11111111111111111111111111111',
  'Secp256r1SigVerify1111111111111111111111111',
]);

/** Programs whose instructions start with a one-byte tag rather than a u32 or an 8-byte Anchor discriminator. */
export const ONE_BYTE_DISCRIMINATOR_PROGRAMS: ReadonlySet<string> = new Set([
  COMPUTE_BUDGET_PROGRAM,
  TOKEN_PROGRAM,
  TOKEN_2022_PROGRAM,
  ASSOCIATED_TOKEN_PROGRAM,
]);

/** System instruction discriminators (u32 LE) the decoder acts on. */
export const SYSTEM_TRANSFER = 2;
/** AdvanceNonceAccount: as first instruction it makes the transaction's lifetime a durable nonce. */
export const SYSTEM_ADVANCE_NONCE = 4;

/** ComputeBudget SetComputeUnitLimit (u32 units). */
export const COMPUTE_BUDGET_SET_LIMIT = 2;
/** ComputeBudget SetComputeUnitPrice (u64 micro-lamports per unit). */
export const COMPUTE_BUDGET_SET_PRICE = 3;

const SYSTEM_NAMES = [
  'CreateAccount',
  'Assign',
  'Transfer',
  'CreateAccountWithSeed',
  'AdvanceNonceAccount',
  'WithdrawNonceAccount',
  'InitializeNonceAccount',
  'AuthorizeNonceAccount',
  'Allocate',
  'AllocateWithSeed',
  'AssignWithSeed',
  'TransferWithSeed',
  'UpgradeNonceAccount',
  'CreateAccountAllowPrefund',
];

const COMPUTE_BUDGET_NAMES = [
  'Unused',
  'RequestHeapFrame',
  'SetComputeUnitLimit',
  'SetComputeUnitPrice',
  'SetLoadedAccountsDataSizeLimit',
];

const TOKEN_NAMES = [
  'InitializeMint',
  'InitializeAccount',
  'InitializeMultisig',
  'Transfer',
  'Approve',
  'Revoke',
  'SetAuthority',
  'MintTo',
  'Burn',
  'CloseAccount',
  'FreezeAccount',
  'ThawAccount',
  'TransferChecked',
  'ApproveChecked',
  'MintToChecked',
  'BurnChecked',
  'InitializeAccount2',
  'SyncNative',
  'InitializeAccount3',
  'InitializeMultisig2',
  'InitializeMint2',
  'GetAccountDataSize',
  'InitializeImmutableOwner',
  'AmountToUiAmount',
  'UiAmountToAmount',
];

const ASSOCIATED_TOKEN_NAMES = ['Create', 'CreateIdempotent', 'RecoverNested'];

function named(prefix: string, names: readonly string[], tag: number | undefined): string {
  if (tag === undefined) return `${prefix}.(no data)`;
  return `${prefix}.${names[tag] ?? `Unknown(${tag})`}`;
}

/**
 * A short human-readable label for an instruction, e.g. 'System.CreateAccount' or 'call <program>'. `tag` is the
 * System u32 discriminator or the one-byte tag of the other known programs.
 */
export function describeInstruction(program: string, tag: number | undefined): string {
  switch (program) {
    case SYSTEM_PROGRAM:
      return named('System', SYSTEM_NAMES, tag);
    case COMPUTE_BUDGET_PROGRAM:
      return named('ComputeBudget', COMPUTE_BUDGET_NAMES, tag);
    case TOKEN_PROGRAM:
      return named('Token', TOKEN_NAMES, tag);
    case TOKEN_2022_PROGRAM:
      return named('Token2022', TOKEN_NAMES, tag);
    case ASSOCIATED_TOKEN_PROGRAM:
      // The ATA program treats empty data as Create.
      return named('AssociatedToken', ASSOCIATED_TOKEN_NAMES, tag ?? 0);
    default:
      return `call ${program}`;
  }
}
