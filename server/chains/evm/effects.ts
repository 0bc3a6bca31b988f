/**
 * Effects of a decoded EVM transaction for the policy engine: flags for contract creation and EIP-7702 delegation, a
 * code_delegation grant per EIP-7702 authorization, what the top-level call does (calls.ts: native value, token
 * transfers and approvals, unwrapped multicalls, undecoded calls) and the worst-case fee.
 */
import { bytesToHex } from 'viem';
import { WaiaasError } from '../../errors/error.ts';
import { emptyEffects, type Effects, type Grant } from '../../policy/effects.ts';
import { decodeCallEffects } from './calls.ts';
import type { DecodedEvmTransaction, RlpItem } from './transaction.ts';

const ZERO_ADDRESS = `0x${'00'.repeat(20)}`;

/** Index of the authorization list in an EIP-7702 transaction's RLP fields. */
const AUTHORIZATION_LIST_FIELD = 9;

/**
 * One grant per authorization tuple, read from the RLP fields exactly as signed (decodeEvmTransaction has checked
 * their shape). A tuple may be signed by any account, not only by the wallet; the decoder does not know the wallet's
 * address, so every tuple is reported as a delegation of the wallet's code: the conservative reading. Delegating to
 * the zero address clears a delegation (EIP-7702), which is a revoke.
 */
function authorizationGrants(tx: DecodedEvmTransaction): Grant[] {
  const list = tx.rlpFields[AUTHORIZATION_LIST_FIELD];
  if (list === undefined || list instanceof Uint8Array) {
    throw new WaiaasError('WAIAAS_TX_MALFORMED', 'EIP-7702 transaction has no authorization list', { metadata: { field: 'authorizationList' } });
  }
  return list.map((tuple: RlpItem) => {
    const address = tuple instanceof Uint8Array ? undefined : tuple[1];
    if (!(address instanceof Uint8Array) || address.length !== 20) {
      throw new WaiaasError('WAIAAS_TX_MALFORMED', 'authorization has no 20-byte address', { metadata: { field: 'authorizationList' } });
    }
    const delegate = bytesToHex(address);
    return {
      kind: 'code_delegation',
      asset: 'native',
      spender: delegate,
      amount: null,
      unlimited: true,
      revoke: delegate === ZERO_ADDRESS,
      source: 'EIP-7702 authorization',
    };
  });
}

/**
 * What the transaction does. Contract creation is flagged and its value (if any) is an outflow to '', which spending
 * limits count and no allowlist can match; the init code is not a Call (the flag already demands an explicit rule).
 * Otherwise the call to `to` is decoded by decodeCallEffects. The fee is gas × (maxFeePerGas or gasPrice). Calldata
 * of a known function that does not decode throws WaiaasError('WAIAAS_TX_MALFORMED'), and nothing else is thrown.
 */
export function evmEffects(tx: DecodedEvmTransaction): Effects {
  const effects = emptyEffects('evm', tx.chainId);

  if (tx.type === 'eip7702') {
    effects.flags.push('EIP7702_AUTHORIZATION');
    // Authorizations are applied before the call runs, so their grants come first.
    effects.grants.push(...authorizationGrants(tx));
  }

  if (tx.to === null) {
    effects.flags.push('CONTRACT_CREATION');
    if (tx.value > 0n) {
      effects.outflows.push({ asset: 'native', amount: tx.value, recipient: '', recipientKind: 'owner', source: 'create' });
    }
  } else {
    const call = decodeCallEffects(tx.to, tx.data, tx.value, '');
    effects.outflows.push(...call.outflows);
    effects.grants.push(...call.grants);
    effects.calls.push(...call.calls);
  }

  const feePerGas = tx.maxFeePerGas ?? tx.gasPrice ?? 0n;
  effects.maxFee = tx.gas * feePerGas;
  return effects;
}
