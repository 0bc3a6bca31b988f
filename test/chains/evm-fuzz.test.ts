// EVM decoder robustness: truncations, random bytes and single-byte mutations never escape as anything but a
// WaiaasError, and whatever does decode re-serializes to exactly its input; random and mutated calldata for every
// decoded selector and multicall wrapper is either decoded into well-formed effects or refused as
// WAIAAS_TX_MALFORMED. Seeded, so a failure reproduces.
import { bytesToHex, encodeFunctionData, hexToBytes, parseAbi, serializeTransaction, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { beforeAll, describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import type { CallEffects } from '../../server/chains/evm/index.ts';
import {
  decodeCallEffects,
  decodeEvmTransaction,
  DECODED_TOKEN_SELECTORS,
  evmEffects,
  MULTICALL3_ADDRESS,
  MULTICALL3_SELECTORS,
  SELF_MULTICALL_SELECTORS,
  type DecodedEvmTransaction,
} from '../../server/chains/evm/index.ts';
import { newEvmKey, unsignedEip1559, unsignedEip2930, unsignedEip7702, unsignedLegacy } from '../support/evm.ts';

const CHAIN = 31337n;
const RECIPIENT = '0x1111111111111111111111111111111111111111';
const TOKEN = '0x2222222222222222222222222222222222222222';
const ROUTER = '0x7777777777777777777777777777777777777777';

const ABI = parseAbi([
  'function transfer(address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
  'function setApprovalForAll(address operator, bool approved)',
  'function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] amounts, bytes data)',
  'function aggregate3((address target, bool allowFailure, bytes callData)[] calls)',
  'function aggregate3Value((address target, bool allowFailure, uint256 value, bytes callData)[] calls)',
  'function multicall(bytes[] data)',
]);
const encode = (functionName: string, args: readonly unknown[]): Hex => encodeFunctionData({ abi: ABI, functionName, args } as never);
const TRANSFER = encode('transfer', [RECIPIENT, 10n ** 18n]);
const NESTED_MULTICALL = encode('aggregate3Value', [[
  { target: TOKEN, allowFailure: false, value: 0n, callData: TRANSFER },
  { target: ROUTER, allowFailure: true, value: 3n, callData: encode('multicall', [[encode('approve', [RECIPIENT, 5n]), '0xdeadbeef']]) },
  { target: TOKEN, allowFailure: false, value: 0n, callData: encode('safeBatchTransferFrom', [RECIPIENT, ROUTER, [1n, 2n], [3n, 4n], '0xabcd']) },
  { target: TOKEN, allowFailure: false, value: 0n, callData: encode('setApprovalForAll', [ROUTER, true]) },
]]);

/** mulberry32: a tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DECODER_REASONS: Reason[] = [
  'WAIAAS_TX_MALFORMED',
  'WAIAAS_TX_NOT_CANONICAL',
  'WAIAAS_TX_TOO_LARGE',
  'WAIAAS_TX_ALREADY_SIGNED',
  'WAIAAS_CHAIN_ID_MISMATCH',
];

/** Decodes, and on success computes effects; returns the refusal reason or the decoded transaction. */
function attempt(bytes: Uint8Array): Reason | DecodedEvmTransaction {
  try {
    const tx = decodeEvmTransaction(bytes, CHAIN);
    evmEffects(tx);
    return tx;
  } catch (e) {
    if (isWaiaasError(e)) return e.reason;
    throw new Error(`non-Waiaas error for ${bytesToHex(bytes)}: ${String(e)}`, { cause: e });
  }
}

const samples: Record<string, Uint8Array> = {};
beforeAll(async () => {
  const authority = privateKeyToAccount(bytesToHex(newEvmKey().secretKey));
  const authorization = await authority.signAuthorization({ address: TOKEN, chainId: Number(CHAIN), nonce: 0 });
  Object.assign(samples, {
    eip1559: unsignedEip1559({ chainId: CHAIN, to: TOKEN, value: 10n ** 17n, nonce: 5, data: TRANSFER }),
    multicall: unsignedEip1559({ chainId: CHAIN, to: MULTICALL3_ADDRESS, value: 3n, nonce: 6, data: NESTED_MULTICALL, gas: 400_000n }),
    legacy: unsignedLegacy({ chainId: CHAIN, to: RECIPIENT, value: 123n, nonce: 1 }),
    eip2930: unsignedEip2930({ chainId: CHAIN, to: RECIPIENT, value: 1n, accessList: [{ address: TOKEN, storageKeys: [`0x${'ab'.repeat(32)}`] }] }),
    eip7702: unsignedEip7702({ chainId: CHAIN, to: RECIPIENT, value: 1n, authorizationList: [authorization] }),
    creation: unsignedEip1559({ chainId: CHAIN, to: null, value: 0n, data: '0x600060005560016000f3' }),
  });
});

describe('truncation', () => {
  test('every truncation of every valid transaction type is WAIAAS_TX_MALFORMED', () => {
    expect(Object.keys(samples)).toHaveLength(6);
    for (const [name, bytes] of Object.entries(samples)) {
      expect(attempt(bytes), name).not.toBeTypeOf('string');
      for (let length = 0; length < bytes.length; length++) {
        expect(attempt(bytes.slice(0, length)), `${name} length ${length}`).toBe('WAIAAS_TX_MALFORMED');
      }
    }
  });
});

describe('random input', () => {
  test('2000 random byte strings only ever produce decoder refusals', () => {
    const random = prng(0xe7e7);
    const prefixes = [0x01, 0x02, 0x04, 0xc0, 0xf8, 0xf9];
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 400);
      const bytes = new Uint8Array(length);
      for (let j = 0; j < length; j++) bytes[j] = Math.floor(random() * 256);
      // Most start like a real envelope so the RLP and field checks are reached.
      if (length > 0 && i % 4 !== 0) bytes[0] = prefixes[i % prefixes.length]!;
      if (length > 1 && i % 4 === 1 && bytes[0]! < 0xc0) bytes[1] = 0xc0 + Math.min(55, length - 2);
      const result = attempt(bytes);
      if (typeof result === 'string') {
        expect(DECODER_REASONS).toContain(result);
        seen.add(result);
      } else {
        expect(hexToBytes(serializeTransaction(result.parsed))).toEqual(bytes);
      }
    }
    expect(seen.has('WAIAAS_TX_MALFORMED')).toBe(true);
  });
});

