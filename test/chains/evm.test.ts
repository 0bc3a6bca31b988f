// EVM decoder: decode → effects → sign the digest → assemble → execute in @ethereumjs/vm, plus every refusal.
import { createAddressFromString } from '@ethereumjs/util';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, concatHex, getAddress, hexToBytes, keccak256, parseTransaction, recoverTransactionAddress, toRlp, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import type { Reason } from '../../server/errors/reasons.ts';
import {
  assembleEvmTransaction,
  decodeEvmTransaction,
  evmAddress,
  evmEffects,
  evmSigningDigest,
  type DecodedEvmTransaction,
} from '../../server/chains/evm/index.ts';
import { executeEvm, newEvmKey, unsignedEip1559, unsignedEip2930, unsignedEip7702, unsignedLegacy } from '../support/evm.ts';

const CHAIN = 31337n;
const ETH = 10n ** 18n;
const RECIPIENT = '0x1111111111111111111111111111111111111111';
const TOKEN = '0x2222222222222222222222222222222222222222';

type Key = ReturnType<typeof newEvmKey>;

/** The server's pipeline: decode, sign the 32-byte digest (as CKM_ECDSA would, low-s), assemble. */
function sign(bytes: Uint8Array, key: Key, chainId = CHAIN): { tx: DecodedEvmTransaction; signed: Uint8Array; hash: Uint8Array } {
  const tx = decodeEvmTransaction(bytes, chainId);
  const sig = secp256k1.Signature.fromBytes(secp256k1.sign(evmSigningDigest(tx), key.secretKey, { prehash: false, format: 'recovered' }), 'recovered');
  const { signed, hash } = assembleEvmTransaction(tx, {
    r: hexToBytes(`0x${sig.r.toString(16).padStart(64, '0')}`),
    s: hexToBytes(`0x${sig.s.toString(16).padStart(64, '0')}`),
    yParity: sig.recovery as 0 | 1,
  });
  return { tx, signed, hash };
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

function metadataOf(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (e) {
    if (isWaiaasError(e)) return e.metadata;
    throw e;
  }
  throw new Error('expected a WaiaasError, nothing was thrown');
}

describe('evmAddress', () => {
  test('is the EIP-55 address of keccak256(X ‖ Y), as viem derives it from the private key', () => {
    for (let i = 0; i < 5; i++) {
      const key = newEvmKey();
      expect(evmAddress(key.publicKey)).toBe(privateKeyToAccount(bytesToHex(key.secretKey)).address);
    }
  });

  test('refuses a compressed key, a wrong prefix or a point off the curve as a server fault', () => {
    const key = newEvmKey();
    expect(reasonOf(() => evmAddress(secp256k1.getPublicKey(key.secretKey, true)))).toBe('WAIAAS_INTERNAL');
    expect(reasonOf(() => evmAddress(new Uint8Array([0x05, ...key.publicKey.subarray(1)])))).toBe('WAIAAS_INTERNAL');
    const off = key.publicKey.slice();
    off[64]! ^= 1;
    expect(reasonOf(() => evmAddress(off))).toBe('WAIAAS_INTERNAL');
  });
});

describe('EIP-1559', () => {
  test('a transfer decodes to one outflow, and once signed and assembled it executes and moves exactly the value', async () => {
    const wallet = newEvmKey();
    const bytes = unsignedEip1559({ chainId: CHAIN, to: RECIPIENT, value: 12_345n, nonce: 3, maxFeePerGas: 3_000_000_000n, maxPriorityFeePerGas: 2n });
    const { tx, signed, hash } = sign(bytes, wallet);
    expect(tx.type).toBe('eip1559');
    expect(tx.chainId).toBe(CHAIN);
    expect(tx.nonce).toBe(3n);
    expect(tx.gas).toBe(21_000n);
    expect(tx.maxFeePerGas).toBe(3_000_000_000n);
    expect(tx.maxPriorityFeePerGas).toBe(2n);
    expect(tx.gasPrice).toBeUndefined();
    expect(tx.to).toBe(RECIPIENT);
    expect(tx.data).toBe('0x');
    expect(tx.signingHash).toEqual(hexToBytes(keccak256(bytes)));
    expect(evmEffects(tx)).toEqual({
      chain: 'evm',
      chainId: CHAIN,
      outflows: [{ asset: 'native', amount: 12_345n, recipient: RECIPIENT, recipientKind: 'owner', source: 'value' }],
      grants: [],
      calls: [],
      flags: [],
      maxFee: 21_000n * 3_000_000_000n,
    });

    expect(hash).toEqual(hexToBytes(keccak256(signed)));
    expect((await recoverTransactionAddress({ serializedTransaction: bytesToHex(signed) as `0x02${string}` })).toLowerCase()).toBe(
      wallet.address.toLowerCase(),
    );
    const run = await executeEvm({ signedTx: signed, chainId: CHAIN, fund: { [wallet.address]: ETH } });
    expect(run.error).toBeUndefined();
    expect(run.ok).toBe(true);
    expect(run.sender).toBe(wallet.address.toLowerCase());
    expect(await run.balance(RECIPIENT)).toBe(12_345n);
  });

  test('a checksummed `to` comes out lower-case, and the caller reusing its buffer changes nothing', () => {
    const checksummed = getAddress('0xabcdef0123456789abcdef0123456789abcdef01');
    expect(checksummed).not.toBe(checksummed.toLowerCase());
    const bytes = unsignedEip1559({ chainId: CHAIN, to: checksummed, value: 1n });
    const buffer = Buffer.from(bytes);
    const tx = decodeEvmTransaction(buffer, CHAIN);
    buffer.fill(0);
    expect(tx.to).toBe('0xabcdef0123456789abcdef0123456789abcdef01');
    expect(tx.bytes).toEqual(bytes);
  });

  test('a signature on the wrong chain does not execute', async () => {
    const wallet = newEvmKey();
    const { signed } = sign(unsignedEip1559({ chainId: 5n, to: RECIPIENT, value: 1n }), wallet, 5n);
    const run = await executeEvm({ signedTx: signed, chainId: CHAIN, fund: { [wallet.address]: ETH } });
    expect(run.ok).toBe(false);
  });
});

describe('legacy EIP-155', () => {
  test('the 9-field unsigned form decodes with its chain id, and the assembled v = yParity + 35 + 2·chainId executes', async () => {
    const wallet = newEvmKey();
    const bytes = unsignedLegacy({ chainId: CHAIN, to: RECIPIENT, value: 777n, nonce: 9, gasPrice: 5_000_000_000n });
    const { tx, signed } = sign(bytes, wallet);
    expect(tx.type).toBe('legacy');
    expect(tx.chainId).toBe(CHAIN);
    expect(tx.gasPrice).toBe(5_000_000_000n);
    expect(tx.maxFeePerGas).toBeUndefined();
    expect(evmEffects(tx).outflows).toEqual([{ asset: 'native', amount: 777n, recipient: RECIPIENT, recipientKind: 'owner', source: 'value' }]);
    expect(evmEffects(tx).maxFee).toBe(21_000n * 5_000_000_000n);

    const parsed = parseTransaction(bytesToHex(signed));
    expect(parsed.v === 35n + 2n * CHAIN || parsed.v === 36n + 2n * CHAIN).toBe(true);
    const run = await executeEvm({ signedTx: signed, chainId: CHAIN, fund: { [wallet.address]: ETH } });
    expect(run.error).toBeUndefined();
    expect(run.sender).toBe(wallet.address.toLowerCase());
    expect(await run.balance(RECIPIENT)).toBe(777n);
  });

  test('a legacy transaction without an EIP-155 chain id is WAIAAS_CHAIN_ID_MISMATCH, saying it is missing', () => {
    const bytes = unsignedLegacy({ chainId: null, to: RECIPIENT, value: 1n });
    expect(reasonOf(() => decodeEvmTransaction(bytes, CHAIN))).toBe('WAIAAS_CHAIN_ID_MISMATCH');
    expect(metadataOf(() => decodeEvmTransaction(bytes, CHAIN))).toEqual({ expected: '31337', actual: 'missing' });
    // [.., chainId = 0, 0, 0] is no chain id either.
    const fields = [0, 1, 21000, RECIPIENT, 1].map((v) => (typeof v === 'string' ? v : v === 0 ? '0x' : bytesToHex(hexToBytes(`0x${v.toString(16).padStart(2, '0')}`)))) as Hex[];
    const zeroChain = hexToBytes(toRlp([...fields, '0x', '0x', '0x', '0x']));
    expect(metadataOf(() => decodeEvmTransaction(zeroChain, CHAIN))).toEqual({ expected: '31337', actual: 'missing' });
  });
});

describe('EIP-2930', () => {
  test('decodes with its access list and executes once signed', async () => {
    const wallet = newEvmKey();
    const bytes = unsignedEip2930({
      chainId: CHAIN, to: RECIPIENT, value: 5n, gas: 30_000n,
      accessList: [{ address: TOKEN, storageKeys: [`0x${'00'.repeat(31)}01`] }],
    });
    const { tx, signed } = sign(bytes, wallet);
    expect(tx.type).toBe('eip2930');
    expect(evmEffects(tx)).toMatchObject({
      outflows: [{ asset: 'native', amount: 5n, recipient: RECIPIENT, recipientKind: 'owner', source: 'value' }],
      grants: [],
      calls: [],
      flags: [],
    });
    const run = await executeEvm({ signedTx: signed, chainId: CHAIN, fund: { [wallet.address]: ETH } });
    expect(run.error).toBeUndefined();
    expect(await run.balance(RECIPIENT)).toBe(5n);
  });
});

describe('EIP-7702', () => {
  test('is flagged EIP7702_AUTHORIZATION with a code_delegation grant to the delegate, and once signed it executes and the value arrives', async () => {
    const wallet = newEvmKey();
    const authority = privateKeyToAccount(bytesToHex(newEvmKey().secretKey));
    const authorization = await authority.signAuthorization({ address: TOKEN, chainId: Number(CHAIN), nonce: 0 });
    const bytes = unsignedEip7702({ chainId: CHAIN, to: RECIPIENT, value: 10n, authorizationList: [authorization] });
    const { tx, signed } = sign(bytes, wallet);
    expect(tx.type).toBe('eip7702');
    expect(tx.authorizationCount).toBe(1);
    const effects = evmEffects(tx);
    expect(effects.flags).toEqual(['EIP7702_AUTHORIZATION']);
    expect(effects.outflows).toEqual([{ asset: 'native', amount: 10n, recipient: RECIPIENT, recipientKind: 'owner', source: 'value' }]);
    expect(effects.grants).toEqual([
      { kind: 'code_delegation', asset: 'native', spender: TOKEN, amount: null, unlimited: true, revoke: false, source: 'EIP-7702 authorization' },
    ]);
    expect(effects.calls).toEqual([]);

    const run = await executeEvm({ signedTx: signed, chainId: CHAIN, fund: { [wallet.address]: ETH } });
    expect(run.error).toBeUndefined();
    expect(await run.balance(RECIPIENT)).toBe(10n);
  });

  test('without a destination or without an authorization it is malformed', () => {
    const base = [CHAIN, 0n, 1n, 2n, 100_000n].map((v) => (v === 0n ? '0x' : (`0x${v.toString(16).padStart(v.toString(16).length + (v.toString(16).length % 2), '0')}` as Hex)));
    const auth = [['0x7a69', TOKEN, '0x', '0x', `0x${'11'.repeat(32)}`, `0x${'22'.repeat(32)}`]] as Hex[][];
    const noTo = concatHex(['0x04', toRlp([...base, '0x', '0x', '0x', [], auth] as Hex[])]);
    const noAuth = concatHex(['0x04', toRlp([...base, RECIPIENT, '0x', '0x', [], []] as Hex[])]);
    const ok = concatHex(['0x04', toRlp([...base, RECIPIENT, '0x', '0x', [], auth] as Hex[])]);
    expect(decodeEvmTransaction(hexToBytes(ok), CHAIN).authorizationCount).toBe(1);
    expect(reasonOf(() => decodeEvmTransaction(hexToBytes(noTo), CHAIN))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeEvmTransaction(hexToBytes(noAuth), CHAIN))).toBe('WAIAAS_TX_MALFORMED');
  });
});

