/**
 * Effects of one EVM call (a target, calldata and native value): the token functions the engine understands become
 * Outflows and Grants, known multicall wrappers are unwrapped and each inner call judged by the same rules
 * (multicall.ts), and everything else is a Call that only an explicit contract rule can allow. Used for a
 * transaction's top-level call (effects.ts) and reusable for calls carried in other envelopes (typed data, tests).
 *
 * The token contract is the call's target; the selector alone decides the interpretation, whatever the contract
 * really is. Several standards share selectors and the bytes cannot tell them apart:
 * - `transferFrom(address,address,uint256)` is ERC-20 and ERC-721: always reported as an ERC-20-shaped Outflow of
 *   `erc20:<contract>` with the third argument as amount (for an NFT that is the token id, not a count).
 * - `approve(address,uint256)` is ERC-20 and ERC-721: always a token_approval of `erc20:<contract>`.
 * - `setApprovalForAll(address,bool)` is ERC-721 and ERC-1155: always an approval_for_all of `erc721:<contract>`.
 * A policy rule about tokens must therefore name the contract: the asset id is derived from the call target, never
 * from what the contract claims to be.
 *
 * Grants carry two independent facts: `unlimited` describes the amount (≥ 2^255 is treated as infinite, since
 * nobody grants "half of infinity" on purpose), `revoke` the direction (the grant only takes power away). A known
 * selector whose arguments are not their canonical ABI encoding is refused (abi.ts): the decoder never guesses.
 */
import { parseAbiItem, type AbiFunction, type Hex } from 'viem';
import { WaiaasError } from '../../errors/error.ts';
import type { Reason } from '../../errors/reasons.ts';
import type { Call, Grant, Outflow } from '../../policy/effects.ts';
import { isLowerAddress, lowerAddress, strictDecodeArguments } from './abi.ts';
import { MAX_MULTICALL_DEPTH, unwrapMulticall } from './multicall.ts';

/** ERC-20 functions decoded into typed effects. */
export const ERC20_SELECTORS = {
  transfer: '0xa9059cbb',
  transferFrom: '0x23b872dd',
  approve: '0x095ea7b3',
  increaseAllowance: '0x39509351',
  decreaseAllowance: '0xa457c2d7',
} as const;

/** ERC-721 functions decoded into typed effects (transferFrom and approve share ERC-20's selectors). */
export const ERC721_SELECTORS = {
  transferFrom: ERC20_SELECTORS.transferFrom,
  approve: ERC20_SELECTORS.approve,
  safeTransferFrom: '0x42842e0e',
  safeTransferFromWithData: '0xb88d4fde',
  setApprovalForAll: '0xa22cb465',
} as const;

/** ERC-1155 functions decoded into typed effects (setApprovalForAll shares ERC-721's selector). */
export const ERC1155_SELECTORS = {
  safeTransferFrom: '0xf242432a',
  safeBatchTransferFrom: '0x2eb2c2d6',
  setApprovalForAll: ERC721_SELECTORS.setApprovalForAll,
} as const;

/** Amounts at or above this are reported as unlimited grants. */
export const UNLIMITED_AMOUNT_THRESHOLD = 2n ** 255n;

/** What one call does: the part of Effects a call can produce. */
export interface CallEffects {
  outflows: Outflow[];
  grants: Grant[];
  calls: Call[];
}

/** Options of decodeCallEffects. */
export interface DecodeCallOptions {
  /** Reason of the WaiaasError thrown for calldata that does not decode; WAIAAS_TX_MALFORMED by default. */
  reason?: Reason;
}

/** A decoded token function: its ABI and how its arguments become effects. */
interface TokenFunction {
  name: string;
  fn: AbiFunction;
  effects(token: string, args: readonly unknown[], source: string, out: CallEffects): 'decoded' | 'no-effect';
}

function abi(signature: string): AbiFunction {
  return parseAbiItem(signature) as AbiFunction;
}

/** A token_approval of `amount` base units of `erc20:<token>`. */
function tokenApproval(token: string, spender: unknown, amount: unknown, revoke: boolean, source: string): Grant {
  const value = amount as bigint;
  return { kind: 'token_approval', asset: `erc20:${token}`, spender: lowerAddress(spender), amount: value, unlimited: value >= UNLIMITED_AMOUNT_THRESHOLD, revoke, source };
}

