/**
 * Multicall wrappers the EVM decoder understands and unwraps, so that every inner call is judged by the same rules as
 * a top-level one (calls.ts does the recursion; this module only recognizes a wrapper and lists its inner calls).
 *
 * Two families, with different value semantics:
 * - Multicall3 (mds1/multicall, deployed at the same address on every chain): it CALLs each target itself. Inner
 *   calls therefore run with Multicall3 as msg.sender, and only aggregate3Value sends native value with them (taken
 *   from what the wallet sent, and Multicall3 reverts unless the wallet sent exactly their sum). It is recognized only
 *   at MULTICALL3_ADDRESS: the same selector elsewhere is some other contract's function, and stays a plain Call.
 * - Self-multicall (Uniswap V3 periphery `multicall(bytes[])`, SwapRouter02 `multicall(uint256,bytes[])`, OpenZeppelin
 *   Multicall): the contract DELEGATECALLs itself with each blob. Inner calls target the same contract, keep the
 *   wallet as msg.sender, and all see the wallet's one msg.value (which moves once). Recognized at any address,
 *   because the selector names the function and the function is always "call myself with these".
 *
 * Reporting Multicall3's inner calls as if the wallet made them is deliberately conservative: an inner
 * `transfer` moves Multicall3's tokens, not the wallet's, but an inner `transferFrom(wallet, …)` spends an allowance
 * the wallet gave Multicall3, and the engine cannot tell those situations apart from the bytes.
 */
import { parseAbiItem, type AbiFunction, type Hex } from 'viem';
import type { Reason } from '../../errors/reasons.ts';
import { lowerAddress, strictDecodeArguments } from './abi.ts';

/** Multicall3's address (identical on every chain), lower-case. */
export const MULTICALL3_ADDRESS = '0xca11bde05977b3631167028862be2a173976ca11';

/** Multicall3 functions unwrapped at MULTICALL3_ADDRESS, by name. */
export const MULTICALL3_SELECTORS = {
  aggregate: '0x252dba42',
  tryAggregate: '0xbce38bd7',
  tryBlockAndAggregate: '0x399542e9',
  blockAndAggregate: '0xc3077fa9',
  aggregate3: '0x82ad56cb',
  aggregate3Value: '0x174dea71',
} as const;

/** Self-multicall functions unwrapped at any address. */
export const SELF_MULTICALL_SELECTORS = {
  /** multicall(bytes[]): Uniswap V3 periphery, OpenZeppelin Multicall. */
  multicall: '0xac9650d8',
  /** multicall(uint256 deadline, bytes[]): Uniswap SwapRouter02. */
  multicallWithDeadline: '0x5ae401dc',
} as const;

/**
 * How many multicalls may be nested inside each other. A wrapper whose inner calls would sit deeper is refused:
 * nothing legitimate nests this deep, and the bound keeps the decoding work and the effect list small.
 */
export const MAX_MULTICALL_DEPTH = 4;

/** One call inside a multicall. */
export interface InnerCall {
  /** Lower-case 0x address the inner call goes to. */
  target: string;
  /** Its calldata, lower-case 0x hex. */
  data: Hex;
  /** Native value it sends of its own (Multicall3.aggregate3Value); 0 otherwise. */
  value: bigint;
  /** Where it sits, for `source`: e.g. 'Multicall3.aggregate3[2]' or 'multicall[0]'. */
  label: string;
}

/** A recognized wrapper and its inner calls, in execution order. */
export interface UnwrappedMulticall {
  /** e.g. 'Multicall3.aggregate3' or 'multicall'. */
  name: string;
  calls: InnerCall[];
  /**
   * True for self-multicall: inner calls are delegatecalls that see the outer msg.value but do not send it again, so
   * the outer value is the only native outflow and each inner call carries it as the value it runs with.
   */
  inheritsValue: boolean;
  /** Native value the wrapper passes on to inner targets (Σ aggregate3Value values); the rest stays with the wrapper. */
  forwarded: bigint;
}

type Shape = 'pairs' | 'flagged-pairs' | 'triples' | 'quads' | 'blobs' | 'deadline-blobs';

