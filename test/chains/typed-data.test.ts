// EIP-712 decoder: digests against viem hashTypedData (and the EIP-712 specification's published digest), signatures
// made with noble over the server's digest recovered by viem, every refusal with the field it names, the grants of
// EIP-2612 / DAI / Permit2 messages, and a seeded fuzz over mutated documents that must never throw anything but a
// WaiaasError.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hashTypedData, recoverTypedDataAddress, type Hex, type TypedDataDefinition } from 'viem';
import { describe, expect, test } from 'vitest';
import { decodeEip712, EIP712_MAX_JSON_BYTES, type DecodedEip712 } from '../../server/chains/evm/typed-data.ts';
import { isWaiaasError } from '../../server/errors/error.ts';
import { newEvmKey } from '../support/evm.ts';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures: real-world shapes written as viem takes them, serialized to the JSON a client sends.
const TOKEN = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48'; // USDC, checksummed
const TOKEN2 = '0x6B175474E89094C44Da98b954EedeAC495271d0F'; // DAI, checksummed
const OWNER = '0x1111111111111111111111111111111111111111';
const SPENDER = '0x2222222222222222222222222222222222222222';
const PERMIT2 = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
const MAX_UINT256 = 2n ** 256n - 1n;
const MAX_UINT160 = 2n ** 160n - 1n;

/** A typed-data document as viem takes it (bigint numbers). */
type Doc = TypedDataDefinition & { types: Record<string, { name: string; type: string }[]>; domain: Record<string, unknown> };

