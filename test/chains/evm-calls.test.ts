// EVM calldata → effects: every decoded token selector with its exact effects, refusals of calldata that is not the
// canonical ABI encoding, multicall unwrapping (Multicall3 and self-multicall, nesting, depth limit), EIP-7702 grants.
import { bytesToHex, encodeFunctionData, getAddress, parseAbi, toFunctionSelector, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import type { Effects } from '../../server/policy/effects.ts';
import {
  decodeCallEffects,
  decodeEvmTransaction,
  DECODED_TOKEN_SELECTORS,
  ERC1155_SELECTORS,
  ERC20_SELECTORS,
  ERC721_SELECTORS,
  evmEffects,
  MAX_MULTICALL_DEPTH,
  MULTICALL3_ADDRESS,
  MULTICALL3_SELECTORS,
  SELF_MULTICALL_SELECTORS,
} from '../../server/chains/evm/index.ts';
import { newEvmKey, unsignedEip1559, unsignedEip7702 } from '../support/evm.ts';

const CHAIN = 31337n;
const TOKEN = '0x2222222222222222222222222222222222222222';
const ALICE = '0xa11ce00000000000000000000000000000000001';
const BOB = '0xb0b0000000000000000000000000000000000002';
const ROUTER = '0x7777777777777777777777777777777777777777';
const MAX = 2n ** 256n - 1n;

const ABI = parseAbi([
  'function transfer(address to, uint256 amount)',
  'function transferFrom(address from, address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
  'function increaseAllowance(address spender, uint256 addedValue)',
  'function decreaseAllowance(address spender, uint256 subtractedValue)',
  'function setApprovalForAll(address operator, bool approved)',
  'function safeTransferFrom(address from, address to, uint256 tokenId)',
  'function safeTransferFrom(address from, address to, uint256 tokenId, bytes data)',
  'function safeTransferFrom(address from, address to, uint256 id, uint256 amount, bytes data)',
  'function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] amounts, bytes data)',
  'function aggregate((address target, bytes callData)[] calls)',
  'function tryAggregate(bool requireSuccess, (address target, bytes callData)[] calls)',
  'function tryBlockAndAggregate(bool requireSuccess, (address target, bytes callData)[] calls)',
  'function blockAndAggregate((address target, bytes callData)[] calls)',
  'function aggregate3((address target, bool allowFailure, bytes callData)[] calls)',
  'function aggregate3Value((address target, bool allowFailure, uint256 value, bytes callData)[] calls)',
  'function multicall(bytes[] data)',
  'function multicall(uint256 deadline, bytes[] data)',
]);

/** Calldata for one of the functions above; `args` as viem takes them. */
function encode(functionName: string, args: readonly unknown[]): Hex {
  return encodeFunctionData({ abi: ABI, functionName, args } as never);
}

const transfer = (to: string, amount: bigint) => encode('transfer', [to, amount]);
const aggregate3 = (calls: { target: string; callData: Hex; allowFailure?: boolean }[]) =>
  encode('aggregate3', [calls.map((c) => ({ allowFailure: false, ...c }))]);
const multicall = (blobs: Hex[]) => encode('multicall', [blobs]);

/** The whole pipeline: an unsigned EIP-1559 transaction to `to`, decoded, and its effects. */
function effectsOf(to: string, data: Hex, value = 0n): Effects {
  return evmEffects(decodeEvmTransaction(unsignedEip1559({ chainId: CHAIN, to, value, data, gas: 500_000n }), CHAIN));
}

function reasonOf(fn: () => unknown): Reason {
  try {
    fn();
  } catch (e) {
    if (isWaiaasError(e)) return e.reason;
    throw e;
  }
  throw new Error('expected a WaiaasError, nothing was thrown');
}

describe('selector tables', () => {
  test('every exported selector is the keccak of its signature', () => {
    const expected: Record<string, string> = {
      [ERC20_SELECTORS.transfer]: 'transfer(address,uint256)',
      [ERC20_SELECTORS.transferFrom]: 'transferFrom(address,address,uint256)',
      [ERC20_SELECTORS.approve]: 'approve(address,uint256)',
      [ERC20_SELECTORS.increaseAllowance]: 'increaseAllowance(address,uint256)',
      [ERC20_SELECTORS.decreaseAllowance]: 'decreaseAllowance(address,uint256)',
      [ERC721_SELECTORS.setApprovalForAll]: 'setApprovalForAll(address,bool)',
      [ERC721_SELECTORS.safeTransferFrom]: 'safeTransferFrom(address,address,uint256)',
      [ERC721_SELECTORS.safeTransferFromWithData]: 'safeTransferFrom(address,address,uint256,bytes)',
      [ERC1155_SELECTORS.safeTransferFrom]: 'safeTransferFrom(address,address,uint256,uint256,bytes)',
      [ERC1155_SELECTORS.safeBatchTransferFrom]: 'safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)',
      [MULTICALL3_SELECTORS.aggregate]: 'aggregate((address,bytes)[])',
      [MULTICALL3_SELECTORS.tryAggregate]: 'tryAggregate(bool,(address,bytes)[])',
      [MULTICALL3_SELECTORS.tryBlockAndAggregate]: 'tryBlockAndAggregate(bool,(address,bytes)[])',
      [MULTICALL3_SELECTORS.blockAndAggregate]: 'blockAndAggregate((address,bytes)[])',
      [MULTICALL3_SELECTORS.aggregate3]: 'aggregate3((address,bool,bytes)[])',
      [MULTICALL3_SELECTORS.aggregate3Value]: 'aggregate3Value((address,bool,uint256,bytes)[])',
      [SELF_MULTICALL_SELECTORS.multicall]: 'multicall(bytes[])',
      [SELF_MULTICALL_SELECTORS.multicallWithDeadline]: 'multicall(uint256,bytes[])',
    };
    for (const [selector, signature] of Object.entries(expected)) expect(toFunctionSelector(signature), signature).toBe(selector);
    expect([...DECODED_TOKEN_SELECTORS].sort()).toEqual(
      [...new Set([...Object.values(ERC20_SELECTORS), ...Object.values(ERC721_SELECTORS), ...Object.values(ERC1155_SELECTORS)])].sort(),
    );
    expect(MULTICALL3_ADDRESS).toBe(getAddress('0xcA11bde05977b3631167028862bE2a173976CA11').toLowerCase());
  });
});

describe('ERC-20', () => {
  test('transfer is an outflow of erc20:<contract> to the recipient, and no Call', () => {
    expect(effectsOf(TOKEN, transfer(getAddress(ALICE), 1_000n))).toEqual({
      chain: 'evm',
      chainId: CHAIN,
      outflows: [{ asset: `erc20:${TOKEN}`, amount: 1_000n, recipient: ALICE, recipientKind: 'owner', source: 'ERC20.transfer' }],
      grants: [],
      calls: [],
      flags: [],
      maxFee: 500_000n * 2_000_000_000n,
    });
  });

  test('transferFrom is an outflow that always names the account it leaves', () => {
    expect(effectsOf(TOKEN, encode('transferFrom', [ALICE, BOB, 5n])).outflows).toEqual([
      { asset: `erc20:${TOKEN}`, amount: 5n, recipient: BOB, recipientKind: 'owner', from: ALICE, source: 'ERC20.transferFrom' },
    ]);
  });

  test('ERC-721 transferFrom has the same bytes, so it reads as an ERC-20 outflow whose amount is the token id', () => {
    expect(effectsOf(TOKEN, encode('transferFrom', [ALICE, BOB, 4242n])).outflows).toEqual([
      { asset: `erc20:${TOKEN}`, amount: 4242n, recipient: BOB, recipientKind: 'owner', from: ALICE, source: 'ERC20.transferFrom' },
    ]);
  });

  test('approve is a token_approval grant; 0 is a revoke; 2^255 and above is unlimited', () => {
    const grant = (amount: bigint) => effectsOf(TOKEN, encode('approve', [BOB, amount]));
    expect(grant(300n)).toMatchObject({ outflows: [], calls: [] });
    expect(grant(300n).grants).toEqual([
      { kind: 'token_approval', asset: `erc20:${TOKEN}`, spender: BOB, amount: 300n, unlimited: false, revoke: false, source: 'ERC20.approve' },
    ]);
    expect(grant(0n).grants).toEqual([
      { kind: 'token_approval', asset: `erc20:${TOKEN}`, spender: BOB, amount: 0n, unlimited: false, revoke: true, source: 'ERC20.approve' },
    ]);
    expect(grant(MAX).grants[0]).toMatchObject({ amount: MAX, unlimited: true, revoke: false });
    expect(grant(2n ** 255n).grants[0]).toMatchObject({ unlimited: true });
    expect(grant(2n ** 255n - 1n).grants[0]).toMatchObject({ unlimited: false });
  });

  test('increaseAllowance grants the increase; decreaseAllowance is a revoke', () => {
    expect(effectsOf(TOKEN, encode('increaseAllowance', [BOB, 7n])).grants).toEqual([
      { kind: 'token_approval', asset: `erc20:${TOKEN}`, spender: BOB, amount: 7n, unlimited: false, revoke: false, source: 'ERC20.increaseAllowance' },
    ]);
    expect(effectsOf(TOKEN, encode('increaseAllowance', [BOB, MAX])).grants[0]).toMatchObject({ unlimited: true, revoke: false });
    expect(effectsOf(TOKEN, encode('decreaseAllowance', [BOB, 7n])).grants).toEqual([
      { kind: 'token_approval', asset: `erc20:${TOKEN}`, spender: BOB, amount: 7n, unlimited: false, revoke: true, source: 'ERC20.decreaseAllowance' },
    ]);
  });

  test('native value sent along with a token call is an outflow of its own', () => {
    expect(effectsOf(TOKEN, transfer(ALICE, 1n), 9n).outflows).toEqual([
      { asset: 'native', amount: 9n, recipient: TOKEN, recipientKind: 'owner', source: 'value' },
      { asset: `erc20:${TOKEN}`, amount: 1n, recipient: ALICE, recipientKind: 'owner', source: 'ERC20.transfer' },
    ]);
  });
});

describe('ERC-721 and ERC-1155', () => {
  test('setApprovalForAll(true) is an unlimited approval_for_all of erc721:<contract>; false is its revoke', () => {
    expect(effectsOf(TOKEN, encode('setApprovalForAll', [BOB, true]))).toMatchObject({
      outflows: [],
      calls: [],
      grants: [{ kind: 'approval_for_all', asset: `erc721:${TOKEN}`, spender: BOB, amount: null, unlimited: true, revoke: false, source: 'ERC721.setApprovalForAll' }],
    });
    expect(effectsOf(TOKEN, encode('setApprovalForAll', [BOB, false])).grants).toEqual([
      { kind: 'approval_for_all', asset: `erc721:${TOKEN}`, spender: BOB, amount: null, unlimited: true, revoke: true, source: 'ERC721.setApprovalForAll' },
    ]);
  });

  test('ERC-721 safeTransferFrom, with or without data, is an outflow of one erc721:<contract>', () => {
    const expected = { asset: `erc721:${TOKEN}`, amount: 1n, recipient: BOB, recipientKind: 'owner', from: ALICE, source: 'ERC721.safeTransferFrom' };
    const plain = encodeFunctionData({ abi: ABI, functionName: 'safeTransferFrom', args: [ALICE, BOB, 77n] });
    const withData = encodeFunctionData({ abi: ABI, functionName: 'safeTransferFrom', args: [ALICE, BOB, 77n, '0xc0ffee'] });
    expect(plain.slice(0, 10)).toBe(ERC721_SELECTORS.safeTransferFrom);
    expect(withData.slice(0, 10)).toBe(ERC721_SELECTORS.safeTransferFromWithData);
    expect(effectsOf(TOKEN, plain)).toMatchObject({ outflows: [expected], grants: [], calls: [] });
    expect(effectsOf(TOKEN, withData)).toMatchObject({ outflows: [expected], grants: [], calls: [] });
  });

  test('ERC-1155 safeTransferFrom is an outflow of the amount; safeBatchTransferFrom is one outflow per id', () => {
    const single = encodeFunctionData({ abi: ABI, functionName: 'safeTransferFrom', args: [ALICE, BOB, 1n, 25n, '0x'] });
    expect(effectsOf(TOKEN, single).outflows).toEqual([
      { asset: `erc1155:${TOKEN}`, amount: 25n, recipient: BOB, recipientKind: 'owner', from: ALICE, source: 'ERC1155.safeTransferFrom' },
    ]);
    const batch = encode('safeBatchTransferFrom', [ALICE, BOB, [1n, 2n, 3n], [10n, 20n, 30n], '0x']);
    expect(effectsOf(TOKEN, batch)).toMatchObject({
      outflows: [10n, 20n, 30n].map((amount, i) => ({
        asset: `erc1155:${TOKEN}`, amount, recipient: BOB, recipientKind: 'owner', from: ALICE, source: `ERC1155.safeBatchTransferFrom[${i}]`,
      })),
      calls: [],
    });
  });

  test('a batch whose ids and amounts differ in length is malformed; an empty batch moves nothing and stays a Call', () => {
    const mismatch = encode('safeBatchTransferFrom', [ALICE, BOB, [1n, 2n], [10n], '0x']);
    expect(reasonOf(() => effectsOf(TOKEN, mismatch))).toBe('WAIAAS_TX_MALFORMED');
    const empty = encode('safeBatchTransferFrom', [ALICE, BOB, [], [], '0x1234']);
    expect(effectsOf(TOKEN, empty)).toMatchObject({ outflows: [], calls: [{ program: TOKEN, discriminator: '2eb2c2d6', data: empty.slice(2) }] });
  });
});

describe('calldata that is not the canonical encoding is refused, never guessed', () => {
  const word = (hex: string) => hex.padStart(64, '0');
  const addressWord = (addr: string) => word(addr.slice(2));

  test('a known selector with a byte too few or too many, or with nothing after it', () => {
    const samples: Hex[] = [
      transfer(ALICE, 1n),
      encode('transferFrom', [ALICE, BOB, 1n]),
      encode('approve', [BOB, 1n]),
      encode('increaseAllowance', [BOB, 1n]),
      encode('decreaseAllowance', [BOB, 1n]),
      encode('setApprovalForAll', [BOB, true]),
      encodeFunctionData({ abi: ABI, functionName: 'safeTransferFrom', args: [ALICE, BOB, 1n] }),
      encodeFunctionData({ abi: ABI, functionName: 'safeTransferFrom', args: [ALICE, BOB, 1n, '0x01'] }),
      encodeFunctionData({ abi: ABI, functionName: 'safeTransferFrom', args: [ALICE, BOB, 1n, 2n, '0x'] }),
      encode('safeBatchTransferFrom', [ALICE, BOB, [1n], [2n], '0x']),
      multicall([transfer(ALICE, 1n)]),
    ];
    for (const data of samples) {
      expect(decodeCallEffects(TOKEN, data, 0n, '').calls, data).toEqual([]);
      expect(reasonOf(() => effectsOf(TOKEN, data.slice(0, -2) as Hex)), `truncated ${data}`).toBe('WAIAAS_TX_MALFORMED');
      expect(reasonOf(() => effectsOf(TOKEN, `${data}00`)), `trailing byte ${data}`).toBe('WAIAAS_TX_MALFORMED');
      expect(reasonOf(() => effectsOf(TOKEN, `${data}${'00'.repeat(32)}`)), `trailing word ${data}`).toBe('WAIAAS_TX_MALFORMED');
      expect(reasonOf(() => effectsOf(TOKEN, data.slice(0, 10) as Hex)), `selector only ${data}`).toBe('WAIAAS_TX_MALFORMED');
    }
  });

  test('dirty high bits in an address word, which a token would silently mask away', () => {
    const dirty = `${ERC20_SELECTORS.transfer}${'01'}${addressWord(ALICE).slice(2)}${word('01')}` as Hex;
    expect(reasonOf(() => effectsOf(TOKEN, dirty))).toBe('WAIAAS_TX_MALFORMED');
    expect(effectsOf(TOKEN, `${ERC20_SELECTORS.transfer}${addressWord(ALICE)}${word('01')}`).outflows).toHaveLength(1);
  });

  test('a bool that is neither 0 nor 1', () => {
    expect(reasonOf(() => effectsOf(TOKEN, `${ERC721_SELECTORS.setApprovalForAll}${addressWord(BOB)}${word('02')}`))).toBe('WAIAAS_TX_MALFORMED');
  });

  test('bytes with non-zero padding, where data could hide', () => {
    const data = encodeFunctionData({ abi: ABI, functionName: 'safeTransferFrom', args: [ALICE, BOB, 1n, '0x01'] });
    expect(data.endsWith(`01${'00'.repeat(31)}`)).toBe(true);
    expect(reasonOf(() => effectsOf(TOKEN, `${data.slice(0, -2)}ff` as Hex))).toBe('WAIAAS_TX_MALFORMED');
  });

  test('two multicall entries pointing at the same bytes (one call counted twice)', () => {
    const inner = transfer(ALICE, 1n).slice(2);
    const innerLength = inner.length / 2; // 68 bytes, padded to 96
    const padded = inner.padEnd(96 * 2, '0');
    const aliased = `${SELF_MULTICALL_SELECTORS.multicall}${word('20')}${word('02')}${word('40')}${word('40')}${word(innerLength.toString(16))}${padded}` as Hex;
    expect(reasonOf(() => effectsOf(ROUTER, aliased))).toBe('WAIAAS_TX_MALFORMED');
    const canonical = multicall([transfer(ALICE, 1n), transfer(ALICE, 1n)]);
    expect(effectsOf(ROUTER, canonical).outflows).toHaveLength(2);
  });

  test('calldata of an unknown selector is never refused: it is a Call, whatever follows the selector', () => {
    const data = `0x12345678${'ff'.repeat(33)}` as Hex;
    expect(effectsOf(TOKEN, data).calls).toEqual([
      { program: TOKEN, discriminator: '12345678', data: data.slice(2), accounts: [], value: 0n, description: `call 0x12345678 on ${TOKEN}` },
    ]);
  });
});

describe('multicall', () => {
  test('a transfer wrapped in Multicall3.aggregate3 is an ERC-20 outflow to the inner recipient, and the wrapper is no Call', () => {
    const effects = effectsOf(getAddress(MULTICALL3_ADDRESS), aggregate3([{ target: getAddress(TOKEN), callData: transfer(ALICE, 50n) }]));
    expect(effects).toMatchObject({
      outflows: [{ asset: `erc20:${TOKEN}`, amount: 50n, recipient: ALICE, recipientKind: 'owner', source: 'Multicall3.aggregate3[0]/ERC20.transfer' }],
      grants: [],
      calls: [],
    });
  });

  test('every inner call is judged: grants, outflows and undecoded Calls, each with its position in the source', () => {
    const effects = effectsOf(
      MULTICALL3_ADDRESS,
      aggregate3([
        { target: TOKEN, callData: encode('approve', [ROUTER, MAX]) },
        { target: ROUTER, callData: '0xdeadbeef01', allowFailure: true },
        { target: TOKEN, callData: transfer(BOB, 3n) },
      ]),
    );
    expect(effects.grants).toEqual([
      { kind: 'token_approval', asset: `erc20:${TOKEN}`, spender: ROUTER, amount: MAX, unlimited: true, revoke: false, source: 'Multicall3.aggregate3[0]/ERC20.approve' },
    ]);
    expect(effects.calls).toEqual([
      { program: ROUTER, discriminator: 'deadbeef', data: 'deadbeef01', accounts: [], value: 0n, description: `Multicall3.aggregate3[1]: call 0xdeadbeef on ${ROUTER}` },
    ]);
    expect(effects.outflows).toEqual([
      { asset: `erc20:${TOKEN}`, amount: 3n, recipient: BOB, recipientKind: 'owner', source: 'Multicall3.aggregate3[2]/ERC20.transfer' },
    ]);
  });

  test('aggregate, tryAggregate, blockAndAggregate and tryBlockAndAggregate are unwrapped too; value sent stays with Multicall3', () => {
    const calls = [{ target: TOKEN, callData: transfer(ALICE, 1n) }];
    const cases: [string, Hex][] = [
      ['aggregate', encode('aggregate', [calls])],
      ['tryAggregate', encode('tryAggregate', [true, calls])],
      ['blockAndAggregate', encode('blockAndAggregate', [calls])],
      ['tryBlockAndAggregate', encode('tryBlockAndAggregate', [false, calls])],
    ];
    for (const [name, data] of cases) {
      expect(effectsOf(MULTICALL3_ADDRESS, data, 4n), name).toMatchObject({
        outflows: [
          { asset: 'native', amount: 4n, recipient: MULTICALL3_ADDRESS, source: 'value' },
          { asset: `erc20:${TOKEN}`, amount: 1n, recipient: ALICE, source: `Multicall3.${name}[0]/ERC20.transfer` },
        ],
        calls: [],
      });
    }
  });

  test('aggregate3Value: each inner value is a native outflow to its target, and the value that funds them is not counted twice', () => {
    const data = encode('aggregate3Value', [[
      { target: ALICE, allowFailure: false, value: 6n, callData: '0x' },
      { target: ROUTER, allowFailure: false, value: 4n, callData: '0xd0e30db0' },
      { target: TOKEN, allowFailure: false, value: 0n, callData: transfer(BOB, 2n) },
    ]]);
    const effects = effectsOf(MULTICALL3_ADDRESS, data, 10n);
    expect(effects.outflows).toEqual([
      { asset: 'native', amount: 6n, recipient: ALICE, recipientKind: 'owner', source: 'Multicall3.aggregate3Value[0]/value' },
      { asset: 'native', amount: 4n, recipient: ROUTER, recipientKind: 'owner', source: 'Multicall3.aggregate3Value[1]/value' },
      { asset: `erc20:${TOKEN}`, amount: 2n, recipient: BOB, recipientKind: 'owner', source: 'Multicall3.aggregate3Value[2]/ERC20.transfer' },
    ]);
    expect(effects.calls).toEqual([
      { program: ROUTER, discriminator: 'd0e30db0', data: 'd0e30db0', accounts: [], value: 4n, description: `Multicall3.aggregate3Value[1]: call 0xd0e30db0 on ${ROUTER}` },
    ]);
    // Sending more than the inner calls take: the rest is an outflow to Multicall3 (it would revert, but never undercount).
    expect(effectsOf(MULTICALL3_ADDRESS, data, 15n).outflows[0]).toEqual({
      asset: 'native', amount: 5n, recipient: MULTICALL3_ADDRESS, recipientKind: 'owner', source: 'value',
    });
  });

  test('an inner call with empty calldata is a plain transfer, even of 0', () => {
    const effects = effectsOf(MULTICALL3_ADDRESS, encode('aggregate', [[{ target: ALICE, callData: '0x' }]]));
    expect(effects.outflows).toEqual([{ asset: 'native', amount: 0n, recipient: ALICE, recipientKind: 'owner', source: 'Multicall3.aggregate[0]/value' }]);
  });

  test('self-multicall(bytes[]) at any address: inner calls target that contract, the value is one outflow that every inner Call sees', () => {
    const data = multicall([transfer(ALICE, 8n), '0x04e45aaf00', '0x']);
    const effects = effectsOf(ROUTER, data, 3n);
    expect(effects.outflows).toEqual([
      { asset: 'native', amount: 3n, recipient: ROUTER, recipientKind: 'owner', source: 'value' },
      { asset: `erc20:${ROUTER}`, amount: 8n, recipient: ALICE, recipientKind: 'owner', source: 'multicall[0]/ERC20.transfer' },
    ]);
    expect(effects.calls).toEqual([
      { program: ROUTER, discriminator: '04e45aaf', data: '04e45aaf00', accounts: [], value: 3n, description: `multicall[1]: call 0x04e45aaf on ${ROUTER}` },
      // A delegatecall of nothing moves nothing: not a transfer, but the contract's fallback runs.
      { program: ROUTER, discriminator: '', data: '', accounts: [], value: 3n, description: `multicall[2]: call without selector on ${ROUTER}` },
    ]);
  });

  test('multicall(deadline, bytes[]) is unwrapped the same way', () => {
    const data = encode('multicall', [1_900_000_000n, [encode('approve', [BOB, 1n])]]);
    expect(data.slice(0, 10)).toBe(SELF_MULTICALL_SELECTORS.multicallWithDeadline);
    expect(effectsOf(TOKEN, data)).toMatchObject({
      outflows: [],
      grants: [{ kind: 'token_approval', asset: `erc20:${TOKEN}`, spender: BOB, amount: 1n, source: 'multicall[0]/ERC20.approve' }],
      calls: [],
    });
  });

  test('nested multicalls are unwrapped recursively, the source naming each level', () => {
    const data = aggregate3([{ target: ROUTER, callData: multicall([transfer(BOB, 1n), transfer(ALICE, 2n)]) }]);
    expect(effectsOf(MULTICALL3_ADDRESS, data).outflows).toEqual([
      { asset: `erc20:${ROUTER}`, amount: 1n, recipient: BOB, recipientKind: 'owner', source: 'Multicall3.aggregate3[0]/multicall[0]/ERC20.transfer' },
      { asset: `erc20:${ROUTER}`, amount: 2n, recipient: ALICE, recipientKind: 'owner', source: 'Multicall3.aggregate3[0]/multicall[1]/ERC20.transfer' },
    ]);
  });

  test(`nesting is allowed ${MAX_MULTICALL_DEPTH} levels deep and refused one level deeper`, () => {
    let data = transfer(ALICE, 1n);
    for (let level = 1; level <= MAX_MULTICALL_DEPTH; level++) data = multicall([data]);
    const deepest = effectsOf(TOKEN, data).outflows;
    expect(deepest).toHaveLength(1);
    expect(deepest[0]!.source).toBe(`${'multicall[0]/'.repeat(MAX_MULTICALL_DEPTH)}ERC20.transfer`);
    expect(reasonOf(() => effectsOf(TOKEN, multicall([data])))).toBe('WAIAAS_TX_MALFORMED');
    // Mixed wrappers count the same.
    expect(reasonOf(() => effectsOf(MULTICALL3_ADDRESS, aggregate3([{ target: TOKEN, callData: data }])))).toBe('WAIAAS_TX_MALFORMED');
  });

  test('a malformed inner call refuses the whole transaction', () => {
    const bad = `${transfer(ALICE, 1n)}00` as Hex;
    expect(reasonOf(() => effectsOf(MULTICALL3_ADDRESS, aggregate3([{ target: TOKEN, callData: transfer(BOB, 1n) }, { target: TOKEN, callData: bad }])))).toBe(
      'WAIAAS_TX_MALFORMED',
    );
    expect(reasonOf(() => effectsOf(ROUTER, multicall([bad])))).toBe('WAIAAS_TX_MALFORMED');
  });

  test('a Multicall3 selector at any other address is a plain Call, its inner transfer not an outflow', () => {
    const data = aggregate3([{ target: TOKEN, callData: transfer(ALICE, 50n) }]);
    expect(effectsOf(ROUTER, data, 1n)).toMatchObject({
      outflows: [{ asset: 'native', amount: 1n, recipient: ROUTER, source: 'value' }],
      grants: [],
      calls: [{ program: ROUTER, discriminator: MULTICALL3_SELECTORS.aggregate3.slice(2), data: data.slice(2), accounts: [], value: 1n }],
    });
  });

  test('an unknown wrapper is just a Call', () => {
    // SwapRouter02's multicall(bytes32 previousBlockhash, bytes[]) is not unwrapped.
    const unknown = encodeFunctionData({
      abi: parseAbi(['function multicall(bytes32 previousBlockhash, bytes[] data)']),
      args: [`0x${'ab'.repeat(32)}`, [transfer(ALICE, 1n)]],
    });
    expect(effectsOf(ROUTER, unknown)).toMatchObject({
      outflows: [],
      calls: [{ program: ROUTER, discriminator: '1f0464d1', data: unknown.slice(2), accounts: [], value: 0n }],
    });
  });

  test('an empty multicall does nothing at all', () => {
    expect(effectsOf(ROUTER, multicall([]))).toMatchObject({ outflows: [], grants: [], calls: [] });
    expect(effectsOf(MULTICALL3_ADDRESS, aggregate3([]))).toMatchObject({ outflows: [], grants: [], calls: [] });
  });
});

describe('decodeCallEffects', () => {
  test('prefixes sources and descriptions with the given source, and lower-cases a checksummed target', () => {
    expect(decodeCallEffects(getAddress(ROUTER), transfer(ALICE, 1n), 0n, 'SafeTx')).toEqual({
      outflows: [{ asset: `erc20:${ROUTER}`, amount: 1n, recipient: ALICE, recipientKind: 'owner', source: 'SafeTx/ERC20.transfer' }],
      grants: [],
      calls: [],
    });
    expect(decodeCallEffects(ROUTER, '0xabcdef01', 2n, 'SafeTx').calls[0]!.description).toBe(`SafeTx: call 0xabcdef01 on ${ROUTER}`);
    expect(decodeCallEffects(ROUTER, '0x', 2n, 'SafeTx').outflows).toEqual([
      { asset: 'native', amount: 2n, recipient: ROUTER, recipientKind: 'owner', source: 'SafeTx/value' },
    ]);
  });

  test('refuses a bad target, calldata that is not whole hex bytes, or a value out of range, with the reason asked for', () => {
    expect(reasonOf(() => decodeCallEffects('0x1234', '0x', 0n, ''))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeCallEffects(ROUTER, '0xabc' as Hex, 0n, ''))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeCallEffects(ROUTER, 'abcd' as Hex, 0n, ''))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeCallEffects(ROUTER, '0x', -1n, ''))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeCallEffects(ROUTER, '0x', 2n ** 256n, ''))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeCallEffects(TOKEN, `${transfer(ALICE, 1n)}00`, 0n, '', { reason: 'WAIAAS_TYPED_DATA_INVALID' }))).toBe(
      'WAIAAS_TYPED_DATA_INVALID',
    );
  });
});