const TOKEN_FUNCTIONS: ReadonlyMap<string, TokenFunction> = new Map<string, TokenFunction>([
  [ERC20_SELECTORS.transfer, {
    name: 'ERC20.transfer',
    fn: abi('function transfer(address to, uint256 amount)'),
    effects(token, [to, amount], source, out) {
      out.outflows.push({ asset: `erc20:${token}`, amount: amount as bigint, recipient: lowerAddress(to), recipientKind: 'owner', source });
      return 'decoded';
    },
  }],
  [ERC20_SELECTORS.transferFrom, {
    // Also ERC-721 transferFrom(from, to, tokenId): the bytes are identical (see the module comment).
    name: 'ERC20.transferFrom',
    fn: abi('function transferFrom(address from, address to, uint256 amount)'),
    effects(token, [from, to, amount], source, out) {
      // `from` is always set: the decoder does not know the wallet's address, the engine compares.
      out.outflows.push({
        asset: `erc20:${token}`, amount: amount as bigint, recipient: lowerAddress(to), recipientKind: 'owner', from: lowerAddress(from), source,
      });
      return 'decoded';
    },
  }],
  [ERC20_SELECTORS.approve, {
    name: 'ERC20.approve',
    fn: abi('function approve(address spender, uint256 amount)'),
    effects(token, [spender, amount], source, out) {
      out.grants.push(tokenApproval(token, spender, amount, amount === 0n, source));
      return 'decoded';
    },
  }],
  [ERC20_SELECTORS.increaseAllowance, {
    // The amount is the increase, not the resulting allowance (which depends on chain state).
    name: 'ERC20.increaseAllowance',
    fn: abi('function increaseAllowance(address spender, uint256 addedValue)'),
    effects(token, [spender, amount], source, out) {
      out.grants.push(tokenApproval(token, spender, amount, false, source));
      return 'decoded';
    },
  }],
  [ERC20_SELECTORS.decreaseAllowance, {
    name: 'ERC20.decreaseAllowance',
    fn: abi('function decreaseAllowance(address spender, uint256 subtractedValue)'),
    effects(token, [spender, amount], source, out) {
      out.grants.push(tokenApproval(token, spender, amount, true, source));
      return 'decoded';
    },
  }],
  [ERC721_SELECTORS.setApprovalForAll, {
    // Also ERC-1155 setApprovalForAll: same selector, reported as erc721:<contract>.
    name: 'ERC721.setApprovalForAll',
    fn: abi('function setApprovalForAll(address operator, bool approved)'),
    effects(token, [operator, approved], source, out) {
      out.grants.push({
        kind: 'approval_for_all', asset: `erc721:${token}`, spender: lowerAddress(operator), amount: null, unlimited: true, revoke: approved !== true, source,
      });
      return 'decoded';
    },
  }],
  [ERC721_SELECTORS.safeTransferFrom, {
    name: 'ERC721.safeTransferFrom',
    fn: abi('function safeTransferFrom(address from, address to, uint256 tokenId)'),
    effects(token, [from, to], source, out) {
      out.outflows.push({ asset: `erc721:${token}`, amount: 1n, recipient: lowerAddress(to), recipientKind: 'owner', from: lowerAddress(from), source });
      return 'decoded';
    },
  }],
  [ERC721_SELECTORS.safeTransferFromWithData, {
    name: 'ERC721.safeTransferFrom',
    fn: abi('function safeTransferFrom(address from, address to, uint256 tokenId, bytes data)'),
    effects(token, [from, to], source, out) {
      out.outflows.push({ asset: `erc721:${token}`, amount: 1n, recipient: lowerAddress(to), recipientKind: 'owner', from: lowerAddress(from), source });
      return 'decoded';
    },
  }],
  [ERC1155_SELECTORS.safeTransferFrom, {
    name: 'ERC1155.safeTransferFrom',
    fn: abi('function safeTransferFrom(address from, address to, uint256 id, uint256 amount, bytes data)'),
    effects(token, [from, to, , amount], source, out) {
      out.outflows.push({
        asset: `erc1155:${token}`, amount: amount as bigint, recipient: lowerAddress(to), recipientKind: 'owner', from: lowerAddress(from), source,
      });
      return 'decoded';
    },
  }],
  [ERC1155_SELECTORS.safeBatchTransferFrom, {
    name: 'ERC1155.safeBatchTransferFrom',
    fn: abi('function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] amounts, bytes data)'),
    effects(token, [from, to, ids, amounts], source, out) {
      const idList = ids as readonly bigint[];
      const amountList = amounts as readonly bigint[];
      // The contract reverts on a length mismatch; pairing them up here would be a guess.
      if (idList.length !== amountList.length) throw new Error('ids and amounts differ in length');
      // An empty batch moves nothing but still calls the recipient's hook: not a typed effect, so a Call.
      if (idList.length === 0) return 'no-effect';
      amountList.forEach((amount, i) => {
        out.outflows.push({
          asset: `erc1155:${token}`, amount, recipient: lowerAddress(to), recipientKind: 'owner', from: lowerAddress(from), source: `${source}[${i}]`,
        });
      });
      return 'decoded';
    },
  }],
]);

/** Selectors (lower-case 0x) of every token function decoded into typed effects, for tests and other decoders. */
export const DECODED_TOKEN_SELECTORS: readonly string[] = [...TOKEN_FUNCTIONS.keys()];

