/**
 * Shared by the policy test-vector generator (test/vectors/generate.ts) and its runner (test/policy/vectors.test.ts):
 * the deterministic wallet keys, a local signer with the HSM's interface, the vector file format, deterministic
 * addresses, and the few chain fixtures the vectors need that test/support does not have (a hand-assembled minimal
 * Multicall3 and self-multicall token, a Solana nonce account).
 *
 * The wallet keys are TEST CONSTANTS derived from public strings, not secrets; they never appear in the JSON files.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex as nobleHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { address, getAddressDecoder, getAddressEncoder, lamports } from '@solana/kit';
import type { LiteSVM } from 'litesvm';
import { hexToBytes, keccak256, type Hex } from 'viem';
import { evmAddress } from '../../server/chains/evm/index.ts';
import { solanaAddress } from '../../server/chains/solana/index.ts';

// ---------------------------------------------------------------------------------------------------------------
// The wallets.

/** Ed25519 secret of the Solana wallet: sha256('waiaas test vectors: solana wallet'). A test constant. */
export const SOLANA_SECRET = sha256(utf8ToBytes('waiaas test vectors: solana wallet'));
/** secp256k1 secret of the EVM wallet: sha256('waiaas test vectors: evm wallet'). A test constant. */
export const EVM_SECRET = sha256(utf8ToBytes('waiaas test vectors: evm wallet'));

export const SOLANA_PUBLIC_KEY = ed25519.getPublicKey(SOLANA_SECRET);
export const EVM_PUBLIC_KEY = secp256k1.getPublicKey(EVM_SECRET, false);
/** The Solana wallet's address (base58), as the server derives it. */
export const SOLANA_WALLET = solanaAddress(SOLANA_PUBLIC_KEY);
/** The EVM wallet's address (EIP-55), as the server derives it. */
export const EVM_WALLET = evmAddress(EVM_PUBLIC_KEY);

/** Key ids the local signer answers to (any bytes: the server passes the wallet record's keyId through). */
export const SOLANA_KEY_ID = utf8ToBytes('vectors-solana');
export const EVM_KEY_ID = utf8ToBytes('vectors-evm');

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * A local stand-in for the HSM with the interface preparePayload takes: Ed25519 over the message, secp256k1 over a
 * 32-byte digest (low-S, with the recovery bit), with the deterministic test keys.
 */
