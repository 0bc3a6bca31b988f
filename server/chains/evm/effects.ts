/**
 * Effects of a decoded EVM transaction for the policy engine: the native value it moves, the contract it calls, flags
 * for contract creation and EIP-7702 delegation, and the worst-case fee.
 */
import type { Call, Effects, Flag, Outflow } from '../../policy/effects.ts';
import type { DecodedEvmTransaction } from './transaction.ts';

/**
 * What the transaction does. A transfer with empty calldata is an outflow even when its value is zero; calldata is
 * always a call (plus an outflow for any value sent with it). Value sent with contract creation is an outflow to ''
 * so that spending limits still count it while no allowlist can match it.
 */
export function evmEffects(tx: DecodedEvmTransaction): Effects {
  const outflows: Outflow[] = [];
  const calls: Call[] = [];
  const flags: Flag[] = [];
  const hasData = tx.data.length > 2;

  if (tx.to === null) {
    flags.push('CONTRACT_CREATION');
    calls.push({ program: '', description: 'contract creation' });
    if (tx.value > 0n) outflows.push({ asset: 'native', amount: tx.value, recipient: '' });
  } else {
    const to = tx.to.toLowerCase();
    if (!hasData || tx.value > 0n) outflows.push({ asset: 'native', amount: tx.value, recipient: to });
    if (hasData) {
      // A selector needs 4 bytes: '0x' plus 8 hex digits.
      if (tx.data.length >= 10) {
        const selector = tx.data.slice(0, 10).toLowerCase();
        calls.push({ program: to, discriminator: selector, description: `call ${selector}` });
      } else {
        calls.push({ program: to, description: 'call without selector' });
      }
    }
  }
  if (tx.type === 'eip7702') flags.push('EIP7702_AUTHORIZATION');

  const feePerGas = tx.maxFeePerGas ?? tx.gasPrice ?? 0n;
  return { chain: 'evm', chainId: tx.chainId, outflows, calls, flags, maxFee: tx.gas * feePerGas };
}
