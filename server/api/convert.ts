/**
 * Conversions between stored records and API messages, shared by the handlers.
 */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Chain, KeyAlgorithm, type WalletSchema } from '../../gen/waiaas/v1/wallet_pb.js';
import type { PolicySchema } from '../../gen/waiaas/v1/policy_pb.js';
import { WaiaasError } from '../errors/error.ts';
import type { Policy } from '../policy/document.ts';
import type { StoredChain, WalletRecord } from '../store/store.ts';

/** API chain → stored chain; CHAIN_UNSPECIFIED and unknown values are INVALID_ARGUMENT naming `field`. */
export function chainFromProto(chain: Chain, field = 'chain'): StoredChain {
  if (chain === Chain.SOLANA) return 'solana';
  if (chain === Chain.EVM) return 'evm';
  throw new WaiaasError('WAIAAS_INVALID_ARGUMENT', `${field} must be CHAIN_SOLANA or CHAIN_EVM`, { metadata: { field } });
}

/** Stored chain → API chain. */
export function chainToProto(chain: StoredChain): Chain {
  return chain === 'solana' ? Chain.SOLANA : Chain.EVM;
}

/** A stored wallet as the API's Wallet message. */
export function walletToProto(w: WalletRecord): MessageInitShape<typeof WalletSchema> {
  return {
    walletId: w.walletId,
    chain: chainToProto(w.chain),
    address: w.address,
    key: {
      keyId: Buffer.from(w.keyId).toString('hex'),
      algorithm: w.algorithm === 'ed25519' ? KeyAlgorithm.ED25519 : KeyAlgorithm.SECP256K1,
      publicKey: w.publicKey,
      tokenLabel: w.tokenLabel,
    },
    labels: w.labels,
    createTime: timestampFromDate(new Date(w.createTime)),
  };
}

/** A policy as the API's Policy message. */
export function policyToProto(p: Policy): MessageInitShape<typeof PolicySchema> {
  return {
    version: BigInt(p.version),
    allowedRecipients: p.document.allowedRecipients,
    maxNativePerTransaction: p.document.maxNativePerTransaction?.toString() ?? '',
    policyHash: p.hash,
  };
}
