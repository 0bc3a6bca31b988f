/**
 * Test support for EVM chains: build unsigned transactions with viem, and execute signed ones in @ethereumjs/vm (a
 * full EVM with signature recovery, hardfork Prague) to prove that what the server signed really runs. Also a tiny
 * hand-assembled ERC-20 (deployErc20, erc20BalanceOf, erc20Allowance) so that token calls the decoder reads can be
 * executed and their outcome checked on a real EVM.
 */
import { createCustomCommon, Hardfork, Mainnet, type Common } from '@ethereumjs/common';
import { createTxFromRLP } from '@ethereumjs/tx';
import { Account, createAddressFromString } from '@ethereumjs/util';
import { createVM, runTx, type VM } from '@ethereumjs/vm';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { randomBytes } from 'node:crypto';
import {
  bytesToHex,
  encodeFunctionData,
  erc20Abi,
  hexToBigInt,
  hexToBytes,
  keccak256,
  serializeTransaction,
  toHex,
  type AccessList,
  type Hex,
  type SignedAuthorizationList,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const GWEI = 1_000_000_000n;

/** A Common for `chainId` at hardfork Prague (EIP-7702 active). */
export function evmCommon(chainId: bigint): Common {
  return createCustomCommon({ chainId: Number(chainId) }, Mainnet, { hardfork: Hardfork.Prague });
}

/** A random secp256k1 key, its 65-byte uncompressed public key and its checksummed address. */
export function newEvmKey(): { secretKey: Uint8Array; publicKey: Uint8Array; address: string } {
  const secretKey = secp256k1.utils.randomSecretKey();
  const publicKey = secp256k1.getPublicKey(secretKey, false);
  return { secretKey, publicKey, address: privateKeyToAccount(bytesToHex(secretKey)).address };
}

/** Result of executing a transaction in @ethereumjs/vm. */
export interface EvmExecution {
  ok: boolean;
  error?: string;
  /** Wei held by `addr` after the transaction. */
  balance(addr: string): Promise<bigint>;
  /** The recovered sender, lower-case 0x ('' when the transaction did not even decode). */
  sender: string;
}

/** A fresh @ethereumjs VM for `chainId` at hardfork Prague, with empty state: for several transactions in a row. */
export async function createEvm(chainId: bigint): Promise<VM> {
  return createVM({ common: evmCommon(chainId) });
}

/** Wei held by `addr` in `vm`. */
export async function evmBalance(vm: VM, addr: string): Promise<bigint> {
  return (await vm.stateManager.getAccount(createAddressFromString(addr.toLowerCase())))?.balance ?? 0n;
}

/**
 * Sets the wei balance of each address, keeping the rest of an existing account (nonce, code, storage), so a deployed
 * contract can be funded too. `nonces` overrides the nonce of the addresses it names.
 */
export async function fundEvm(vm: VM, fund: Record<string, bigint>, nonces: Record<string, bigint> = {}): Promise<void> {
  const lowerNonces = new Map(Object.entries(nonces).map(([addr, nonce]) => [addr.toLowerCase(), nonce]));
  for (const [addr, wei] of Object.entries(fund)) {
    const address = createAddressFromString(addr.toLowerCase());
    const account = (await vm.stateManager.getAccount(address)) ?? new Account();
    account.balance = wei;
    const nonce = lowerNonces.get(addr.toLowerCase());
    if (nonce !== undefined) account.nonce = nonce;
    await vm.stateManager.putAccount(address, account);
  }
}

/**
 * Executes a signed transaction. By default on a fresh VM; pass `vm` (from createEvm) to run several transactions
 * against the same state, e.g. after deployErc20. Each `fund` address is given the stated wei (fundEvm), and a funded
 * sender's account nonce is set to the transaction's nonce, so a transaction with any nonce can run; an unfunded
 * sender keeps its nonce (the VM increments it after each transaction). Everything else (signature, chain id,
 * balance, gas) is checked by the VM.
 */
export async function executeEvm(opts: {
  signedTx: Uint8Array;
  chainId: bigint;
  fund?: Record<string, bigint>;
  vm?: VM;
}): Promise<EvmExecution> {
  const vm = opts.vm ?? (await createEvm(opts.chainId));
  const common = vm.common;
  const balance = (addr: string): Promise<bigint> => evmBalance(vm, addr);
  let tx;
  let sender: string;
  try {
    tx = createTxFromRLP(opts.signedTx, { common });
    sender = tx.getSenderAddress().toString().toLowerCase();
  } catch (e) {
    return { ok: false, error: `transaction does not decode: ${(e as Error).message}`, balance, sender: '' };
  }
  const fund = opts.fund ?? {};
  const funded = Object.keys(fund).some((addr) => addr.toLowerCase() === sender);
  await fundEvm(vm, fund, funded ? { [sender]: tx.nonce } : {});
  try {
    const result = await runTx(vm, { tx });
    const failure = result.execResult.exceptionError;
    return failure ? { ok: false, error: failure.error, balance, sender } : { ok: true, balance, sender };
  } catch (e) {
    return { ok: false, error: (e as Error).message, balance, sender };
  }
}

/** Fields shared by the unsigned-transaction builders. `to: null` builds a contract creation. */
export interface UnsignedEvmBase {
  to: string | null;
  value: bigint;
  nonce?: number;
  /** Gas limit; defaults to 21 000 without data, 200 000 with. */
  gas?: bigint;
  data?: Hex;
}

function base(opts: UnsignedEvmBase) {
  const data = opts.data && opts.data !== '0x' ? opts.data : undefined;
  return {
    ...(opts.to === null ? {} : { to: opts.to as Hex }),
    value: opts.value,
    nonce: opts.nonce ?? 0,
    gas: opts.gas ?? (data ? 200_000n : 21_000n),
    ...(data ? { data } : {}),
  };
}

/** Unsigned EIP-1559 (type 0x02) bytes, serialized by viem. */
export function unsignedEip1559(
  opts: UnsignedEvmBase & { chainId: bigint; maxFeePerGas?: bigint; maxPriorityFeePerGas?: bigint; accessList?: AccessList },
): Uint8Array {
  return hexToBytes(
    serializeTransaction({
      type: 'eip1559',
      chainId: Number(opts.chainId),
      ...base(opts),
      maxFeePerGas: opts.maxFeePerGas ?? 2n * GWEI,
      maxPriorityFeePerGas: opts.maxPriorityFeePerGas ?? GWEI,
      ...(opts.accessList ? { accessList: opts.accessList } : {}),
    }),
  );
}

/** Unsigned EIP-2930 (type 0x01) bytes, serialized by viem. */
export function unsignedEip2930(opts: UnsignedEvmBase & { chainId: bigint; gasPrice?: bigint; accessList?: AccessList }): Uint8Array {
  return hexToBytes(
    serializeTransaction({
      type: 'eip2930',
      chainId: Number(opts.chainId),
      ...base(opts),
      gasPrice: opts.gasPrice ?? 2n * GWEI,
      accessList: opts.accessList ?? [],
    }),
  );
}

/** Unsigned EIP-7702 (type 0x04) bytes, serialized by viem; `authorizationList` holds signed authorizations. */
export function unsignedEip7702(
  opts: UnsignedEvmBase & {
    chainId: bigint;
    to: string;
    authorizationList: SignedAuthorizationList;
    maxFeePerGas?: bigint;
    maxPriorityFeePerGas?: bigint;
  },
): Uint8Array {
  return hexToBytes(
    serializeTransaction({
      type: 'eip7702',
      chainId: Number(opts.chainId),
      ...base(opts),
      gas: opts.gas ?? 100_000n,
      maxFeePerGas: opts.maxFeePerGas ?? 2n * GWEI,
      maxPriorityFeePerGas: opts.maxPriorityFeePerGas ?? GWEI,
      authorizationList: opts.authorizationList,
    }),
  );
}

/**
 * Unsigned legacy bytes, serialized by viem: the EIP-155 form [nonce, gasPrice, gas, to, value, data, chainId, 0, 0],
 * or the pre-EIP-155 6-field list when `chainId` is null.
 */
export function unsignedLegacy(opts: UnsignedEvmBase & { chainId: bigint | null; gasPrice?: bigint }): Uint8Array {
  return hexToBytes(
    serializeTransaction({
      type: 'legacy',
      ...(opts.chainId === null ? {} : { chainId: Number(opts.chainId) }),
      ...base(opts),
      gasPrice: opts.gasPrice ?? 2n * GWEI,
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// A minimal ERC-20, hand-assembled (no compiler, nothing downloaded), to execute the token calls the decoder reads.

/** Opcodes used by the assembler below. */
const OPCODES: Record<string, number> = {
  ADD: 0x01, SUB: 0x03, LT: 0x10, GT: 0x11, EQ: 0x14, AND: 0x16, SHR: 0x1c, SHA3: 0x20,
  CALLER: 0x33, CALLVALUE: 0x34, CALLDATALOAD: 0x35, POP: 0x50, MLOAD: 0x51, MSTORE: 0x52, SLOAD: 0x54,
  SSTORE: 0x55, JUMP: 0x56, JUMPI: 0x57, JUMPDEST: 0x5b, DUP1: 0x80, DUP2: 0x81, DUP3: 0x82, DUP4: 0x83,
  SWAP1: 0x90, LOG3: 0xa3, RETURN: 0xf3, REVERT: 0xfd,
};

/**
 * A two-pass assembler for whitespace-separated tokens: an opcode name; `PUSHn 0x…` with its immediate; `label:x`,
 * which places a JUMPDEST named x; `ref:x`, a PUSH2 of x's offset; `// …` comments to the end of the line. Enough for a hand-written contract to be readable.
 */
export function assembleEvm(source: string): Hex {
  const tokens = source.replace(/\/\/[^\n]*/g, '').split(/\s+/).filter((t) => t !== '');
  const labels = new Map<string, number>();
  const emit = (resolve: boolean): number[] => {
    const out: number[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i]!;
      if (token.startsWith('label:')) {
        if (!resolve) labels.set(token.slice(6), out.length);
        out.push(OPCODES.JUMPDEST!);
      } else if (token.startsWith('ref:')) {
        const at = resolve ? labels.get(token.slice(4)) : 0;
        if (at === undefined) throw new Error(`unknown label ${token}`);
        out.push(0x61, at >> 8, at & 0xff);
      } else if (/^PUSH([1-9]|[12][0-9]|3[0-2])$/.test(token)) {
        const size = Number(token.slice(4));
        const immediate = hexToBytes(tokens[++i] as Hex);
        if (immediate.length > size) throw new Error(`${token} immediate too long`);
        out.push(0x5f + size, ...new Uint8Array(size - immediate.length), ...immediate);
      } else {
        const op = OPCODES[token];
        if (op === undefined) throw new Error(`unknown opcode ${token}`);
        out.push(op);
      }
    }
    return out;
  };
  emit(false);
  return bytesToHex(new Uint8Array(emit(true)));
}

const TRANSFER_TOPIC = keccak256(toHex('Transfer(address,address,uint256)'));
const APPROVAL_TOPIC = keccak256(toHex('Approval(address,address,uint256)'));
const MASK = `PUSH20 0x${'ff'.repeat(20)} AND`;

/**
 * Runtime code of the test ERC-20: transfer, transferFrom, approve, increaseAllowance, decreaseAllowance, balanceOf,
 * allowance; each state change emits the standard Transfer / Approval event; insufficient balance or allowance, an
 * unknown selector or attached value revert. Storage: balance of `a` at slot `a`, allowance of (owner, spender) at slot
 * keccak256(owner ‖ spender), both 32-byte words. Like Solidity tokens it ignores trailing calldata; unlike them it
 * masks the high bits of address arguments instead of reverting (the decoder refuses such calldata before it gets here).
 */
export const ERC20_RUNTIME_BYTECODE: Hex = assembleEvm(`
  CALLVALUE ref:revert JUMPI
  PUSH1 0x00 CALLDATALOAD PUSH1 0xe0 SHR
  DUP1 PUSH4 0xa9059cbb EQ ref:transfer JUMPI
  DUP1 PUSH4 0x23b872dd EQ ref:transferFrom JUMPI
  DUP1 PUSH4 0x095ea7b3 EQ ref:approve JUMPI
  DUP1 PUSH4 0x39509351 EQ ref:increaseAllowance JUMPI
  DUP1 PUSH4 0xa457c2d7 EQ ref:decreaseAllowance JUMPI
  DUP1 PUSH4 0x70a08231 EQ ref:balanceOf JUMPI
  DUP1 PUSH4 0xdd62ed3e EQ ref:allowance JUMPI
  label:revert
  PUSH1 0x00 PUSH1 0x00 REVERT

  label:returnWord
  PUSH1 0x00 MSTORE PUSH1 0x20 PUSH1 0x00 RETURN
  label:returnTrue
  PUSH1 0x01 ref:returnWord JUMP

  label:balanceOf
  PUSH1 0x04 CALLDATALOAD ${MASK} SLOAD ref:returnWord JUMP

  label:allowance
  PUSH1 0x04 CALLDATALOAD ${MASK} PUSH1 0x00 MSTORE
  PUSH1 0x24 CALLDATALOAD ${MASK} PUSH1 0x20 MSTORE
  PUSH1 0x40 PUSH1 0x00 SHA3 SLOAD ref:returnWord JUMP

  label:transfer
  CALLER PUSH1 0x04 CALLDATALOAD ${MASK} PUSH1 0x24 CALLDATALOAD
  ref:move JUMP

  label:transferFrom
  PUSH1 0x04 CALLDATALOAD ${MASK}
  DUP1 PUSH1 0x00 MSTORE CALLER PUSH1 0x20 MSTORE
  PUSH1 0x40 PUSH1 0x00 SHA3
  DUP1 SLOAD
  PUSH1 0x44 CALLDATALOAD
  DUP2 DUP2 GT ref:revert JUMPI
  SWAP1 SUB
  SWAP1 SSTORE
  PUSH1 0x24 CALLDATALOAD ${MASK}
  PUSH1 0x44 CALLDATALOAD
  ref:move JUMP

  // move: stack (top first) amount, to, from
  label:move
  DUP3 SLOAD
  DUP2 DUP2 LT ref:revert JUMPI
  DUP2 SWAP1 SUB
  DUP4 SSTORE
  DUP2 SLOAD DUP2 ADD
  DUP3 SSTORE
  PUSH1 0x00 MSTORE
  SWAP1 PUSH32 ${TRANSFER_TOPIC}
  PUSH1 0x20 PUSH1 0x00 LOG3
  ref:returnTrue JUMP

  // memory[0..64] = owner ‖ spender
  label:approve
  CALLER PUSH1 0x00 MSTORE
  PUSH1 0x04 CALLDATALOAD ${MASK} PUSH1 0x20 MSTORE
  PUSH1 0x24 CALLDATALOAD
  ref:setAllowance JUMP

  label:increaseAllowance
  CALLER PUSH1 0x00 MSTORE
  PUSH1 0x04 CALLDATALOAD ${MASK} PUSH1 0x20 MSTORE
  PUSH1 0x40 PUSH1 0x00 SHA3 SLOAD
  DUP1 PUSH1 0x24 CALLDATALOAD ADD
  DUP2 DUP2 LT ref:revert JUMPI
  SWAP1 POP
  ref:setAllowance JUMP

  label:decreaseAllowance
  CALLER PUSH1 0x00 MSTORE
  PUSH1 0x04 CALLDATALOAD ${MASK} PUSH1 0x20 MSTORE
  PUSH1 0x40 PUSH1 0x00 SHA3 SLOAD
  PUSH1 0x24 CALLDATALOAD
  DUP2 DUP2 GT ref:revert JUMPI
  SWAP1 SUB
  ref:setAllowance JUMP

  // setAllowance: stack amount; memory[0..64] = owner ‖ spender
  label:setAllowance
  DUP1 PUSH1 0x40 PUSH1 0x00 SHA3 SSTORE
  PUSH1 0x40 MSTORE
  PUSH1 0x20 MLOAD PUSH1 0x00 MLOAD
  PUSH32 ${APPROVAL_TOPIC}
  PUSH1 0x20 PUSH1 0x40 LOG3
  ref:returnTrue JUMP
`);

function word(addr: string): Uint8Array {
  return hexToBytes(`0x${addr.toLowerCase().slice(2).padStart(64, '0')}`);
}

/**
 * Deploys the test ERC-20 (ERC20_RUNTIME_BYTECODE) into `vm` at `address` (default: a random one) and credits each
 * holder in `balances` with that many base units. Returns the token's lower-case address. The code is placed directly
 * into state (there is no constructor), so deploying costs no transaction and no nonce.
 */
export async function deployErc20(vm: VM, opts: { balances?: Record<string, bigint>; address?: string } = {}): Promise<string> {
  const token = (opts.address ?? bytesToHex(randomBytes(20))).toLowerCase();
  const address = createAddressFromString(token);
  await vm.stateManager.putAccount(address, new Account());
  await vm.stateManager.putCode(address, hexToBytes(ERC20_RUNTIME_BYTECODE));
  for (const [holder, amount] of Object.entries(opts.balances ?? {})) {
    await vm.stateManager.putStorage(address, word(holder), hexToBytes(toHex(amount, { size: 32 })));
  }
  return token;
}

/**
 * Runs a static (read-only) call of `data` on `to` from `from` in `vm` and returns the returned bytes. The state is
 * rolled back afterwards, so reading leaves no trace, not even a nonce. Throws when the call reverts or tries to
 * change state.
 */
export async function callEvm(vm: VM, to: string, data: Hex, from = `0x${'00'.repeat(20)}`): Promise<Hex> {
  await vm.stateManager.checkpoint();
  try {
    const result = await vm.evm.runCall({
      to: createAddressFromString(to.toLowerCase()),
      caller: createAddressFromString(from.toLowerCase()),
      origin: createAddressFromString(from.toLowerCase()),
      data: hexToBytes(data),
      gasLimit: 1_000_000n,
      isStatic: true,
    });
    if (result.execResult.exceptionError) throw new Error(`call to ${to} failed: ${result.execResult.exceptionError.error}`);
    return bytesToHex(result.execResult.returnValue);
  } finally {
    await vm.stateManager.revert();
  }
}

/** balanceOf(owner) of an ERC-20 in `vm`, read by calling the token (so it proves the code, not the storage layout). */
export async function erc20BalanceOf(vm: VM, token: string, owner: string): Promise<bigint> {
  return hexToBigInt(await callEvm(vm, token, encodeFunctionData({ abi: erc20Abi, functionName: 'balanceOf', args: [owner as Hex] })));
}

/** allowance(owner, spender) of an ERC-20 in `vm`, read by calling the token. */
export async function erc20Allowance(vm: VM, token: string, owner: string, spender: string): Promise<bigint> {
  return hexToBigInt(
    await callEvm(vm, token, encodeFunctionData({ abi: erc20Abi, functionName: 'allowance', args: [owner as Hex, spender as Hex] })),
  );
}
