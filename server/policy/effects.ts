/**
 * Effects: what a request does, decoded by the server from the exact bytes it will sign. The policy engine sees only
 * effects, never caller-supplied metadata. Chain decoders (server/chains/*) produce them; server/policy reads them.
 *
 * Conventions (every decoder follows them, the engine relies on them):
 * - Addresses are canonical strings: Solana base58 exactly as encoded; EVM lower-case 0x hex.
 * - An address the bytes do not pin down (a Solana account loaded from an address lookup table) is written
 *   `lookup:<table>:<index>`, which no allow list can ever match.
 * - Assets are ids: `native` (SOL / ETH), `spl:<mint>` (SPL Token or Token-2022), `erc20:<0x…>`, `erc721:<0x…>`,
 *   `erc1155:<0x…>`, and `unknown` when the bytes do not say which token moves (an unchecked SPL `Transfer` names
 *   only token accounts, not the mint).
 * - Amounts are base units as bigint; `decimals` is set only when the signed bytes state it (SPL *Checked).
 * - A decoded instruction or call that is fully understood becomes outflows/grants/fee effects and NOT a Call; only
 *   what the engine cannot decode (or decodes but has no typed effect for) is a Call, which needs an explicit
 *   program/contract rule.
 */

/** Chain family an effect list belongs to. */
export type ChainFamily = 'solana' | 'evm';

/** A movement of value out of the wallet (or, for transferFrom / transfer-with-seed, out of an account the wallet controls). */
export interface Outflow {
  /** `native`, `spl:<mint>`, `erc20:<addr>`, `erc721:<addr>`, `erc1155:<addr>` or `unknown`. */
  asset: string;
  /** Amount in base units (lamports, wei, token base units; 1 per ERC-721 token). */
  amount: bigint;
  /** Token decimals when the signed bytes state them (SPL TransferChecked); undefined otherwise. */
  decimals?: number;
  /** Who receives it: the owner address for native and EVM tokens; for SPL, the destination token account. */
  recipient: string;
  /** 'owner': recipient is the beneficiary's address; 'token_account': an SPL token account whose owner the bytes do not state; 'burn': destroyed. */
  recipientKind: 'owner' | 'token_account' | 'burn';
  /** The account the value leaves, when it is not the wallet itself (transferFrom's `from`, a delegated SPL source). */
  from?: string;
  /** Which instruction or call produced it, e.g. 'System.Transfer', 'ERC20.transferFrom', 'Multicall3.aggregate3[1]'. */
  source: string;
}

/** Kinds of grant: anything that hands control of, or an allowance over, the wallet's assets to someone else. */
export type GrantKind =
  | 'token_approval' // ERC-20 approve / increaseAllowance, SPL Approve(Checked)
  | 'permit' // EIP-2612 / DAI-style permit signed off-chain
  | 'permit2' // Uniswap Permit2 PermitSingle / PermitBatch / transfer-from / witness
  | 'approval_for_all' // ERC-721 / ERC-1155 setApprovalForAll(operator, true)
  | 'set_authority' // SPL SetAuthority: a new owner / close / mint authority
  | 'close_account' // SPL CloseAccount: lamports go to `spender`, the account is gone
  | 'assign' // System Assign: the account's owner program changes to `spender`
  | 'code_delegation'; // EIP-7702 authorization: the wallet's code is delegated to `spender`

/** A grant of control or allowance. */
export interface Grant {
  kind: GrantKind;
  /** The asset the grant covers (`*` when it covers every token of the wallet, e.g. Permit2 is per token so never `*`). */
  asset: string;
  /** Who receives the power: spender, operator, new authority, close destination, owner program, delegate code. */
  spender: string;
  /** Maximum amount in base units; null when the grant is unbounded (all tokens, authority, close, assign, delegation). */
  amount: bigint | null;
  /** True when the amount is unbounded or at the type's maximum (2^256-1, 2^160-1 for Permit2, u64::MAX for SPL). */
  unlimited: boolean;
  /** Unix seconds after which the grant is void, when the bytes say (permits); undefined = no expiry. */
  expiry?: bigint;
  /** A decreasing grant (decreaseAllowance, setApprovalForAll(false), approve(0)) that only takes power away. */
  revoke?: boolean;
  /** Which instruction or message produced it, e.g. 'ERC20.approve', 'EIP-2612 Permit', 'SPL.SetAuthority'. */
  source: string;
}

/** An instruction or contract call the engine cannot turn into typed effects: allowed only by a program rule. */
export interface Call {
  /** Program id (Solana, base58) or contract address (EVM, lower-case 0x). */
  program: string;
  /** Instruction discriminator or function selector, lower-case hex without 0x ('' when the data is too short). */
  discriminator: string;
  /** The whole instruction data / calldata, lower-case hex without 0x, for argument constraints. */
  data: string;
  /** Solana: the instruction's accounts in order (lookup-table accounts as `lookup:…`); EVM: empty. */
  accounts: string[];
  /** Native value sent with the call (EVM); 0 for Solana. */
  value: bigint;
  /** Short human-readable description, e.g. 'call 0xa9059cbb on 0x…' or 'Program Xyz… instruction 0a'. */
  description: string;
}

/** What a message-signing request signs. */
export interface MessageEffect {
  kind: 'eip191' | 'eip712' | 'solana_offchain';
  /** The message as text when it is valid UTF-8 (EIP-191, Solana off-chain), else undefined. */
  text?: string;
  /** EIP-712 only: the domain's fields as strings (name, version, chainId, verifyingContract, salt). */
  domain?: Record<string, string>;
  /** EIP-712 only: the primary type. */
  primaryType?: string;
}

/**
 * Things a policy must see that are neither outflows, grants nor calls. Each is DENY unless a rule explicitly
 * allows it.
 */
export type Flag =
  | 'ADDRESS_LOOKUP_TABLE' // Solana v0 message loads accounts from lookup tables
  | 'DURABLE_NONCE' // Solana AdvanceNonceAccount as first instruction: the transaction never expires
  | 'CONTRACT_CREATION' // EVM transaction without `to`
  | 'EIP7702_AUTHORIZATION' // EVM type-4 transaction delegating code
  | 'MISSING_CHAIN_ID' // EVM legacy transaction without EIP-155 chain id (replayable on every chain)
  | 'UNKNOWN_TYPED_DATA'; // EIP-712 typed data of a type the engine does not decode

/** What a request does, as decoded from its bytes. */
export interface Effects {
  chain: ChainFamily;
  /** EVM chain id (transactions; EIP-712 when the domain has one); undefined for Solana. */
  chainId?: bigint;
  outflows: Outflow[];
  grants: Grant[];
  calls: Call[];
  flags: Flag[];
  /** Worst-case network fee paid by the wallet in native base units (lamports: signatures × 5000 + priority fee; wei: gas × max fee). 0 for messages. */
  maxFee: bigint;
  /** Set for message-signing requests. */
  message?: MessageEffect;
}

/** An Effects value with nothing in it, for decoders to fill. */
export function emptyEffects(chain: ChainFamily, chainId?: bigint): Effects {
  return { chain, ...(chainId === undefined ? {} : { chainId }), outflows: [], grants: [], calls: [], flags: [], maxFee: 0n };
}
