/**
 * Effects: what a transaction does, decoded by the server from the exact bytes it will sign. The policy engine sees
 * only effects, never caller-supplied metadata. Chain decoders (server/chains/*) produce them; server/policy reads them.
 */

/** Chain family an effect list belongs to. */
export type ChainFamily = 'solana' | 'evm';

/** A movement of value out of the wallet. */
export interface Outflow {
  /** 'native' for SOL / ETH; later a mint or token contract address. */
  asset: 'native';
  /** Amount in base units (lamports, wei). */
  amount: bigint;
  /** Who receives it: a base58 Solana address or a lower-case 0x EVM address. */
  recipient: string;
}

/**
 * Anything the transaction does besides a plain native transfer from the wallet: an instruction of a program, a
 * contract call. The first policy denies every call.
 */
export interface Call {
  /** Program id (Solana, base58) or contract address (EVM, lower-case 0x), or '' for EVM contract creation. */
  program: string;
  /** Instruction discriminator or function selector as hex, when there is one. */
  discriminator?: string;
  /** A short human-readable description, e.g. 'System.CreateAccount' or 'call 0xa9059cbb'. */
  description: string;
}

/**
 * Things a policy must see that are neither outflows nor calls. Each is DENY unless a rule explicitly allows it.
 */
export type Flag =
  | 'ADDRESS_LOOKUP_TABLE' // Solana v0 message loads accounts from lookup tables
  | 'DURABLE_NONCE' // Solana AdvanceNonceAccount as first instruction
  | 'CONTRACT_CREATION' // EVM transaction without `to`
  | 'EIP7702_AUTHORIZATION' // EVM type-4 transaction delegating code
  | 'MISSING_CHAIN_ID'; // EVM legacy transaction without EIP-155 chain id

/** What a transaction does, as decoded from its bytes. */
export interface Effects {
  chain: ChainFamily;
  /** EVM chain id (always set for EVM); undefined for Solana. */
  chainId?: bigint;
  outflows: Outflow[];
  calls: Call[];
  flags: Flag[];
  /** Worst-case network fee paid by the wallet, in base units (lamports: signatures × 5000 plus priority fee; wei: gas × max fee). */
  maxFee: bigint;
}
