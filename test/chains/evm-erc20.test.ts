// The decoder reads what the chain executes: ERC-20 approve / transfer / transferFrom / increase- and decreaseAllowance
// are decoded to effects, signed with a local key through the server's assemble path, executed against a real ERC-20
// in @ethereumjs/vm, and the balances and allowances that result are exactly what the effects said.
import { createAddressFromString } from '@ethereumjs/util';
import type { VM } from '@ethereumjs/vm';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { encodeFunctionData, erc20Abi, hexToBytes, parseAbi, type Hex } from 'viem';
import { beforeEach, describe, expect, test } from 'vitest';
import { isWaiaasError } from '../../server/errors/error.ts';
import {
  assembleEvmTransaction,
  decodeEvmTransaction,
  evmEffects,
  evmSigningDigest,
  type DecodedEvmTransaction,
} from '../../server/chains/evm/index.ts';
import {
  assembleEvm,
  callEvm,
  createEvm,
  deployErc20,
  erc20Allowance,
  erc20BalanceOf,
  ERC20_RUNTIME_BYTECODE,
  evmBalance,
  executeEvm,
  fundEvm,
  newEvmKey,
  unsignedEip1559,
  unsignedLegacy,
} from '../support/evm.ts';

const CHAIN = 31337n;
const ETH = 10n ** 18n;
const CAROL = '0xca201000000000000000000000000000000000c0';
const DAVE = '0xda7e000000000000000000000000000000000d0e';

type Key = ReturnType<typeof newEvmKey>;

/** The server's path: decode, sign the digest with the local key (low-s, as the HSM path normalizes), assemble. */
function sign(bytes: Uint8Array, key: Key): { tx: DecodedEvmTransaction; signed: Uint8Array } {
  const tx = decodeEvmTransaction(bytes, CHAIN);
  const sig = secp256k1.Signature.fromBytes(secp256k1.sign(evmSigningDigest(tx), key.secretKey, { prehash: false, format: 'recovered' }), 'recovered');
  const { signed } = assembleEvmTransaction(tx, {
    r: hexToBytes(`0x${sig.r.toString(16).padStart(64, '0')}`),
    s: hexToBytes(`0x${sig.s.toString(16).padStart(64, '0')}`),
    yParity: sig.recovery as 0 | 1,
  });
  return { tx, signed };
}

const call = (functionName: 'transfer' | 'transferFrom' | 'approve', args: readonly unknown[]): Hex =>
  encodeFunctionData({ abi: erc20Abi, functionName, args } as never);
const allowanceAbi = parseAbi(['function increaseAllowance(address spender, uint256 addedValue)', 'function decreaseAllowance(address spender, uint256 subtractedValue)']);