interface WrapperFunction {
  name: string;
  fn: AbiFunction;
  shape: Shape;
}

function fn(signature: string): AbiFunction {
  return parseAbiItem(signature) as AbiFunction;
}

const MULTICALL3: ReadonlyMap<string, WrapperFunction> = new Map([
  [MULTICALL3_SELECTORS.aggregate, { name: 'Multicall3.aggregate', shape: 'pairs', fn: fn('function aggregate((address target, bytes callData)[] calls)') }],
  [MULTICALL3_SELECTORS.tryAggregate, { name: 'Multicall3.tryAggregate', shape: 'flagged-pairs', fn: fn('function tryAggregate(bool requireSuccess, (address target, bytes callData)[] calls)') }],
  [MULTICALL3_SELECTORS.tryBlockAndAggregate, { name: 'Multicall3.tryBlockAndAggregate', shape: 'flagged-pairs', fn: fn('function tryBlockAndAggregate(bool requireSuccess, (address target, bytes callData)[] calls)') }],
  [MULTICALL3_SELECTORS.blockAndAggregate, { name: 'Multicall3.blockAndAggregate', shape: 'pairs', fn: fn('function blockAndAggregate((address target, bytes callData)[] calls)') }],
  [MULTICALL3_SELECTORS.aggregate3, { name: 'Multicall3.aggregate3', shape: 'triples', fn: fn('function aggregate3((address target, bool allowFailure, bytes callData)[] calls)') }],
  [MULTICALL3_SELECTORS.aggregate3Value, { name: 'Multicall3.aggregate3Value', shape: 'quads', fn: fn('function aggregate3Value((address target, bool allowFailure, uint256 value, bytes callData)[] calls)') }],
]);

const SELF_MULTICALL: ReadonlyMap<string, WrapperFunction> = new Map([
  [SELF_MULTICALL_SELECTORS.multicall, { name: 'multicall', shape: 'blobs', fn: fn('function multicall(bytes[] data)') }],
  [SELF_MULTICALL_SELECTORS.multicallWithDeadline, { name: 'multicall', shape: 'deadline-blobs', fn: fn('function multicall(uint256 deadline, bytes[] data)') }],
]);

interface Call3Value {
  target: string;
  value?: bigint;
  callData: Hex;
}

/**
 * The inner calls of a known multicall wrapper sent to `to` (lower-case) with calldata `data` (lower-case 0x hex), or
 * undefined when it is not one (an unknown wrapper is an ordinary call). A known wrapper whose arguments are not the
 * canonical ABI encoding throws WaiaasError(`reason`).
 */
export function unwrapMulticall(to: string, data: Hex, reason: Reason): UnwrappedMulticall | undefined {
  if (data.length < 10) return undefined;
  const selector = data.slice(0, 10).toLowerCase();
  const wrapper = (to === MULTICALL3_ADDRESS ? MULTICALL3.get(selector) : undefined) ?? SELF_MULTICALL.get(selector);
  if (!wrapper) return undefined;
  const args = strictDecodeArguments(wrapper.fn, data, wrapper.name, reason);
  const label = (i: number) => `${wrapper.name}[${i}]`;

  if (wrapper.shape === 'blobs' || wrapper.shape === 'deadline-blobs') {
    const blobs = (wrapper.shape === 'blobs' ? args[0] : args[1]) as readonly Hex[];
    return {
      name: wrapper.name,
      calls: blobs.map((blob, i) => ({ target: to, data: blob.toLowerCase() as Hex, value: 0n, label: label(i) })),
      inheritsValue: true,
      forwarded: 0n,
    };
  }
  const list = (wrapper.shape === 'flagged-pairs' ? args[1] : args[0]) as readonly Call3Value[];
  const calls = list.map((call, i) => ({
    target: lowerAddress(call.target),
    data: call.callData.toLowerCase() as Hex,
    value: call.value ?? 0n,
    label: label(i),
  }));
  return { name: wrapper.name, calls, inheritsValue: false, forwarded: calls.reduce((sum, call) => sum + call.value, 0n) };
}