describe('single-byte mutations', () => {
  test('a mutated transaction is refused, or decodes to something that re-serializes to exactly itself', () => {
    for (const [name, original] of Object.entries(samples)) {
      const random = prng(original.length);
      let decoded = 0;
      for (let i = 0; i < 1500; i++) {
        const bytes = original.slice();
        const at = Math.floor(random() * bytes.length);
        const kind = random();
        if (kind < 0.4) bytes[at] = Math.floor(random() * 256);
        else if (kind < 0.7) bytes[at]! ^= 1 << Math.floor(random() * 8);
        else if (kind < 0.85) bytes[at] = (bytes[at]! + 1) & 0xff;
        else bytes[at] = (bytes[at]! - 1) & 0xff;
        const result = attempt(bytes);
        if (typeof result === 'string') {
          expect(DECODER_REASONS, name).toContain(result);
        } else {
          decoded++;
          expect(hexToBytes(serializeTransaction(result.parsed)), name).toEqual(bytes);
          expect(result.bytes).toEqual(bytes);
        }
      }
      // Mutations of addresses, amounts and calldata still decode.
      expect(decoded, name).toBeGreaterThan(0);
    }
  });
});

const LOWER_ADDRESS = /^0x[0-9a-f]{40}$/;

/** Decodes a call; returns its effects or the refusal reason; anything but a WaiaasError fails the test. */
function attemptCall(to: string, data: Hex, value = 0n): CallEffects | Reason {
  try {
    return decodeCallEffects(to, data, value, '');
  } catch (e) {
    if (isWaiaasError(e)) return e.reason;
    throw new Error(`non-Waiaas error for ${to} ${data}: ${String(e)}`, { cause: e });
  }
}

/** Effects that decoded must be well-formed: canonical addresses, asset ids, non-negative amounts, hex calldata. */
function expectWellFormed(effects: CallEffects, label: string): void {
  for (const o of effects.outflows) {
    expect(o.asset, label).toMatch(/^(native|erc20:0x[0-9a-f]{40}|erc721:0x[0-9a-f]{40}|erc1155:0x[0-9a-f]{40})$/);
    expect(o.recipient, label).toMatch(LOWER_ADDRESS);
    if (o.from !== undefined) expect(o.from, label).toMatch(LOWER_ADDRESS);
    expect(o.amount >= 0n && o.amount < 2n ** 256n, label).toBe(true);
  }
  for (const g of effects.grants) {
    expect(g.spender, label).toMatch(LOWER_ADDRESS);
    expect(g.amount === null || (g.amount >= 0n && g.amount < 2n ** 256n), label).toBe(true);
  }
  for (const c of effects.calls) {
    expect(c.program, label).toMatch(LOWER_ADDRESS);
    expect(c.discriminator, label).toMatch(/^([0-9a-f]{8})?$/);
    expect(c.data, label).toMatch(/^([0-9a-f]{2})*$/);
  }
}