describe('ERC-20 executed in @ethereumjs/vm', () => {
  let vm: VM;
  let token: string;
  let owner: Key;
  let spender: Key;
  let ownerAddr: string;
  let spenderAddr: string;

  beforeEach(async () => {
    vm = await createEvm(CHAIN);
    owner = newEvmKey();
    spender = newEvmKey();
    ownerAddr = owner.address.toLowerCase();
    spenderAddr = spender.address.toLowerCase();
    token = await deployErc20(vm, { balances: { [owner.address]: 1_000n } });
    await fundEvm(vm, { [owner.address]: ETH, [spender.address]: ETH });
  });

  /** Signs `data` to the token as `key` with `nonce`, returns the effects, and executes it on the shared VM. */
  async function run(key: Key, nonce: number, data: Hex) {
    const { tx, signed } = sign(unsignedEip1559({ chainId: CHAIN, to: token, value: 0n, data, nonce, gas: 100_000n }), key);
    const effects = evmEffects(tx);
    const execution = await executeEvm({ signedTx: signed, chainId: CHAIN, vm });
    return { effects, execution };
  }

  test('the test token answers balanceOf and allowance, and deploying needs no transaction', async () => {
    expect(await erc20BalanceOf(vm, token, owner.address)).toBe(1_000n);
    expect(await erc20BalanceOf(vm, token, CAROL)).toBe(0n);
    expect(await erc20Allowance(vm, token, owner.address, spender.address)).toBe(0n);
    // Reading is a static call, rolled back: a state change fails and not even the caller's nonce moves.
    const account = async () => vm.stateManager.getAccount(createAddressFromString(ownerAddr));
    const before = (await account())?.nonce;
    await expect(callEvm(vm, token, call('approve', [CAROL, 1n]), ownerAddr)).rejects.toThrow(/static state change/);
    await callEvm(vm, token, encodeFunctionData({ abi: erc20Abi, functionName: 'balanceOf', args: [CAROL] }), ownerAddr);
    expect((await account())?.nonce).toBe(before);
    expect(await erc20Allowance(vm, token, owner.address, CAROL)).toBe(0n);
  });

  test('approve, transfer, then transferFrom by the spender: each effect is exactly what executes', async () => {
    const approve = await run(owner, 0, call('approve', [spender.address, 300n]));
    expect(approve.effects.grants).toEqual([
      { kind: 'token_approval', asset: `erc20:${token}`, spender: spenderAddr, amount: 300n, unlimited: false, revoke: false, source: 'ERC20.approve' },
    ]);
    expect(approve.effects.outflows).toEqual([]);
    expect(approve.execution.error).toBeUndefined();
    expect(approve.execution.sender).toBe(ownerAddr);
    expect(await erc20Allowance(vm, token, ownerAddr, spenderAddr)).toBe(300n);

    const transfer = await run(owner, 1, call('transfer', [CAROL, 100n]));
    expect(transfer.effects.outflows).toEqual([
      { asset: `erc20:${token}`, amount: 100n, recipient: CAROL, recipientKind: 'owner', source: 'ERC20.transfer' },
    ]);
    expect(transfer.execution.error).toBeUndefined();
    expect(await erc20BalanceOf(vm, token, ownerAddr)).toBe(900n);
    expect(await erc20BalanceOf(vm, token, CAROL)).toBe(100n);

    const pull = await run(spender, 0, call('transferFrom', [owner.address, DAVE, 250n]));
    expect(pull.effects.outflows).toEqual([
      { asset: `erc20:${token}`, amount: 250n, recipient: DAVE, recipientKind: 'owner', from: ownerAddr, source: 'ERC20.transferFrom' },
    ]);
    expect(pull.execution.error).toBeUndefined();
    expect(pull.execution.sender).toBe(spenderAddr);
    expect(await erc20BalanceOf(vm, token, ownerAddr)).toBe(650n);
    expect(await erc20BalanceOf(vm, token, DAVE)).toBe(250n);
    expect(await erc20BalanceOf(vm, token, spenderAddr)).toBe(0n);
    expect(await erc20Allowance(vm, token, ownerAddr, spenderAddr)).toBe(50n);

    // Beyond the allowance the token reverts: the grant's amount is the real bound.
    const over = await run(spender, 1, call('transferFrom', [owner.address, DAVE, 51n]));
    expect(over.effects.outflows[0]).toMatchObject({ amount: 51n, from: ownerAddr });
    expect(over.execution.ok).toBe(false);
    expect(await erc20BalanceOf(vm, token, DAVE)).toBe(250n);
  });

  test('increaseAllowance adds its amount and decreaseAllowance (a revoke) takes it away', async () => {
    await run(owner, 0, call('approve', [spender.address, 10n]));
    const up = await run(owner, 1, encodeFunctionData({ abi: allowanceAbi, functionName: 'increaseAllowance', args: [spender.address as Hex, 5n] }));
    expect(up.effects.grants).toEqual([
      { kind: 'token_approval', asset: `erc20:${token}`, spender: spenderAddr, amount: 5n, unlimited: false, revoke: false, source: 'ERC20.increaseAllowance' },
    ]);
    expect(up.execution.error).toBeUndefined();
    expect(await erc20Allowance(vm, token, ownerAddr, spenderAddr)).toBe(15n);
    const down = await run(owner, 2, encodeFunctionData({ abi: allowanceAbi, functionName: 'decreaseAllowance', args: [spender.address as Hex, 12n] }));
    expect(down.effects.grants[0]).toMatchObject({ amount: 12n, revoke: true, source: 'ERC20.decreaseAllowance' });
    expect(down.execution.error).toBeUndefined();
    expect(await erc20Allowance(vm, token, ownerAddr, spenderAddr)).toBe(3n);
  });

  test('an unlimited approve is flagged unlimited, and lets the spender take the whole balance', async () => {
    const max = 2n ** 256n - 1n;
    const approve = await run(owner, 0, call('approve', [spender.address, max]));
    expect(approve.effects.grants[0]).toMatchObject({ amount: max, unlimited: true, revoke: false });
    const pull = await run(spender, 0, call('transferFrom', [owner.address, spender.address, 1_000n]));
    expect(pull.execution.error).toBeUndefined();
    expect(await erc20BalanceOf(vm, token, spenderAddr)).toBe(1_000n);
  });

  test('the token executes calldata with trailing bytes or dirty address bits, which is why the decoder refuses it', async () => {
    const transfer = call('transfer', [CAROL, 7n]);
    const trailing = `${transfer}${'ee'.repeat(32)}` as Hex;
    const dirty = `${transfer.slice(0, 10)}ff${transfer.slice(12)}` as Hex;
    for (const [i, data] of [trailing, dirty].entries()) {
      const { tx, signed } = sign(unsignedLegacy({ chainId: CHAIN, to: token, value: 0n, data, nonce: i, gas: 100_000n }), owner);
      let refused = false;
      try {
        evmEffects(tx);
      } catch (e) {
        refused = isWaiaasError(e, 'WAIAAS_TX_MALFORMED');
      }
      expect(refused, data).toBe(true);
      // Signed anyway (bypassing the policy), the chain runs it.
      expect((await executeEvm({ signedTx: signed, chainId: CHAIN, vm })).error).toBeUndefined();
    }
    expect(await erc20BalanceOf(vm, token, CAROL)).toBe(14n);
  });

  test('executeEvm keeps its old fresh-VM behaviour when no vm is given, and fundEvm keeps a contract\'s code', async () => {
    await fundEvm(vm, { [token]: 5n });
    expect(await evmBalance(vm, token)).toBe(5n);
    expect(await erc20BalanceOf(vm, token, owner.address)).toBe(1_000n);
    const { signed } = sign(unsignedEip1559({ chainId: CHAIN, to: CAROL, value: 1n, nonce: 7 }), owner);
    const fresh = await executeEvm({ signedTx: signed, chainId: CHAIN, fund: { [owner.address]: ETH } });
    expect(fresh.error).toBeUndefined();
    expect(await fresh.balance(CAROL)).toBe(1n);
    expect(await evmBalance(vm, CAROL)).toBe(0n);
  });

  test('the assembler resolves labels, and the token bytecode contains every selector it dispatches', () => {
    expect(assembleEvm('label:a PUSH1 0x01 ref:a JUMP')).toBe('0x5b600161000056');
    for (const selector of ['a9059cbb', '23b872dd', '095ea7b3', '39509351', 'a457c2d7', '70a08231', 'dd62ed3e']) {
      expect(ERC20_RUNTIME_BYTECODE).toContain(`63${selector}`);
    }
  });
});