/** JSON as a wallet client sends it: bigints as decimal strings. */
function toJson(doc: unknown): string {
  return JSON.stringify(doc, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

const permit2Domain = { name: 'Permit2', chainId: 1n, verifyingContract: PERMIT2 };
const permitDetails = [
  { name: 'token', type: 'address' },
  { name: 'amount', type: 'uint160' },
  { name: 'expiration', type: 'uint48' },
  { name: 'nonce', type: 'uint48' },
];
const tokenPermissions = [
  { name: 'token', type: 'address' },
  { name: 'amount', type: 'uint256' },
];

function eip2612(message: Partial<{ value: bigint; deadline: bigint }> = {}): Doc {
  return {
    types: {
      EIP712Domain: [
        { name: 'name', type: 'string' },
        { name: 'version', type: 'string' },
        { name: 'chainId', type: 'uint256' },
        { name: 'verifyingContract', type: 'address' },
      ],
      Permit: [
        { name: 'owner', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
    },
    primaryType: 'Permit',
    domain: { name: 'USD Coin', version: '2', chainId: 1n, verifyingContract: TOKEN },
    message: { owner: OWNER, spender: SPENDER, value: 1_000_000n, nonce: 0n, deadline: 1_900_000_000n, ...message },
  } as Doc;
}

function daiPermit(allowed: boolean, expiry = 1_900_000_000n): Doc {
  return {
    types: {
      Permit: [
        { name: 'holder', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'nonce', type: 'uint256' },
        { name: 'expiry', type: 'uint256' },
        { name: 'allowed', type: 'bool' },
      ],
    },
    primaryType: 'Permit',
    domain: { name: 'Dai Stablecoin', version: '1', chainId: 1n, verifyingContract: TOKEN2 },
    message: { holder: OWNER, spender: SPENDER, nonce: 3n, expiry, allowed },
  } as Doc;
}

function permitSingle(details: Partial<{ amount: bigint; expiration: bigint }> = {}, sigDeadline = 1_800_000_000n, domain: Record<string, unknown> = permit2Domain): Doc {
  return {
    types: {
      PermitSingle: [
        { name: 'details', type: 'PermitDetails' },
        { name: 'spender', type: 'address' },
        { name: 'sigDeadline', type: 'uint256' },
      ],
      PermitDetails: permitDetails,
    },
    primaryType: 'PermitSingle',
    domain,
    message: {
      details: { token: TOKEN, amount: 5_000_000n, expiration: 1_900_000_000n, nonce: 0n, ...details },
      spender: SPENDER,
      sigDeadline,
    },
  } as Doc;
}

function permitBatch(): Doc {
  return {
    types: {
      PermitBatch: [
        { name: 'details', type: 'PermitDetails[]' },
        { name: 'spender', type: 'address' },
        { name: 'sigDeadline', type: 'uint256' },
      ],
      PermitDetails: permitDetails,
    },
    primaryType: 'PermitBatch',
    domain: permit2Domain,
    message: {
      details: [
        { token: TOKEN, amount: MAX_UINT160, expiration: 0n, nonce: 1n },
        { token: TOKEN2, amount: 7n, expiration: 1_950_000_000n, nonce: 4n },
      ],
      spender: SPENDER,
      sigDeadline: 1_800_000_000n,
    },
  } as Doc;
}

function permitTransferFrom(): Doc {
  return {
    types: {
      PermitTransferFrom: [
        { name: 'permitted', type: 'TokenPermissions' },
        { name: 'spender', type: 'address' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
      TokenPermissions: tokenPermissions,
    },
    primaryType: 'PermitTransferFrom',
    domain: permit2Domain,
    message: { permitted: { token: TOKEN, amount: 250n }, spender: SPENDER, nonce: 99n, deadline: 1_800_000_000n },
  } as Doc;
}

function permitBatchTransferFrom(): Doc {
  return {
    types: {
      PermitBatchTransferFrom: [
        { name: 'permitted', type: 'TokenPermissions[]' },
        { name: 'spender', type: 'address' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
      TokenPermissions: tokenPermissions,
    },
    primaryType: 'PermitBatchTransferFrom',
    domain: permit2Domain,
    message: {
      permitted: [
        { token: TOKEN, amount: 1n },
        { token: TOKEN2, amount: MAX_UINT256 },
      ],
      spender: SPENDER,
      nonce: 100n,
      deadline: 1_800_000_000n,
    },
  } as Doc;
}

/** A UniswapX-style witness order (the witness is a struct of the caller's choosing). */
function permitWitnessTransferFrom(): Doc {
  return {
    types: {
      PermitWitnessTransferFrom: [
        { name: 'permitted', type: 'TokenPermissions' },
        { name: 'spender', type: 'address' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
        { name: 'witness', type: 'ExampleWitness' },
      ],
      TokenPermissions: tokenPermissions,
      ExampleWitness: [
        { name: 'user', type: 'address' },
        { name: 'outputs', type: 'uint256[]' },
      ],
    },
    primaryType: 'PermitWitnessTransferFrom',
    domain: permit2Domain,
    message: {
      permitted: { token: TOKEN, amount: 10n ** 18n },
      spender: SPENDER,
      nonce: 7n,
      deadline: 1_800_000_000n,
      witness: { user: OWNER, outputs: [1n, 2n, 3n] },
    },
  } as Doc;
}

function permitBatchWitnessTransferFrom(): Doc {
  return {
    types: {
      PermitBatchWitnessTransferFrom: [
        { name: 'permitted', type: 'TokenPermissions[]' },
        { name: 'spender', type: 'address' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
        { name: 'order', type: 'Order' },
      ],
      TokenPermissions: tokenPermissions,
      Order: [
        { name: 'recipient', type: 'address' },
        { name: 'memo', type: 'string' },
        { name: 'ref', type: 'bytes32' },
      ],
    },
    primaryType: 'PermitBatchWitnessTransferFrom',
    domain: permit2Domain,
    message: {
      permitted: [
        { token: TOKEN, amount: 3n },
        { token: TOKEN2, amount: 4n },
      ],
      spender: SPENDER,
      nonce: 8n,
      deadline: 1_800_000_000n,
      order: { recipient: OWNER, memo: 'swap', ref: `0x${'ab'.repeat(32)}` },
    },
  } as Doc;
}

/** The example of the EIP-712 specification (its digest is published there). */
function mail(): Doc {
  return {
    types: {
      EIP712Domain: [
        { name: 'name', type: 'string' },
        { name: 'version', type: 'string' },
        { name: 'chainId', type: 'uint256' },
        { name: 'verifyingContract', type: 'address' },
      ],
      Person: [
        { name: 'name', type: 'string' },
        { name: 'wallet', type: 'address' },
      ],
      Mail: [
        { name: 'from', type: 'Person' },
        { name: 'to', type: 'Person' },
        { name: 'contents', type: 'string' },
      ],
    },
    primaryType: 'Mail',
    domain: { name: 'Ether Mail', version: '1', chainId: 1n, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
    message: {
      from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
      to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
      contents: 'Hello, Bob!',
    },
  } as Doc;
}

/** Published in EIP-712 for {@link mail}. */
const MAIL_DIGEST = '0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2';

/** Every fixture, by name. */
const FIXTURES: Record<string, () => Doc> = {
  eip2612: () => eip2612(),
  daiAllowed: () => daiPermit(true),
  daiRevoked: () => daiPermit(false),
  permitSingle: () => permitSingle(),
  permitBatch,
  permitTransferFrom,
  permitBatchTransferFrom,
  permitWitnessTransferFrom,
  permitBatchWitnessTransferFrom,
  mail,
};

// ---------------------------------------------------------------------------------------------------------------
// Helpers.

/** The refusal of `json`: reason and metadata.field. Fails the test when it decodes or throws a non-Waiaas error. */
function refusal(json: string): { reason: string; field: string | undefined } {
  try {
    decodeEip712(json);
  } catch (e) {
    if (isWaiaasError(e)) return { reason: e.reason, field: e.metadata.field };
    throw e;
  }
  throw new Error('expected a refusal');
}

/** Mutates a plain-JSON copy of `doc` (bigints as strings) and serializes it. */
function mutated(doc: Doc, mutate: (d: any) => void): string {
  const copy = JSON.parse(toJson(doc));
  mutate(copy);
  return JSON.stringify(copy);
}

/** An Ethereum signature (r ‖ s ‖ v) over a digest, made with noble, not viem. */
function signDigest(secretKey: Uint8Array, digest: Uint8Array): Hex {
  const sig = secp256k1.sign(digest, secretKey, { prehash: false, format: 'recovered' });
  return bytesToHex(new Uint8Array([...sig.subarray(1), 27 + (sig[0] as number)]));
}

const decode = (doc: Doc): DecodedEip712 => decodeEip712(toJson(doc));

// ---------------------------------------------------------------------------------------------------------------

describe('digest', () => {
  test.each(Object.entries(FIXTURES))('%s: the digest equals viem hashTypedData', (_name, fixture) => {
    const doc = fixture();
    expect(bytesToHex(decode(doc).digest)).toBe(hashTypedData(doc));
  });

  test('the EIP-712 Mail example hashes to the digest published in the specification', () => {
    expect(bytesToHex(decode(mail()).digest)).toBe(MAIL_DIGEST);
  });

  test.each(Object.entries(FIXTURES))('%s: a signature over the digest recovers the signer with viem', async (_name, fixture) => {
    const key = newEvmKey();
    const doc = fixture();
    const signature = signDigest(key.secretKey, decode(doc).digest);
    expect(await recoverTypedDataAddress({ ...doc, signature } as Parameters<typeof recoverTypedDataAddress>[0])).toBe(key.address);
  });

  test('EIP712Domain may be omitted: it is inferred from the domain fields in canonical order', () => {
    const doc = eip2612();
    const json = mutated(doc, (d) => {
      delete d.types.EIP712Domain;
      d.domain = { verifyingContract: d.domain.verifyingContract, chainId: d.domain.chainId, version: '2', name: 'USD Coin' };
    });
    const decoded = decodeEip712(json);
    expect(bytesToHex(decoded.digest)).toBe(hashTypedData(doc));
    expect(decoded.typedData.types.EIP712Domain?.map((f) => f.name)).toEqual(['name', 'version', 'chainId', 'verifyingContract']);
  });

  test('a declared EIP712Domain in a non-canonical order is hashed in that order', () => {
    const doc = mail();
    doc.types.EIP712Domain = [
      { name: 'chainId', type: 'uint256' },
      { name: 'name', type: 'string' },
    ];
    doc.domain = { chainId: 5n, name: 'Ether Mail' };
    expect(bytesToHex(decode(doc).digest)).toBe(hashTypedData(doc));
  });

  test('numbers: JSON integers of any size are read exactly, hex and decimal strings alike', () => {
    const big = toJson(eip2612()).replace('"value":"1000000"', `"value":${MAX_UINT256}`);
    expect(decodeEip712(big).typedData.message.value).toBe(MAX_UINT256);
    const hex = toJson(eip2612()).replace('"value":"1000000"', '"value":"0x0F4240"');
    expect(bytesToHex(decodeEip712(hex).digest)).toBe(hashTypedData(eip2612()));
  });

  test('signed integers, fixed arrays, nested arrays, bytes and an empty domain', () => {
    const doc = {
      types: {
        Item: [
          { name: 'delta', type: 'int64' },
          { name: 'pair', type: 'uint8[2]' },
          { name: 'grid', type: 'int16[2][]' },
          { name: 'blob', type: 'bytes' },
          { name: 'tag', type: 'bytes4' },
          { name: 'flags', type: 'bool[]' },
        ],
      },
      primaryType: 'Item',
      domain: {},
      message: { delta: -(2n ** 63n), pair: [1n, 255n], grid: [[-1n, 2n], [32767n, -32768n]], blob: '0xdeadBEEF', tag: '0x01020304', flags: [true, false] },
    } as unknown as Doc;
    const decoded = decode(doc);
    expect(bytesToHex(decoded.digest)).toBe(hashTypedData(doc));
    expect(decoded.typedData.message.blob).toBe('0xdeadbeef');
    expect(decoded.effects.chainId).toBeUndefined();
  });

  test('types the primary type does not use are accepted and do not change the digest', () => {
    const doc = eip2612();
    doc.types.Unused = [{ name: 'x', type: 'uint256' }];
    expect(bytesToHex(decode(doc).digest)).toBe(hashTypedData(eip2612()));
  });
});

describe('effects', () => {
  test('domain fields as strings, primary type and chain id', () => {
    const { effects } = decode(eip2612());
    expect(effects.chain).toBe('evm');
    expect(effects.chainId).toBe(1n);
    expect(effects.maxFee).toBe(0n);
    expect(effects.message).toEqual({
      kind: 'eip712',
      domain: { name: 'USD Coin', version: '2', chainId: '1', verifyingContract: TOKEN.toLowerCase() },
      primaryType: 'Permit',
    });
  });

  test('EIP-2612 Permit is a permit grant of the verifying contract\'s token', () => {
    const { effects } = decode(eip2612());
    expect(effects.flags).toEqual([]);
    expect(effects.grants).toEqual([
      {
        kind: 'permit',
        asset: `erc20:${TOKEN.toLowerCase()}`,
        spender: SPENDER,
        amount: 1_000_000n,
        unlimited: false,
        source: 'EIP-2612 Permit',
      },
    ]);
  });

  test('EIP-2612: values from 2^255 are unlimited; the deadline bounds the signature, not the allowance, which never expires', () => {
    const max = decode(eip2612({ value: MAX_UINT256, deadline: MAX_UINT256 })).effects.grants[0];
    expect(max).toMatchObject({ amount: MAX_UINT256, unlimited: true });
    expect(max?.expiry).toBeUndefined();
    expect(decode(eip2612({ value: 2n ** 255n })).effects.grants[0]?.unlimited).toBe(true);
    const soon = decode(eip2612({ value: 2n ** 255n - 1n, deadline: 1n })).effects.grants[0];
    expect(soon).toMatchObject({ unlimited: false });
    expect(soon?.expiry).toBeUndefined();
  });

  test('a permit without verifyingContract names no token: asset unknown', () => {
    const json = mutated(eip2612(), (d) => {
      d.types.EIP712Domain = d.types.EIP712Domain.slice(0, 3);
      delete d.domain.verifyingContract;
    });
    expect(decodeEip712(json).effects.grants[0]?.asset).toBe('unknown');
  });

  test('DAI permit: allowed is an unlimited grant, not allowed a revoke; its expiry bounds only the signature', () => {
    expect(decode(daiPermit(true)).effects.grants).toEqual([
      {
        kind: 'permit',
        asset: `erc20:${TOKEN2.toLowerCase()}`,
        spender: SPENDER,
        amount: null,
        unlimited: true,
        source: 'DAI Permit',
      },
    ]);
    const revoke = decode(daiPermit(false, 0n)).effects.grants[0];
    expect(revoke).toEqual({ kind: 'permit', asset: `erc20:${TOKEN2.toLowerCase()}`, spender: SPENDER, amount: 0n, unlimited: false, revoke: true, source: 'DAI Permit' });
  });

  test('Permit2 PermitSingle: the allowance lasts until expiration, even past sigDeadline', () => {
    expect(decode(permitSingle({ expiration: 1_900_000_000n }, 1_800_000_000n)).effects.grants).toEqual([
      {
        kind: 'permit2',
        asset: `erc20:${TOKEN.toLowerCase()}`,
        spender: SPENDER,
        amount: 5_000_000n,
        unlimited: false,
        expiry: 1_900_000_000n,
        source: 'Permit2 PermitSingle',
      },
    ]);
  });

  test('Permit2 PermitSingle: expiration 0 (block.timestamp) expires at sigDeadline; 2^160-1 is unlimited', () => {
    const grant = decode(permitSingle({ expiration: 0n, amount: MAX_UINT160 }, 1_700_000_000n)).effects.grants[0];
    expect(grant).toMatchObject({ expiry: 1_700_000_000n, unlimited: true, amount: MAX_UINT160 });
    const forever = decode(permitSingle({ expiration: 0n }, MAX_UINT256)).effects.grants[0];
    expect(forever?.expiry).toBeUndefined();
  });

  test('Permit2 PermitBatch: one grant per token', () => {
    const { grants, flags } = decode(permitBatch()).effects;
    expect(flags).toEqual([]);
    expect(grants).toEqual([
      { kind: 'permit2', asset: `erc20:${TOKEN.toLowerCase()}`, spender: SPENDER, amount: MAX_UINT160, unlimited: true, expiry: 1_800_000_000n, source: 'Permit2 PermitBatch details[0]' },
      { kind: 'permit2', asset: `erc20:${TOKEN2.toLowerCase()}`, spender: SPENDER, amount: 7n, unlimited: false, expiry: 1_950_000_000n, source: 'Permit2 PermitBatch details[1]' },
    ]);
  });

  test('Permit2 signature transfers: a one-shot allowance until the deadline, per token', () => {
    expect(decode(permitTransferFrom()).effects.grants).toEqual([
      { kind: 'permit2', asset: `erc20:${TOKEN.toLowerCase()}`, spender: SPENDER, amount: 250n, unlimited: false, expiry: 1_800_000_000n, source: 'Permit2 PermitTransferFrom' },
    ]);
    expect(decode(permitBatchTransferFrom()).effects.grants).toEqual([
      { kind: 'permit2', asset: `erc20:${TOKEN.toLowerCase()}`, spender: SPENDER, amount: 1n, unlimited: false, expiry: 1_800_000_000n, source: 'Permit2 PermitBatchTransferFrom permitted[0]' },
      { kind: 'permit2', asset: `erc20:${TOKEN2.toLowerCase()}`, spender: SPENDER, amount: MAX_UINT256, unlimited: true, expiry: 1_800_000_000n, source: 'Permit2 PermitBatchTransferFrom permitted[1]' },
    ]);
  });

  test('Permit2 witness transfers: the same grants, the witness named in the source', () => {
    expect(decode(permitWitnessTransferFrom()).effects.grants).toEqual([
      {
        kind: 'permit2',
        asset: `erc20:${TOKEN.toLowerCase()}`,
        spender: SPENDER,
        amount: 10n ** 18n,
        unlimited: false,
        expiry: 1_800_000_000n,
        source: 'Permit2 PermitWitnessTransferFrom (witness ExampleWitness witness)',
      },
    ]);
    const batch = decode(permitBatchWitnessTransferFrom()).effects.grants;
    expect(batch.map((g) => [g.asset, g.amount, g.source])).toEqual([
      [`erc20:${TOKEN.toLowerCase()}`, 3n, 'Permit2 PermitBatchWitnessTransferFrom permitted[0] (witness Order order)'],
      [`erc20:${TOKEN2.toLowerCase()}`, 4n, 'Permit2 PermitBatchWitnessTransferFrom permitted[1] (witness Order order)'],
    ]);
  });

  test('a Permit2-shaped message for another contract is still a grant, and says so', () => {
    const other = '0x0000000000225e31D15943971F47aD3022F714Fa';
    const { grants, flags } = decode(permitSingle({}, 1_800_000_000n, { name: 'Permit2', chainId: 324n, verifyingContract: other })).effects;
    expect(flags).toEqual([]);
    expect(grants[0]).toMatchObject({ kind: 'permit2', asset: `erc20:${TOKEN.toLowerCase()}`, spender: SPENDER });
    expect(grants[0]?.source).toBe(`Permit2 PermitSingle (not the canonical Permit2 domain: name "Permit2", verifyingContract ${other.toLowerCase()})`);
  });

  test('a Permit with another structure is unknown typed data, not a permit', () => {
    const reordered = eip2612();
    reordered.types.Permit = [...(reordered.types.Permit ?? [])].reverse();
    const renamed = mutated(eip2612(), (d) => {
      d.types.Permit[2].name = 'amount';
      d.message.amount = d.message.value;
      delete d.message.value;
    });
    const extra = mutated(eip2612(), (d) => {
      d.types.Permit.push({ name: 'memo', type: 'string' });
      d.message.memo = 'hi';
    });
    for (const json of [toJson(reordered), renamed, extra]) {
      const { effects } = decodeEip712(json);
      expect(effects.grants).toEqual([]);
      expect(effects.flags).toEqual(['UNKNOWN_TYPED_DATA']);
    }
  });

  test('Permit2 messages whose nested types differ are unknown typed data', () => {
    const wideAmount = mutated(permitSingle(), (d) => {
      d.types.PermitDetails[1].type = 'uint256';
    });
    const renamedTransfer = mutated(permitTransferFrom(), (d) => {
      d.types.TokenPermissions[0].name = 'asset';
      d.message.permitted = { asset: d.message.permitted.token, amount: d.message.permitted.amount };
    });
    const twoWitnesses = mutated(permitWitnessTransferFrom(), (d) => {
      d.types.PermitWitnessTransferFrom.push({ name: 'extra', type: 'uint256' });
      d.message.extra = '1';
    });
    for (const json of [wideAmount, renamedTransfer, twoWitnesses]) {
      expect(decodeEip712(json).effects.flags).toEqual(['UNKNOWN_TYPED_DATA']);
    }
  });

  test('unknown typed data (the Mail example) is flagged', () => {
    const { effects } = decode(mail());
    expect(effects.flags).toEqual(['UNKNOWN_TYPED_DATA']);
    expect(effects.grants).toEqual([]);
    expect(effects.message?.primaryType).toBe('Mail');
  });
});

describe('refusals name the field', () => {
  const permit = eip2612();
  test.each<[string, () => string, string]>([
    ['an unknown type', () => mutated(permit, (d) => (d.types.Permit[2].type = 'uint257')), 'types.Permit[2].type'],
    ['an undefined struct', () => mutated(permit, (d) => (d.types.Permit[2].type = 'Amount')), 'types.Permit[2].type'],
    ['the alias uint', () => mutated(permit, (d) => (d.types.Permit[2].type = 'uint')), 'types.Permit[2].type'],
    ['a malformed array type', () => mutated(permit, (d) => (d.types.Permit[2].type = 'uint256[0]')), 'types.Permit[2].type'],
    ['EIP712Domain as a member type', () => mutated(permit, (d) => (d.types.Permit[2].type = 'EIP712Domain')), 'types.Permit[2].type'],
    ['a struct named like a Solidity type', () => mutated(permit, (d) => (d.types.uint7 = [])), 'types.uint7'],
    ['a field with an extra key', () => mutated(permit, (d) => (d.types.Permit[1].indexed = true)), 'types.Permit[1].indexed'],
    ['a field name that is not an identifier', () => mutated(permit, (d) => (d.types.Permit[1].name = 'spender,address x')), 'types.Permit[1].name'],
    ['a duplicate field name', () => mutated(permit, (d) => (d.types.Permit[1].name = 'owner')), 'types.Permit[1].name'],
    ['a non-standard domain field', () => mutated(permit, (d) => d.types.EIP712Domain.push({ name: 'extra', type: 'string' })), 'types.EIP712Domain[4].name'],
    ['a domain field of the wrong type', () => mutated(permit, (d) => (d.types.EIP712Domain[2].type = 'string')), 'types.EIP712Domain[2].type'],
    ['uint8 of 300', () => mutated(mail(), (d) => {
      d.types.Mail.push({ name: 'n', type: 'uint8' });
      d.message.n = 300;
    }), 'message.n'],
    ['int8 below its range', () => mutated(mail(), (d) => {
      d.types.Mail.push({ name: 'n', type: 'int8' });
      d.message.n = '-129';
    }), 'message.n'],
    ['a negative uint', () => mutated(permit, (d) => (d.message.value = '-1')), 'message.value'],
    ['a uint above 2^256-1', () => mutated(permit, (d) => (d.message.value = (2n ** 256n).toString())), 'message.value'],
    ['a non-numeric string for an int', () => mutated(permit, (d) => (d.message.value = '12abc')), 'message.value'],
    ['a decimal with leading zeros', () => mutated(permit, (d) => (d.message.value = '0100')), 'message.value'],
    ['an exponent string', () => mutated(permit, (d) => (d.message.value = '1e6')), 'message.value'],
    ['an empty 0x', () => mutated(permit, (d) => (d.message.value = '0x')), 'message.value'],
    ['a fractional JSON number', () => toJson(permit).replace('"value":"1000000"', '"value":1.5'), 'message.value'],
    ['an exponent JSON number', () => toJson(permit).replace('"value":"1000000"', '"value":1e6'), 'message.value'],
    ['a boolean for an int', () => mutated(permit, (d) => (d.message.value = true)), 'message.value'],
    ['an address of 19 bytes', () => mutated(permit, (d) => (d.message.spender = `0x${'22'.repeat(19)}`)), 'message.spender'],
    ['an address with a wrong checksum', () => mutated(permit, (d) => (d.message.spender = '0xA0B86991c6218b36c1d19D4a2e9Eb0cE3606eB48')), 'message.spender'],
    ['an address without 0x', () => mutated(permit, (d) => (d.message.spender = '22'.repeat(20))), 'message.spender'],
    ['a missing message field', () => mutated(permit, (d) => delete d.message.deadline), 'message.deadline'],
    ['an extra message field', () => mutated(permit, (d) => (d.message.memo = 'not signed')), 'message.memo'],
    ['an extra nested field', () => mutated(mail(), (d) => (d.message.from.email = 'cow@example.com')), 'message.from.email'],
    ['a bad nested address', () => mutated(mail(), (d) => (d.message.to.wallet = '0x1234')), 'message.to.wallet'],
    ['a string for a struct', () => mutated(mail(), (d) => (d.message.from = 'Cow')), 'message.from'],
    ['a bytes32 of 31 bytes', () => mutated(permitBatchWitnessTransferFrom(), (d) => (d.message.order.ref = `0x${'ab'.repeat(31)}`)), 'message.order.ref'],
    ['bytes of an odd length', () => mutated(mail(), (d) => {
      d.types.Mail.push({ name: 'b', type: 'bytes' });
      d.message.b = '0xabc';
    }), 'message.b'],
    ['a string for a bool', () => mutated(daiPermit(true), (d) => (d.message.allowed = 'true')), 'message.allowed'],
    ['a number for a string', () => mutated(mail(), (d) => (d.message.contents = 5)), 'message.contents'],
    ['a fixed array of the wrong length', () => mutated(mail(), (d) => {
      d.types.Mail.push({ name: 'pair', type: 'uint8[2]' });
      d.message.pair = [1, 2, 3];
    }), 'message.pair'],
    ['a bad array element', () => mutated(permitBatch(), (d) => (d.message.details[1].token = 'nope')), 'message.details[1].token'],
    ['a missing domain field', () => mutated(permit, (d) => delete d.domain.chainId), 'domain.chainId'],
    ['an undeclared domain field', () => mutated(permit, (d) => (d.domain.salt = `0x${'00'.repeat(32)}`)), 'domain.salt'],
    ['a non-standard inferred domain field', () => mutated(permit, (d) => {
      delete d.types.EIP712Domain;
      d.domain.foo = 'bar';
    }), 'domain.foo'],
    ['a negative chain id', () => mutated(permit, (d) => (d.domain.chainId = '-1')), 'domain.chainId'],
    ['cyclic types', () => mutated(mail(), (d) => d.types.Person.push({ name: 'friends', type: 'Mail[]' })), 'types.Person'],
    ['a self-referencing type', () => mutated(mail(), (d) => d.types.Person.push({ name: 'parent', type: 'Person[]' })), 'types.Person'],
    ['primaryType EIP712Domain', () => mutated(permit, (d) => (d.primaryType = 'EIP712Domain')), 'primaryType'],
    ['an undefined primaryType', () => mutated(permit, (d) => (d.primaryType = 'Transfer')), 'primaryType'],
    ['a missing top-level key', () => mutated(permit, (d) => delete d.domain), 'domain'],
    ['an extra top-level key', () => mutated(permit, (d) => (d.signature = '0x')), 'signature'],
    ['types that are not an object', () => mutated(permit, (d) => (d.types = [])), 'types'],
    ['a lone surrogate in a string', () => toJson(mail()).replace('Hello, Bob!', 'Hello, \\ud800!'), 'message.contents'],
    ['a duplicate JSON key', () => toJson(permit).replace('"value":"1000000"', '"value":"1","value":"1000000"'), 'json'],
    ['trailing characters', () => `${toJson(permit)} x`, 'json'],
    ['a JSON syntax error', () => toJson(permit).slice(0, -1), 'json'],
    ['a JSON array', () => '[]', 'json'],
    ['too deep a nesting', () => `${'['.repeat(100)}${']'.repeat(100)}`, 'json'],
  ])('%s', (_name, json, field) => {
    expect(refusal(json())).toEqual({ reason: 'WAIAAS_TYPED_DATA_INVALID', field });
  });

  test('documents over 64 KiB are refused, up to 64 KiB are read', () => {
    const padded = (size: number): string => {
      const base = toJson(mail()).replace('"Hello, Bob!"', '""');
      return base.replace('"contents":""', `"contents":"${'x'.repeat(size - base.length)}"`);
    };
    expect(padded(EIP712_MAX_JSON_BYTES)).toHaveLength(EIP712_MAX_JSON_BYTES);
    expect(decodeEip712(padded(EIP712_MAX_JSON_BYTES)).effects.flags).toEqual(['UNKNOWN_TYPED_DATA']);
    expect(refusal(padded(EIP712_MAX_JSON_BYTES + 1))).toEqual({ reason: 'WAIAAS_TYPED_DATA_INVALID', field: 'json' });
    // Multi-byte characters count in UTF-8 bytes.
    const wide = toJson(mail()).replace('Hello, Bob!', 'é'.repeat(EIP712_MAX_JSON_BYTES / 2));
    expect(refusal(wide).field).toBe('json');
  });

  test('a non-string input is refused', () => {
    expect(refusal(undefined as unknown as string).field).toBe('json');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Fuzzing: mutated documents never escape as anything but WAIAAS_TYPED_DATA_INVALID, and whatever decodes hashes
// (with viem) to exactly the digest the decoder returned.

/** mulberry32: a tiny deterministic PRNG, so a failure reproduces. */
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

const JUNK_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e30, '', '0', '-0', '0x', '0x00', '0xzz', '-1', '300', '1e3', ' 1', 'abc', '\ud800',
  `0x${'ff'.repeat(20)}`, `0x${'ab'.repeat(32)}`, `0x${'ab'.repeat(33)}`, (2n ** 256n).toString(), (2n ** 255n).toString(),
  '0x000000000022D473030F116dDEE9F6B43aC78BA3', [], [1, 2], [[]], {}, { a: 1 }, { name: 'x', type: 'uint256' },
];
const JUNK_TYPES = [
  'uint256', 'uint8', 'int8', 'uint', 'uint0', 'uint257', 'bytes', 'bytes0', 'bytes32', 'bytes33', 'string', 'bool', 'address',
  'Person', 'Person[]', 'Person[2]', 'Mail', 'TokenPermissions', 'PermitDetails[]', 'EIP712Domain', 'uint8[2][]', 'uint8[]]',
  'uint8[01]', '', ' ', 'address[', 'Unknown', 'function',
];
const JUNK_KEYS = ['__proto__', 'constructor', 'extra', '', 'name', 'type', 'value', 'token', 'EIP712Domain', 'x y'];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)] as T;
}

/** A fresh copy of a junk value, so that later mutations never share (or cycle through) one object. */
function junk(rand: () => number): unknown {
  return structuredClone(pick(rand, JUNK_VALUES));
}

/** Every container (object or array) inside `node`, with itself. */
function containers(node: unknown, out: (Record<string, unknown> | unknown[])[] = []): (Record<string, unknown> | unknown[])[] {
  if (node !== null && typeof node === 'object') {
    out.push(node as Record<string, unknown>);
    for (const child of Object.values(node)) containers(child, out);
  }
  return out;
}

function mutateDocument(rand: () => number, doc: any): void {
  const steps = 1 + Math.floor(rand() * 3);
  for (let s = 0; s < steps; s++) {
    const all = containers(doc);
    const target = pick(rand, all);
    const keys = Object.keys(target);
    const key = keys.length > 0 ? pick(rand, keys) : undefined;
    const op = Math.floor(rand() * 6);
    if (Array.isArray(target)) {
      if (op === 0 || key === undefined) target.push(junk(rand));
      else if (op === 1) target.splice(Number(key), 1);
      else target[Number(key)] = junk(rand);
    } else if (key === undefined || op === 0) {
      Object.defineProperty(target, pick(rand, JUNK_KEYS), { value: junk(rand), enumerable: true, writable: true, configurable: true });
    } else if (op === 1) {
      delete target[key];
    } else if (op === 2) {
      // rename a key
      const value = target[key];
      delete target[key];
      Object.defineProperty(target, pick(rand, JUNK_KEYS), { value, enumerable: true, writable: true, configurable: true });
    } else if (op === 3 && key === 'type') {
      target[key] = pick(rand, JUNK_TYPES);
    } else if (op === 3) {
      doc.primaryType = pick(rand, [...Object.keys(doc.types ?? {}), 'EIP712Domain', 'Nope']);
    } else {
      target[key] = junk(rand);
    }
  }
}

function mutateText(rand: () => number, json: string): string {
  const at = Math.floor(rand() * json.length);
  switch (Math.floor(rand() * 4)) {
    case 0:
      return json.slice(0, at);
    case 1:
      return json.slice(0, at) + pick(rand, ['{', '}', '[', ']', ',', ':', '"', '\\', '0', '-', 'e', ' ', '\u0000', 'null']) + json.slice(at);
    case 2:
      return json.slice(0, at) + json.slice(at + 1 + Math.floor(rand() * 8));
    default:
      return json.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + json.slice(at + 1);
  }
}

describe('fuzzing', () => {
  test('2000 mutated documents: only WAIAAS_TYPED_DATA_INVALID, and every accepted one hashes as returned', () => {
    const rand = prng(0x712);
    const fixtures = Object.values(FIXTURES);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const base = pick(rand, fixtures)();
      let json: string;
      if (rand() < 0.7) {
        const doc = JSON.parse(toJson(base));
        mutateDocument(rand, doc);
        json = JSON.stringify(doc);
      } else {
        json = mutateText(rand, toJson(base));
      }
      let decoded: DecodedEip712;
      try {
        decoded = decodeEip712(json);
      } catch (e) {
        if (isWaiaasError(e, 'WAIAAS_TYPED_DATA_INVALID') && typeof e.metadata.field === 'string') continue;
        throw new Error(`unexpected error for ${json}: ${String(e)}`, { cause: e });
      }
      accepted++;
      const { typedData } = decoded;
      expect(bytesToHex(decoded.digest)).toBe(hashTypedData(typedData as unknown as Parameters<typeof hashTypedData>[0]));
      // Either typed grants or the unknown flag, never both and never neither.
      expect(decoded.effects.grants.length > 0).toBe(!decoded.effects.flags.includes('UNKNOWN_TYPED_DATA'));
    }
    // Some mutations are harmless (a value replaced by one that fits): the accepted path is exercised too.
    expect(accepted).toBeGreaterThan(20);
  });

  test('random strings never throw anything but WAIAAS_TYPED_DATA_INVALID', () => {
    const rand = prng(42);
    const alphabet = '{}[]":,0123456789-+.eE truefalsn\\u"abcdef';
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(rand() * 64);
      let s = '';
      for (let j = 0; j < length; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
      expect(() => decodeEip712(s)).toThrow();
      try {
        decodeEip712(s);
      } catch (e) {
        expect(isWaiaasError(e, 'WAIAAS_TYPED_DATA_INVALID')).toBe(true);
      }
    }
  });
});
