/** SignerService.SignSolanaTransaction. */
import { create } from '@bufbuild/protobuf';
import { SignPayloadSchema } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { SignerService as Desc } from '../../../gen/waiaas/v1/signer_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { Signer } from '../../signer/signer.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { baseResponse } from './respond.ts';

/** The handler. */
export function signSolanaTransaction(signer: Signer, wallets: WalletService): UnaryHandler<(typeof Desc)['method']['signSolanaTransaction']> {
  return async (req, ctx) => {
    const payload = create(SignPayloadSchema, { payload: { case: 'solanaTransaction', value: req.transaction } });
    const rec = await signer.submit({ walletId: req.walletId, payload, requestId: req.requestId, caller: ctx.identity.uri });
    const { common, result } = baseResponse(rec, wallets);
    return { ...common, signedTransaction: result.signedTransaction, signature: result.signature };
  };
}
