/**
 * Strict ABI decoding of calldata for the call decoders (calls.ts, multicall.ts): a known function's arguments are
 * accepted only when they are the one canonical encoding of themselves.
 *
 * Why canonical and not merely "decodable": viem (like most decoders) reads what it needs and ignores the rest, so it
 * accepts trailing bytes, dirty high bits in an address word, non-zero padding after `bytes`, and offsets that point
 * two array elements at the same tail. A contract accepts most of these too, which is exactly the problem: whatever
 * the decoder skips is data the policy never saw (hidden bytes, an address the token reads differently, one inner call
 * counted as a thousand). Re-encoding the decoded values and demanding the very same bytes rules all of it out with
 * one comparison, and it bounds the work of nested multicalls by the calldata length (no tail is read twice).
 */
import { decodeAbiParameters, encodeAbiParameters, type AbiFunction, type Hex } from 'viem';
import { WaiaasError } from '../../errors/error.ts';
import type { Reason } from '../../errors/reasons.ts';

/** Lower-case 0x-prefixed 20-byte address. */
const ADDRESS = /^0x[0-9a-f]{40}$/;

/**
 * The decoded arguments of `fn` from `data` (whole calldata, lower-case 0x hex, selector included and already matched
 * by the caller), or a WaiaasError with `reason` when the arguments are not exactly the canonical ABI encoding.
 * `name` (e.g. 'ERC20.transfer') goes into the error metadata.
 */
export function strictDecodeArguments(fn: AbiFunction, data: Hex, name: string, reason: Reason): readonly unknown[] {
  const args = `0x${data.slice(10)}` as Hex;
  let values: readonly unknown[];
  let reencoded: Hex;
  try {
    values = decodeAbiParameters(fn.inputs, args) as readonly unknown[];
    reencoded = encodeAbiParameters(fn.inputs, values as never);
  } catch (cause) {
    throw new WaiaasError(reason, `calldata of ${name} does not decode`, { metadata: { function: name, selector: data.slice(0, 10) }, cause });
  }
  if (reencoded.toLowerCase() !== args.toLowerCase()) {
    throw new WaiaasError(reason, `calldata of ${name} is not the canonical ABI encoding`, {
      metadata: { function: name, selector: data.slice(0, 10) },
    });
  }
  return values;
}

/** `value` as a lower-case 0x address (viem decodes addresses checksummed). */
export function lowerAddress(value: unknown): string {
  const address = String(value).toLowerCase();
  // Unreachable after strictDecodeArguments, kept so a wrong ABI table can never produce a non-address.
  if (!ADDRESS.test(address)) throw new WaiaasError('WAIAAS_INTERNAL', 'decoded address is not 20 bytes');
  return address;
}

/** True for a lower-case 0x 20-byte address. */
export function isLowerAddress(value: string): boolean {
  return ADDRESS.test(value);
}