export const localKeys = {
  async signEd25519(keyId: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
    if (!sameBytes(keyId, SOLANA_KEY_ID)) throw new Error('unknown Ed25519 key id');
    return ed25519.sign(message, SOLANA_SECRET);
  },
  async signSecp256k1(keyId: Uint8Array, digest: Uint8Array): Promise<{ r: Uint8Array; s: Uint8Array; recovery: 0 | 1 }> {
    if (!sameBytes(keyId, EVM_KEY_ID)) throw new Error('unknown secp256k1 key id');
    if (digest.length !== 32) throw new Error('digest must be 32 bytes');
    // noble's 'recovered' format is recovery ‖ r ‖ s; lowS is the default for secp256k1.
    const sig = secp256k1.sign(digest, EVM_SECRET, { prehash: false, lowS: true, format: 'recovered' });
    return { r: sig.slice(1, 33), s: sig.slice(33, 65), recovery: sig[0] === 1 ? 1 : 0 };
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Deterministic addresses.

/** A Solana address that is sha256('waiaas test vectors: ' + label) (not necessarily on the curve). */
export function solanaLabel(label: string): string {
  return getAddressDecoder().decode(sha256(utf8ToBytes(`waiaas test vectors: ${label}`)));
}

/** A lower-case EVM address: the first 20 bytes of sha256('waiaas test vectors: ' + label). */
export function evmLabel(label: string): string {
  return `0x${nobleHex(sha256(utf8ToBytes(`waiaas test vectors: ${label}`)).subarray(0, 20))}`;
}

// ---------------------------------------------------------------------------------------------------------------
// The vector file format (see test/vectors/policy/README.md).

export type VectorVerdict = 'INSTANT' | 'NOTIFY' | 'DELAY' | 'APPROVAL' | 'DENY';
export type VectorKind = 'solana_transaction' | 'evm_transaction' | 'evm_message' | 'evm_typed_data' | 'solana_message';

/** Decimal strings for amounts everywhere: JSON numbers lose precision past 2^53. */
export interface VectorUsage {
  /** Reserved amount per `<asset>|<windowSeconds>`. */
  spent?: Record<string, string>;
  /** Requests counted per window (seconds, as a string key). */
  counts?: Record<string, number>;
  /** When the wallet last signed (ISO 8601). */
  last_signed?: string;
}

export type VectorExpect = { verdict: VectorVerdict; rule: string; detail_contains?: string } | { error: string };

/** Solana runtime set-up and post-state. All amounts decimal strings. */
export interface SolanaExecute {
  /** System-owned accounts and their exact lamports before the transaction (the wallet is one of them). */
  accounts?: Record<string, string>;
  mints?: { address: string; decimals: number; program?: string; authority?: string; supply?: string }[];
  token_accounts?: { address: string; mint: string; owner: string; amount: string; program?: string; delegate?: string; delegated_amount?: string }[];
  /** Active lookup tables: table address → its addresses in order. */
  lookup_tables?: Record<string, string[]>;
  /** Initialized System nonce accounts: the stored durable nonce is `nonce` (base58, the transaction's blockhash). */
  nonce_accounts?: { address: string; authority: string; nonce: string }[];
  expect: {
    /** Exact lamports after the transaction. */
    lamports?: Record<string, string>;
    /** Token account state after; `delegate: null` means no delegate. */
    token_accounts?: Record<string, { amount?: string; delegate?: string | null; delegated_amount?: string; owner?: string }>;
    /** The program that owns the account after (System Assign). */
    owners?: Record<string, string>;
    /** Substrings every one of which some log line contains. */
    logs_contain?: string[];
  };
}

/** EVM runtime set-up and post-state. All amounts decimal strings; addresses lower-case. */
export interface EvmExecute {
  /** Wei balances before the transaction (a funded sender runs with the transaction's own nonce). */
  accounts?: Record<string, string>;
  /** Runtime code (0x hex) placed at addresses before the transaction. */
  code?: Record<string, string>;
  /**
   * Test ERC-20 tokens (test/support/evm.ts ERC20_RUNTIME_BYTECODE: balance of `a` at slot `a`, allowance of
   * (owner, spender) at keccak256(owner ‖ spender)), with their balances and allowances. `code` replaces the runtime
   * code (a proxy with the same storage layout).
   */
  erc20?: { address: string; code?: string; balances?: Record<string, string>; allowances?: { owner: string; spender: string; amount: string }[] }[];
  expect: {
    balances?: Record<string, string>;
    erc20_balances?: { token: string; owner: string; amount: string }[];
    erc20_allowances?: { token: string; owner: string; spender: string; amount: string }[];
    /** Runtime code after ('0x' for none): EIP-7702 delegation designators. */
    code?: Record<string, string>;
    storage?: { address: string; slot: string; value: string }[];
  };
}

/** Messages: the signature must verify against the wallet's key (ecrecover / Ed25519). */
export interface MessageExecute {
  verify_signature: true;
}

export type VectorExecute = SolanaExecute | EvmExecute | MessageExecute | { skip: string };

export interface Vector {
  name: string;
  /** Why the expected outcome follows from the rules; for people. */
  note?: string;
  chain: 'solana' | 'evm';
  policy: Record<string, unknown>;
  kind: VectorKind;
  /** Hex (no 0x) of the bytes, or the typed-data JSON text for evm_typed_data. */
  request: string;
  /** EVM transactions: the chain id the request is for. */
  chain_id?: number;
  /** Evaluation time (ISO 8601); default 2026-03-04T12:00:00Z, a Wednesday. */
  now?: string;
  usage?: VectorUsage;
  expect: VectorExpect;
  /** Required for every vector that is not DENY and not an error: how to run what was signed, and what must hold. */
  execute?: VectorExecute;
  /** The server does not behave as expected here (see the report); the runner lists and skips such vectors. */
  known_issue?: string;
}

export interface VectorFile {
  class: string;
  description: string;
  vectors: Vector[];
}

/** The evaluation time of vectors without `now`. */
export const DEFAULT_NOW = '2026-03-04T12:00:00Z';

// ---------------------------------------------------------------------------------------------------------------
// A small EVM assembler (two passes, labels) for the fixture contracts below.

const OPS: Record<string, number> = {
  STOP: 0x00, ADD: 0x01, MUL: 0x02, SUB: 0x03, LT: 0x10, GT: 0x11, EQ: 0x14, ISZERO: 0x15, AND: 0x16, OR: 0x17, SHR: 0x1c,
  ADDRESS: 0x30, CALLER: 0x33, CALLVALUE: 0x34, CALLDATALOAD: 0x35, CALLDATASIZE: 0x36, CALLDATACOPY: 0x37,
  RETURNDATASIZE: 0x3d, RETURNDATACOPY: 0x3e, POP: 0x50, MLOAD: 0x51, MSTORE: 0x52, SLOAD: 0x54, SSTORE: 0x55,
  JUMP: 0x56, JUMPI: 0x57, GAS: 0x5a, JUMPDEST: 0x5b, CALL: 0xf1, RETURN: 0xf3, DELEGATECALL: 0xf4, REVERT: 0xfd,
};
for (let i = 1; i <= 16; i++) {
  OPS[`DUP${i}`] = 0x7f + i;
  OPS[`SWAP${i}`] = 0x8f + i;
}

/** Tokens: opcodes, `PUSHn 0x…`, `label:x` (a JUMPDEST), `ref:x` (PUSH2 of x), `// comments`. */
export function assemble(source: string): Hex {
  const tokens = source.replace(/\/\/[^\n]*/g, '').split(/\s+/).filter((t) => t !== '');
  const labels = new Map<string, number>();
  const emit = (resolve: boolean): number[] => {
    const out: number[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (t.startsWith('label:')) {
        if (!resolve) labels.set(t.slice(6), out.length);
        out.push(OPS.JUMPDEST!);
      } else if (t.startsWith('ref:')) {
        const at = resolve ? labels.get(t.slice(4)) : 0;
        if (at === undefined) throw new Error(`unknown label ${t}`);
        out.push(0x61, at >> 8, at & 0xff);
      } else if (/^PUSH([1-9]|[12][0-9]|3[0-2])$/.test(t)) {
        const size = Number(t.slice(4));
        const imm = hexToBytes(tokens[++i] as Hex);
        if (imm.length > size) throw new Error(`${t} immediate too long`);
        out.push(0x5f + size, ...new Uint8Array(size - imm.length), ...imm);
      } else {
        const op = OPS[t];
        if (op === undefined) throw new Error(`unknown opcode ${t}`);
        out.push(op);
      }
    }
    return out;
  };
  emit(false);
  return `0x${nobleHex(new Uint8Array(emit(true)))}`;
}

/**
 * Just enough Multicall3 for the vectors: `aggregate3((address target, bool allowFailure, bytes callData)[])` CALLs
 * each target with its calldata and no value, reverting when a call fails unless it allows failure; it returns
 * nothing (a transaction ignores the results). Any other selector reverts. Placed at MULTICALL3_ADDRESS.
 */
export const MINI_MULTICALL3_CODE: Hex = assemble(`
  PUSH1 0x00 CALLDATALOAD PUSH1 0xe0 SHR PUSH4 0x82ad56cb EQ ref:aggregate3 JUMPI
  label:revert PUSH1 0x00 DUP1 REVERT
  label:aggregate3
  PUSH1 0x04 CALLDATALOAD PUSH1 0x04 ADD          // [base]          base: the array's length word
  DUP1 CALLDATALOAD SWAP1 PUSH1 0x20 ADD          // [heads, n]      heads: the element offsets
  PUSH1 0x00                                      // [i, heads, n]
  label:loop
  DUP3 DUP2 LT ISZERO ref:done JUMPI
  DUP1 PUSH1 0x20 MUL DUP3 ADD CALLDATALOAD DUP3 ADD   // [tuple, i, heads, n]
  DUP1 PUSH1 0x40 ADD CALLDATALOAD DUP2 ADD            // [cd, tuple, …]   callData's length word
  DUP1 CALLDATALOAD                                    // [len, cd, tuple, …]
  DUP1 DUP3 PUSH1 0x20 ADD PUSH1 0x00 CALLDATACOPY     // memory[0..len] = callData
  PUSH1 0x00 PUSH1 0x00 DUP3 PUSH1 0x00 PUSH1 0x00     // retSize retOffset argsSize argsOffset value
  DUP8 CALLDATALOAD GAS CALL                           // [success, len, cd, tuple, i, heads, n]
  DUP4 PUSH1 0x20 ADD CALLDATALOAD OR                  // success || allowFailure
  ISZERO ref:revert JUMPI
  POP POP POP PUSH1 0x01 ADD ref:loop JUMP
  label:done STOP
`);

/**
 * A token with a self-multicall: `multicall(bytes[])` DELEGATECALLs the contract itself with each blob (so every inner
 * call keeps the wallet as msg.sender, as in Uniswap's periphery); any other call is forwarded by DELEGATECALL to the
 * test ERC-20 at `implementation`, so its storage is the ERC-20 layout.
 */
export function multicallTokenCode(implementation: string): Hex {
  return assemble(`
    PUSH1 0x00 CALLDATALOAD PUSH1 0xe0 SHR PUSH4 0xac9650d8 EQ ref:multicall JUMPI
    CALLDATASIZE PUSH1 0x00 PUSH1 0x00 CALLDATACOPY
    PUSH1 0x00 PUSH1 0x00 CALLDATASIZE PUSH1 0x00 PUSH20 ${implementation} GAS DELEGATECALL
    RETURNDATASIZE PUSH1 0x00 PUSH1 0x00 RETURNDATACOPY
    ref:ok JUMPI
    RETURNDATASIZE PUSH1 0x00 REVERT
    label:ok RETURNDATASIZE PUSH1 0x00 RETURN
    label:multicall
    PUSH1 0x04 CALLDATALOAD PUSH1 0x04 ADD DUP1 CALLDATALOAD SWAP1 PUSH1 0x20 ADD PUSH1 0x00   // [i, heads, n]
    label:loop
    DUP3 DUP2 LT ISZERO ref:done JUMPI
    DUP1 PUSH1 0x20 MUL DUP3 ADD CALLDATALOAD DUP3 ADD       // [blob, i, heads, n]
    DUP1 CALLDATALOAD                                        // [len, blob, …]
    DUP1 DUP3 PUSH1 0x20 ADD PUSH1 0x00 CALLDATACOPY
    PUSH1 0x00 PUSH1 0x00 DUP3 PUSH1 0x00 ADDRESS GAS DELEGATECALL
    ISZERO ref:revert JUMPI
    POP POP PUSH1 0x01 ADD ref:loop JUMP
    label:done STOP
    label:revert PUSH1 0x00 DUP1 REVERT
  `);
}

/** Records its last call: slot 0 = the first calldata word after the selector, slot 1 = the selector. */
export const RECORDER_CODE: Hex = assemble(`
  PUSH1 0x04 CALLDATALOAD PUSH1 0x00 SSTORE
  PUSH1 0x00 CALLDATALOAD PUSH1 0xe0 SHR PUSH1 0x01 SSTORE
  STOP
`);

/** The storage slot of allowance(owner, spender) in the test ERC-20. */
export function erc20AllowanceSlot(owner: string, spender: string): Hex {
  const word = (a: string) => a.toLowerCase().slice(2).padStart(64, '0');
  return keccak256(`0x${word(owner)}${word(spender)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Solana fixtures.

/** Size of a System nonce account: Versions u32, State u32, authority, durable nonce, lamports_per_signature u64. */
const NONCE_ACCOUNT_BYTES = 80;

/** Writes an initialized (Versions::Current) nonce account whose stored durable nonce is `nonce` (base58). */
export function setNonceAccount(svm: LiteSVM, opts: { address: string; authority: string; nonce: string }): void {
  const data = new Uint8Array(NONCE_ACCOUNT_BYTES);
  const view = new DataView(data.buffer);
  view.setUint32(0, 1, true); // Versions::Current
  view.setUint32(4, 1, true); // State::Initialized
  data.set(getAddressEncoder().encode(address(opts.authority)), 8);
  data.set(getAddressEncoder().encode(address(opts.nonce)), 40);
  view.setBigUint64(72, 5000n, true);
  svm.setAccount({
    address: address(opts.address),
    lamports: lamports(1_447_680n),
    data,
    executable: false,
    programAddress: address('11111111111111111111111111111111'),
    space: BigInt(NONCE_ACCOUNT_BYTES),
  });
}

/** The durable nonce stored in a nonce account (base58), or undefined when it is not one. */
export function readNonce(svm: LiteSVM, addr: string): string | undefined {
  const acc = svm.getAccount(address(addr));
  if (!acc.exists || acc.data.length !== NONCE_ACCOUNT_BYTES) return undefined;
  return getAddressDecoder().decode(new Uint8Array(acc.data).subarray(40, 72));
}