describe('EIP-7702', () => {
  test('each authorization is a code_delegation grant to its delegate (zero address: a revoke), before the call effects', async () => {
    const authority = privateKeyToAccount(bytesToHex(newEvmKey().secretKey));
    const delegate = getAddress('0x63c0c19a282a1b52b07dd5a65b58948a07dae32b');
    const set = await authority.signAuthorization({ address: delegate, chainId: Number(CHAIN), nonce: 0 });
    const clear = await authority.signAuthorization({ address: `0x${'00'.repeat(20)}`, chainId: 0, nonce: 1 });
    const bytes = unsignedEip7702({ chainId: CHAIN, to: TOKEN, value: 0n, data: transfer(ALICE, 5n), authorizationList: [set, clear] });
    const effects = evmEffects(decodeEvmTransaction(bytes, CHAIN));
    expect(effects.flags).toEqual(['EIP7702_AUTHORIZATION']);
    expect(effects.grants).toEqual([
      { kind: 'code_delegation', asset: 'native', spender: delegate.toLowerCase(), amount: null, unlimited: true, revoke: false, source: 'EIP-7702 authorization' },
      { kind: 'code_delegation', asset: 'native', spender: `0x${'00'.repeat(20)}`, amount: null, unlimited: true, revoke: true, source: 'EIP-7702 authorization' },
    ]);
    expect(effects.outflows).toEqual([{ asset: `erc20:${TOKEN}`, amount: 5n, recipient: ALICE, recipientKind: 'owner', source: 'ERC20.transfer' }]);
    expect(effects.calls).toEqual([]);
  });
});
