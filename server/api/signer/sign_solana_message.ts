/** SignerService.SignSolanaMessage (off-chain message format or text). */
import { create } from '@bufbuild/protobuf';
import { SignPayloadSchema } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { SignerService as Desc } from '../../../gen/waiaas/v1/signer_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { Signer } from '../../signer/signer.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { baseResponse } from './respond.ts';

/** The handler. */
export function signSolanaMessage(signer: Signer, wallets: WalletService): UnaryHandler<(typeof Desc)['method']['signSolanaMessage']> {
  return async (req, ctx) => {
    const payload = create(SignPayloadSchema, { payload: { case: 'solanaMessage', value: req.message } });
    const rec = await signer.submit({ walletId: req.walletId, payload, requestId: req.requestId, caller: ctx.identity.uri });
    const { common, result } = baseResponse(rec, wallets);
    return { ...common, signature: result.signature, signedMessage: result.signedMessage };
  };
}