describe('effects', () => {
  test('contract creation is flagged, is no Call, and its value is an outflow to "" that no allowlist can match', () => {
    const tx = decodeEvmTransaction(unsignedEip1559({ chainId: CHAIN, to: null, value: 3n, data: '0x6000' }), CHAIN);
    expect(tx.to).toBeNull();
    expect(evmEffects(tx)).toMatchObject({
      flags: ['CONTRACT_CREATION'],
      calls: [],
      grants: [],
      outflows: [{ asset: 'native', amount: 3n, recipient: '', recipientKind: 'owner', source: 'create' }],
    });
    const noValue = decodeEvmTransaction(unsignedLegacy({ chainId: CHAIN, to: null, value: 0n, data: '0x6000' }), CHAIN);
    expect(evmEffects(noValue)).toMatchObject({ flags: ['CONTRACT_CREATION'], outflows: [], calls: [] });
  });

  test('undecoded calldata is a Call with its selector and whole calldata; value sent with it is an outflow too', () => {
    const paid = decodeEvmTransaction(unsignedEip1559({ chainId: CHAIN, to: TOKEN, value: 9n, data: '0xD0E30DB0' }), CHAIN);
    expect(evmEffects(paid)).toMatchObject({
      outflows: [{ asset: 'native', amount: 9n, recipient: TOKEN, recipientKind: 'owner', source: 'value' }],
      grants: [],
      calls: [{ program: TOKEN, discriminator: 'd0e30db0', data: 'd0e30db0', accounts: [], value: 9n, description: `call 0xd0e30db0 on ${TOKEN}` }],
    });
    const short = decodeEvmTransaction(unsignedEip1559({ chainId: CHAIN, to: TOKEN, value: 0n, data: '0xabcd' }), CHAIN);
    expect(evmEffects(short)).toMatchObject({
      outflows: [],
      calls: [{ program: TOKEN, discriminator: '', data: 'abcd', accounts: [], value: 0n, description: `call without selector on ${TOKEN}` }],
    });
  });

  test('an ERC-20 transfer in the calldata is a token outflow, not a Call', () => {
    const transfer = `0xa9059cbb${'00'.repeat(12)}${RECIPIENT.slice(2)}${'00'.repeat(31)}01` as Hex;
    const tx = decodeEvmTransaction(unsignedEip1559({ chainId: CHAIN, to: TOKEN, value: 0n, data: transfer }), CHAIN);
    expect(evmEffects(tx)).toMatchObject({
      outflows: [{ asset: `erc20:${TOKEN}`, amount: 1n, recipient: RECIPIENT, recipientKind: 'owner', source: 'ERC20.transfer' }],
      calls: [],
    });
  });

  test('a zero-value transfer with no data is an outflow of 0', () => {
    const tx = decodeEvmTransaction(unsignedEip1559({ chainId: CHAIN, to: RECIPIENT, value: 0n }), CHAIN);
    expect(evmEffects(tx)).toMatchObject({
      outflows: [{ asset: 'native', amount: 0n, recipient: RECIPIENT, recipientKind: 'owner', source: 'value' }],
      calls: [],
      flags: [],
    });
  });

  test('the fee is gas × gasPrice for legacy and EIP-2930, gas × maxFeePerGas for EIP-1559', () => {
    const legacy = decodeEvmTransaction(unsignedLegacy({ chainId: CHAIN, to: RECIPIENT, value: 1n, gas: 30_000n, gasPrice: 7n }), CHAIN);
    expect(evmEffects(legacy).maxFee).toBe(210_000n);
    const eip2930 = decodeEvmTransaction(unsignedEip2930({ chainId: CHAIN, to: RECIPIENT, value: 1n, gas: 30_000n, gasPrice: 3n }), CHAIN);
    expect(evmEffects(eip2930).maxFee).toBe(90_000n);
    const eip1559 = decodeEvmTransaction(unsignedEip1559({ chainId: CHAIN, to: RECIPIENT, value: 1n, gas: 30_000n, maxFeePerGas: 5n, maxPriorityFeePerGas: 1n }), CHAIN);
    expect(evmEffects(eip1559).maxFee).toBe(150_000n);
  });
});

