/**
 * Well-known Solana program ids, the instruction tags the decoder reads (System, SPL Token / Token-2022, Compute
 * Budget) and instruction names. Names only label calls and errors for humans; nothing is allowed because of a name.
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

/** System CreateAccount (u32 LE tag 0): lamports u64, space u64, owner pubkey; accounts [funding, new]. */
export const SYSTEM_CREATE_ACCOUNT = 0;
/** System Assign: owner pubkey; accounts [assigned]. */
export const SYSTEM_ASSIGN = 1;
/** System Transfer: lamports u64; accounts [from, to]. */
export const SYSTEM_TRANSFER = 2;
/** System CreateAccountWithSeed: base pubkey, seed string, lamports u64, space u64, owner pubkey; accounts [funding, new, base?]. */
export const SYSTEM_CREATE_ACCOUNT_WITH_SEED = 3;
/** AdvanceNonceAccount: as first instruction it makes the transaction's lifetime a durable nonce. */
export const SYSTEM_ADVANCE_NONCE = 4;
/** System AssignWithSeed: base pubkey, seed string, owner pubkey; accounts [assigned, base]. */
export const SYSTEM_ASSIGN_WITH_SEED = 10;
/** System TransferWithSeed: lamports u64, seed string, owner pubkey; accounts [from (derived), base, to]. */
export const SYSTEM_TRANSFER_WITH_SEED = 11;

/** SPL Token / Token-2022 Transfer (1-byte tag 3): amount u64; accounts [source, destination, authority, ...signers]. */
export const TOKEN_TRANSFER = 3;
/** SPL Approve: amount u64; accounts [source, delegate, owner, ...signers]. */
export const TOKEN_APPROVE = 4;
/** SPL Revoke: no data; accounts [source, owner, ...signers]. */
export const TOKEN_REVOKE = 5;
/** SPL SetAuthority: authority type u8, COption<Pubkey> (u8 tag + 32 bytes); accounts [account, current authority, ...signers]. */
export const TOKEN_SET_AUTHORITY = 6;
/** SPL Burn: amount u64; accounts [account, mint, authority, ...signers]. */
export const TOKEN_BURN = 8;
/** SPL CloseAccount: no data; accounts [account, destination, owner, ...signers]. */
export const TOKEN_CLOSE_ACCOUNT = 9;
/** SPL TransferChecked: amount u64, decimals u8; accounts [source, mint, destination, authority, ...signers]. */
export const TOKEN_TRANSFER_CHECKED = 12;
/** SPL ApproveChecked: amount u64, decimals u8; accounts [source, mint, delegate, owner, ...signers]. */
export const TOKEN_APPROVE_CHECKED = 13;
/** SPL BurnChecked: amount u64, decimals u8; accounts [account, mint, authority, ...signers]. */
export const TOKEN_BURN_CHECKED = 15;

/** The two SPL token programs, whose base instructions share one layout. */
export const TOKEN_PROGRAMS: ReadonlySet<string> = new Set([TOKEN_PROGRAM, TOKEN_2022_PROGRAM]);

/** ComputeBudget RequestHeapFrame (u32 bytes): no effect on the fee. */
export const COMPUTE_BUDGET_REQUEST_HEAP_FRAME = 1;
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

/** Tags only the new SPL Token implementation (p-token) knows. Batch runs several token instructions in one. */
const TOKEN_ONLY_NAMES: Readonly<Record<number, string>> = { 38: 'WithdrawExcessLamports', 45: 'UnwrapLamports', 255: 'Batch' };

/** Token-2022 tags after the shared ones: mostly extension families whose sub-instruction is the second byte. */
const TOKEN_2022_EXTRA_NAMES = [
  'InitializeMintCloseAuthority',
  'TransferFeeExtension',
  'ConfidentialTransferExtension',
  'DefaultAccountStateExtension',
  'Reallocate',
  'MemoTransferExtension',
  'CreateNativeMint',
  'InitializeNonTransferableMint',
  'InterestBearingMintExtension',
  'CpiGuardExtension',
  'InitializePermanentDelegate',
  'TransferHookExtension',
  'ConfidentialTransferFeeExtension',
  'WithdrawExcessLamports',
  'MetadataPointerExtension',
  'GroupPointerExtension',
  'GroupMemberPointerExtension',
  'ConfidentialMintBurnExtension',
  'ScaledUiAmountExtension',
  'PausableExtension',
];

const ASSOCIATED_TOKEN_NAMES = ['Create', 'CreateIdempotent', 'RecoverNested'];

function named(prefix: string, names: readonly string[], tag: number | undefined, extra: Readonly<Record<number, string>> = {}): string {
  if (tag === undefined) return `${prefix}.(no data)`;
  return `${prefix}.${names[tag] ?? extra[tag] ?? `Unknown(${tag})`}`;
}

const TOKEN_2022_NAMES = [...TOKEN_NAMES, ...TOKEN_2022_EXTRA_NAMES];

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
      return named('Token', TOKEN_NAMES, tag, TOKEN_ONLY_NAMES);
    case TOKEN_2022_PROGRAM:
      return named('Token2022', TOKEN_2022_NAMES, tag);
    case ASSOCIATED_TOKEN_PROGRAM:
      // The ATA program treats empty data as Create.
      return named('AssociatedToken', ASSOCIATED_TOKEN_NAMES, tag ?? 0);
    default:
      return `call ${program}`;
  }
}