/** Every selector the decoder treats specially, with a target where it is recognized. */
const KNOWN: [string, string][] = [
  ...DECODED_TOKEN_SELECTORS.map((s): [string, string] => [TOKEN, s]),
  ...Object.values(MULTICALL3_SELECTORS).map((s): [string, string] => [MULTICALL3_ADDRESS, s]),
  ...Object.values(SELF_MULTICALL_SELECTORS).map((s): [string, string] => [ROUTER, s]),
];

describe('calldata', () => {
  test('random bytes after every known selector are decoded or refused as WAIAAS_TX_MALFORMED, nothing else', () => {
    const random = prng(0xca11);
    for (const [to, selector] of KNOWN) {
      for (let i = 0; i < 300; i++) {
        const length = Math.floor(random() * 300);
        let hex = selector.slice(2);
        for (let j = 0; j < length; j++) hex += Math.floor(random() * 256).toString(16).padStart(2, '0');
        const result = attemptCall(to, `0x${hex}`);
        if (typeof result === 'string') expect(result).toBe('WAIAAS_TX_MALFORMED');
        else expectWellFormed(result, hex);
      }
    }
  });

  test('ABI-shaped random words (small offsets, lengths, addresses, huge numbers) reach deep into the decoder safely', () => {
    const random = prng(0xab1);
    const palette = (): string => {
      const pick = random();
      if (pick < 0.3) return Math.floor(random() * 8 * 32).toString(16); // offsets and lengths
      if (pick < 0.5) return RECIPIENT.slice(2);
      if (pick < 0.6) return 'ff'.repeat(32);
      if (pick < 0.7) return (random() < 0.5 ? TRANSFER : NESTED_MULTICALL).slice(2, 66);
      if (pick < 0.8) return '01';
      return Math.floor(random() * 2 ** 32).toString(16);
    };
    let decoded = 0;
    for (const [to, selector] of KNOWN) {
      for (let i = 0; i < 300; i++) {
        const words = Math.floor(random() * 14);
        let hex = selector.slice(2);
        for (let j = 0; j < words; j++) hex += palette().padStart(64, '0').slice(-64);
        const result = attemptCall(to, `0x${hex}`, BigInt(Math.floor(random() * 3)));
        if (typeof result === 'string') expect(result).toBe('WAIAAS_TX_MALFORMED');
        else {
          decoded++;
          expectWellFormed(result, hex);
        }
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });

  test('mutations of a nested multicall are decoded into well-formed effects or refused, never anything else', () => {
    const random = prng(0x3ca11);
    const original = NESTED_MULTICALL.slice(2);
    const baseline = attemptCall(MULTICALL3_ADDRESS, NESTED_MULTICALL, 3n);
    expect(typeof baseline).toBe('object');
    let decoded = 0;
    for (let i = 0; i < 3000; i++) {
      let hex = original;
      const kind = random();
      const at = 8 + 2 * Math.floor(random() * ((hex.length - 8) / 2));
      if (kind < 0.5) hex = `${hex.slice(0, at)}${Math.floor(random() * 256).toString(16).padStart(2, '0')}${hex.slice(at + 2)}`;
      else if (kind < 0.7) hex = `${hex.slice(0, at)}${(Math.floor(random() * 16 * 32)).toString(16).padStart(64, '0')}${hex.slice(at + 64)}`.slice(0, hex.length);
      else if (kind < 0.85) hex = hex.slice(0, at);
      else hex = `${hex}${'00'.repeat(1 + Math.floor(random() * 40))}`;
      const result = attemptCall(MULTICALL3_ADDRESS, `0x${hex}`, 3n);
      if (typeof result === 'string') expect(result).toBe('WAIAAS_TX_MALFORMED');
      else {
        decoded++;
        expectWellFormed(result, hex);
      }
    }
    // Mutations of amounts and addresses still decode.
    expect(decoded).toBeGreaterThan(0);
  });

  test('random calldata with known selectors, inside signed-for transactions, only ever fails as a decoder refusal', () => {
    const random = prng(0x7e57);
    for (let i = 0; i < 400; i++) {
      const [to, selector] = KNOWN[i % KNOWN.length]!;
      let hex = selector.slice(2);
      const length = Math.floor(random() * 200);
      for (let j = 0; j < length; j++) hex += Math.floor(random() * 256).toString(16).padStart(2, '0');
      const result = attempt(unsignedEip1559({ chainId: CHAIN, to, value: BigInt(i % 2), data: `0x${hex}` }));
      if (typeof result === 'string') expect(result).toBe('WAIAAS_TX_MALFORMED');
    }
  });
});