describe('refusals', () => {
  const valid = unsignedEip1559({ chainId: CHAIN, to: RECIPIENT, value: 1n, nonce: 1 });

  test('a chain id other than the request is WAIAAS_CHAIN_ID_MISMATCH with both ids', () => {
    expect(reasonOf(() => decodeEvmTransaction(valid, 1n))).toBe('WAIAAS_CHAIN_ID_MISMATCH');
    expect(metadataOf(() => decodeEvmTransaction(valid, 1n))).toEqual({ expected: '1', actual: '31337' });
    const legacy = unsignedLegacy({ chainId: 1n, to: RECIPIENT, value: 1n });
    expect(metadataOf(() => decodeEvmTransaction(legacy, CHAIN))).toEqual({ expected: '31337', actual: '1' });
  });

  test('signed input is WAIAAS_TX_ALREADY_SIGNED, for every type', async () => {
    const account = privateKeyToAccount(bytesToHex(newEvmKey().secretKey));
    const signed1559 = await account.signTransaction({ type: 'eip1559', chainId: Number(CHAIN), to: RECIPIENT, value: 1n, gas: 21000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n });
    const signedLegacy = await account.signTransaction({ type: 'legacy', chainId: Number(CHAIN), to: RECIPIENT, value: 1n, gas: 21000n, gasPrice: 2n });
    const signedPre155 = await account.signTransaction({ type: 'legacy', to: RECIPIENT, value: 1n, gas: 21000n, gasPrice: 2n });
    const signed2930 = await account.signTransaction({ type: 'eip2930', chainId: Number(CHAIN), to: RECIPIENT, value: 1n, gas: 21000n, gasPrice: 2n });
    for (const s of [signed1559, signedLegacy, signedPre155, signed2930]) {
      expect(reasonOf(() => decodeEvmTransaction(hexToBytes(s), CHAIN)), s).toBe('WAIAAS_TX_ALREADY_SIGNED');
    }
    // Our own assembled output is refused as input too.
    expect(reasonOf(() => decodeEvmTransaction(sign(valid, newEvmKey()).signed, CHAIN))).toBe('WAIAAS_TX_ALREADY_SIGNED');
    // A legacy list with v = chainId but something in r is a (half) signature, not an unsigned EIP-155 transaction.
    const halfSigned = hexToBytes(toRlp(['0x', '0x02', '0x5208', RECIPIENT, '0x01', '0x', '0x7a69', '0x01', '0x']));
    expect(reasonOf(() => decodeEvmTransaction(halfSigned, CHAIN))).toBe('WAIAAS_TX_ALREADY_SIGNED');
  });

  test('non-canonical encodings are WAIAAS_TX_NOT_CANONICAL: a leading zero in an integer, a long-form or redundant RLP prefix', () => {
    // nonce 1 written as 0x0001.
    const leadingZero = concatHex(['0x02', toRlp(['0x7a69', '0x0001', '0x01', '0x02', '0x5208', RECIPIENT, '0x01', '0x', []])]);
    expect(reasonOf(() => decodeEvmTransaction(hexToBytes(leadingZero), CHAIN))).toBe('WAIAAS_TX_NOT_CANONICAL');
    const zeroByte = concatHex(['0x02', toRlp(['0x7a69', '0x00', '0x01', '0x02', '0x5208', RECIPIENT, '0x01', '0x', []])]);
    expect(reasonOf(() => decodeEvmTransaction(hexToBytes(zeroByte), CHAIN))).toBe('WAIAAS_TX_NOT_CANONICAL');
    // The one-byte value 0x05 written as 0x81 0x05.
    const canonical = hexToBytes(toRlp(['0x', '0x02', '0x5208', RECIPIENT, '0x05', '0x', '0x7a69', '0x', '0x']));
    expect(decodeEvmTransaction(canonical, CHAIN).value).toBe(5n);
    const at = canonical.indexOf(0x05, 1 + 1 + 1 + 3 + 21);
    const redundant = new Uint8Array([...canonical.subarray(0, at), 0x81, ...canonical.subarray(at)]);
    redundant[0] = canonical[0]! + 1;
    expect(reasonOf(() => decodeEvmTransaction(redundant, CHAIN))).toBe('WAIAAS_TX_NOT_CANONICAL');
    // The outer list written with a long-form length although it is short.
    const body = canonical.subarray(1);
    const longForm = new Uint8Array([0xf8, body.length, ...body]);
    expect(reasonOf(() => decodeEvmTransaction(longForm, CHAIN))).toBe('WAIAAS_TX_NOT_CANONICAL');
  });

  test('empty, oversized, blob, unknown-type, trailing-byte and wrongly shaped transactions are refused', () => {
    expect(reasonOf(() => decodeEvmTransaction(new Uint8Array(0), CHAIN))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeEvmTransaction(new Uint8Array(128 * 1024 + 1), CHAIN))).toBe('WAIAAS_TX_TOO_LARGE');
    expect(reasonOf(() => decodeEvmTransaction(new Uint8Array([0x03, ...valid.subarray(1)]), CHAIN))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeEvmTransaction(new Uint8Array([0x05, ...valid.subarray(1)]), CHAIN))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeEvmTransaction(new Uint8Array([...valid, 0]), CHAIN))).toBe('WAIAAS_TX_MALFORMED');
    expect(reasonOf(() => decodeEvmTransaction(new Uint8Array([0x02]), CHAIN))).toBe('WAIAAS_TX_MALFORMED');
    const shapes: Record<string, unknown[]> = {
      'too few fields': ['0x7a69', '0x01', '0x01', '0x02', '0x5208', RECIPIENT, '0x01', '0x'],
      'list where a number goes': ['0x7a69', [], '0x01', '0x02', '0x5208', RECIPIENT, '0x01', '0x', []],
      '19-byte to': ['0x7a69', '0x01', '0x01', '0x02', '0x5208', RECIPIENT.slice(0, 40), '0x01', '0x', []],
      'bytes where the access list goes': ['0x7a69', '0x01', '0x01', '0x02', '0x5208', RECIPIENT, '0x01', '0x', '0x01'],
      'short storage key': ['0x7a69', '0x01', '0x01', '0x02', '0x5208', RECIPIENT, '0x01', '0x', [[TOKEN, ['0x01']]]],
      'nonce over 64 bits': ['0x7a69', `0x01${'00'.repeat(8)}`, '0x01', '0x02', '0x5208', RECIPIENT, '0x01', '0x', []],
      'tip above fee cap': ['0x7a69', '0x01', '0x05', '0x02', '0x5208', RECIPIENT, '0x01', '0x', []],
    };
    for (const [name, fields] of Object.entries(shapes)) {
      const bytes = hexToBytes(concatHex(['0x02', toRlp(fields as Hex[])]));
      expect(reasonOf(() => decodeEvmTransaction(bytes, CHAIN)), name).toBe('WAIAAS_TX_MALFORMED');
    }
  });

  test('assemble refuses a high-s or out-of-range signature instead of producing a transaction nodes reject', () => {
    const tx = decodeEvmTransaction(valid, CHAIN);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const bytes = (v: bigint) => hexToBytes(`0x${v.toString(16).padStart(64, '0')}`);
    expect(reasonOf(() => assembleEvmTransaction(tx, { r: bytes(1n), s: bytes(n - 1n), yParity: 0 }))).toBe('WAIAAS_INTERNAL');
    expect(reasonOf(() => assembleEvmTransaction(tx, { r: bytes(0n), s: bytes(1n), yParity: 0 }))).toBe('WAIAAS_INTERNAL');
    expect(reasonOf(() => assembleEvmTransaction(tx, { r: bytes(1n), s: bytes(1n), yParity: 2 as 0 }))).toBe('WAIAAS_INTERNAL');
    expect(assembleEvmTransaction(tx, { r: bytes(1n), s: bytes(1n), yParity: 1 }).signed.length).toBeGreaterThan(valid.length);
  });

  test('the assembled transaction hash is what ethereumjs computes for it', async () => {
    const wallet = newEvmKey();
    const { signed, hash } = sign(unsignedLegacy({ chainId: CHAIN, to: RECIPIENT, value: 1n }), wallet);
    const { createTxFromRLP } = await import('@ethereumjs/tx');
    const { evmCommon } = await import('../support/evm.ts');
    const ejs = createTxFromRLP(signed, { common: evmCommon(CHAIN) });
    expect(ejs.hash()).toEqual(hash);
    expect(ejs.getSenderAddress().equals(createAddressFromString(wallet.address.toLowerCase()))).toBe(true);
  });
});
