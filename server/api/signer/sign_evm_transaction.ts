/** SignerService.SignEvmTransaction. */
import { create } from '@bufbuild/protobuf';
import { SignPayloadSchema } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { SignerService as Desc } from '../../../gen/waiaas/v1/signer_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { Signer } from '../../signer/signer.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { baseResponse } from './respond.ts';

/** The handler. */
export function signEvmTransaction(signer: Signer, wallets: WalletService): UnaryHandler<(typeof Desc)['method']['signEvmTransaction']> {
  return async (req, ctx) => {
    const payload = create(SignPayloadSchema, { payload: { case: 'evmTransaction', value: { unsignedTransaction: req.unsignedTransaction, chainId: req.chainId } } });
    const rec = await signer.submit({ walletId: req.walletId, payload, requestId: req.requestId, caller: ctx.identity.uri });
    const { common, result } = baseResponse(rec, wallets);
    const sig = result.signature;
    return {
      ...common,
      signedTransaction: result.signedTransaction,
      transactionHash: result.transactionHash,
      ...(sig && sig.length === 64 ? { signature: { r: sig.slice(0, 32), s: sig.slice(32), yParity: result.yParity ?? 0 } } : {}),
    };
  };
}
