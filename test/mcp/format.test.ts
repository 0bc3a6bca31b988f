/**
 * Unit tests of what the MCP server shows a model: amounts with decimals, effect summaries, and the identity check
 * of a certificate (on the dev CA's certificates).
 */
import { create } from '@bufbuild/protobuf';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EffectsSchema } from '../../gen/waiaas/v1/effects_pb.js';
import { certificateIdentity, ConfigError, configFromEnv, DEFAULT_ADDRESS } from '../../clients/mcp/lib/config.ts';
import { formatUnits, summarizeEffects } from '../../clients/mcp/lib/format.ts';
import { removeState, startServer, type TestServer } from '../support/server.ts';

describe('formatting for a model', () => {
  test('formatUnits writes base units as a decimal number', () => {
    expect(formatUnits('100000000000000000', 18)).toBe('0.1');
    expect(formatUnits('1', 18)).toBe('0.000000000000000001');
    expect(formatUnits('1500000000', 9)).toBe('1.5');
    expect(formatUnits('2000000', 6)).toBe('2');
    expect(formatUnits('0', 9)).toBe('0');
    expect(formatUnits('42', 0)).toBe('42');
  });

  test('effects become one readable line each, native amounts also in ETH / SOL', () => {
    const evm = create(EffectsSchema, {
      chain: 'evm',
      chainId: 8453n,
      outflows: [
        { asset: 'native', amount: '1000000000000000000', decimals: -1, recipient: '0xaa', recipientKind: 'owner', source: 'value' },
        { asset: 'erc20:0xbb', amount: '2500000', decimals: 6, recipient: '0xcc', recipientKind: 'owner', source: 'ERC20.transfer' },
        { asset: 'erc20:0xbb', amount: '7', decimals: -1, recipient: '0xcc', recipientKind: 'owner', from: '0xdd', source: 'ERC20.transferFrom' },
      ],
      grants: [{ kind: 'token_approval', asset: 'erc20:0xbb', spender: '0xee', unlimited: true, source: 'ERC20.approve' }],
      calls: [{ program: '0xff', discriminator: 'deadbeef', value: '0', description: '' }],
      flags: ['CONTRACT_CREATION'],
      maxFee: '42000000000000',
    });
    expect(summarizeEffects(evm)).toEqual([
      'send 1000000000000000000 native (1 ETH) to 0xaa [value]',
      'send 2500000 erc20:0xbb (6 decimals: 2.5) to 0xcc [ERC20.transfer]',
      'send 7 erc20:0xbb (base units) to 0xcc from 0xdd [ERC20.transferFrom]',
      'grant token_approval on erc20:0xbb to 0xee: UNLIMITED [ERC20.approve]',
      'call 0xff (selector/discriminator deadbeef)',
      'flag CONTRACT_CREATION',
      'network fee up to 42000000000000 native (0.000042 ETH)',
      'EVM chain id 8453',
    ]);
    const sol = create(EffectsSchema, {
      chain: 'solana',
      outflows: [{ asset: 'native', amount: '1500000000', decimals: -1, recipient: 'Abc', recipientKind: 'owner', source: 'System.Transfer' }],
      message: { kind: 'solana_offchain', text: 'hello\nworld' },
      maxFee: '5000',
    });
    expect(summarizeEffects(sol)).toEqual([
      'send 1500000000 native (1.5 SOL) to Abc [System.Transfer]',
      'sign solana_offchain message: "hello\\nworld"',
      'network fee up to 5000 native (0.000005 SOL)',
    ]);
    expect(summarizeEffects(undefined)).toEqual([]);
  });
});

describe('configuration', () => {
  test('the environment gives paths and an address; what is missing is named', () => {
    expect(() => configFromEnv({})).toThrow(ConfigError);
    expect(() => configFromEnv({ WAIAAS_CA: 'ca.pem', WAIAAS_CERT: 'a.pem' })).toThrow('WAIAAS_KEY is not set');
    const c = configFromEnv({ WAIAAS_CA: 'ca.pem', WAIAAS_CERT: 'a.pem', WAIAAS_KEY: 'a.key' });
    expect(c.address).toBe(DEFAULT_ADDRESS);
    expect(c.cert).toMatch(/^\/.*a\.pem$/);
    expect(() => configFromEnv({ WAIAAS_ADDRESS: 'not an address', WAIAAS_CA: 'ca.pem', WAIAAS_CERT: 'a.pem', WAIAAS_KEY: 'a.key' })).toThrow('host:port');
  });
});

describe('certificate identity', () => {
  let server: TestServer;
  beforeAll(async () => {
    // The dev state's CA and certificates are made by the server on first start.
    server = await startServer({ dir: await mkdtemp(join(tmpdir(), 'waiaas-mcp-pki-')) });
  });
  afterAll(async () => {
    if (server) {
      await server.stop();
      await removeState(server.dir);
    }
  });

  test('reads the role and name from the SAN URI of each dev certificate', async () => {
    for (const role of ['agent', 'owner', 'admin'] as const) {
      const id = certificateIdentity(await readFile(join(server.dir, `${role}.pem`)));
      expect(id.role).toBe(role);
      expect(id.uri).toBe(`spiffe://waiaas/${role}/dev-${role}`);
      expect(id.validTo.getTime()).toBeGreaterThan(Date.now());
    }
  });

  test('a certificate without an identity URI, or not a certificate at all, is refused', async () => {
    expect(() => certificateIdentity(Buffer.from('not a certificate'))).toThrow(ConfigError);
    // The CA certificate carries no spiffe://waiaas/ URI.
    expect(() => certificateIdentity(readFileSync(join(server.dir, 'ca.pem'), 'utf8'))).toThrow(/exactly one spiffe:\/\/waiaas\/<role>\/<name> URI/);
  });
});