function join(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}/${name}`;
}

interface Context {
  reason: Reason;
  out: CallEffects;
}

/**
 * One call at nesting `depth` (0 = not inside a multicall). `valueCounted`: the value is the outer msg.value a
 * delegatecall sees, already reported as an outflow by the wrapper, so it is not an outflow again here.
 */
function decodeCall(ctx: Context, to: string, data: Hex, value: bigint, prefix: string, depth: number, valueCounted: boolean): void {
  const { out } = ctx;
  const native = (amount: bigint) =>
    out.outflows.push({ asset: 'native', amount, recipient: to, recipientKind: 'owner', source: join(prefix, 'value') });

  // A plain transfer, even of 0: it runs the recipient's receive/fallback code, and spending rules see it.
  if (data === '0x' && !valueCounted) {
    native(value);
    return;
  }

  const wrapper = unwrapMulticall(to, data, ctx.reason);
  if (wrapper) {
    // Value the wrapper forwards shows up as the inner calls' own outflows; count only what stays with the wrapper.
    if (!valueCounted && value > wrapper.forwarded) native(value - wrapper.forwarded);
    if (depth >= MAX_MULTICALL_DEPTH) {
      throw new WaiaasError(ctx.reason, `multicalls are nested more than ${MAX_MULTICALL_DEPTH} deep`, {
        metadata: { function: wrapper.name, limit: String(MAX_MULTICALL_DEPTH) },
      });
    }
    for (const inner of wrapper.calls) {
      const innerValue = wrapper.inheritsValue ? value : inner.value;
      decodeCall(ctx, inner.target, inner.data, innerValue, join(prefix, inner.label), depth + 1, wrapper.inheritsValue);
    }
    return;
  }

  if (!valueCounted && value > 0n) native(value);
  const selector = data.length >= 10 ? data.slice(0, 10) : '';
  const token = TOKEN_FUNCTIONS.get(selector);
  if (token) {
    const args = strictDecodeArguments(token.fn, data, token.name, ctx.reason);
    let result: 'decoded' | 'no-effect';
    try {
      result = token.effects(to, args, join(prefix, token.name), out);
    } catch (cause) {
      if (cause instanceof WaiaasError) throw cause;
      throw new WaiaasError(ctx.reason, `calldata of ${token.name} is inconsistent`, { metadata: { function: token.name, selector }, cause });
    }
    if (result === 'decoded') return;
  }
  const description = selector === '' ? `call without selector on ${to}` : `call ${selector} on ${to}`;
  out.calls.push({
    program: to,
    discriminator: selector.slice(2),
    data: data.slice(2),
    accounts: [],
    value,
    description: prefix === '' ? description : `${prefix}: ${description}`,
  });
}

/**
 * Effects of calling `to` with calldata `data` and native `value`, as the wallet would in a transaction:
 * - native value to `to` is an Outflow (source 'value') when positive, or when `data` is empty (a plain transfer);
 * - known token functions become Outflows / Grants of the asset `erc20|erc721|erc1155:<to>`;
 * - known multicall wrappers are unwrapped (at most MAX_MULTICALL_DEPTH levels) and each inner call decoded the same
 *   way, its target and value standing in for `to` and `value`, its source prefixed with the wrapper position
 *   ('Multicall3.aggregate3[2]/ERC20.transfer');
 * - anything else is a Call carrying the selector, the whole calldata and the value.
 * `source` prefixes every source and description ('' at the top level, e.g. 'SafeTx' for a call inside a message).
 * `to` may be checksummed; `data` is 0x hex. Bad input, calldata of a known function that is not its canonical ABI
 * encoding, or nesting past the limit throw WaiaasError(options.reason ?? 'WAIAAS_TX_MALFORMED'), and nothing else.
 */
export function decodeCallEffects(to: string, data: Hex, value: bigint, source: string, options: DecodeCallOptions = {}): CallEffects {
  const reason = options.reason ?? 'WAIAAS_TX_MALFORMED';
  const target = typeof to === 'string' ? to.toLowerCase() : '';
  if (!isLowerAddress(target)) throw new WaiaasError(reason, 'call target is not a 20-byte address', { metadata: { field: 'to' } });
  if (typeof data !== 'string' || !/^0x(?:[0-9a-fA-F]{2})*$/.test(data)) {
    throw new WaiaasError(reason, 'calldata is not whole bytes of 0x hex', { metadata: { field: 'data' } });
  }
  if (typeof value !== 'bigint' || value < 0n || value >= 2n ** 256n) {
    throw new WaiaasError(reason, 'call value is not a uint256', { metadata: { field: 'value' } });
  }
  const out: CallEffects = { outflows: [], grants: [], calls: [] };
  decodeCall({ reason, out }, target, data.toLowerCase() as Hex, value, typeof source === 'string' ? source : '', 0, false);
  return out;
}
