/** SignerService.SignSolanaTransaction. */
import type { SignerService as SignerServiceDesc } from '../../../gen/waiaas/v1/signer_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { Signer } from '../../signer/signer.ts';

/** The handler, bound to the signer. */
export function signSolanaTransaction(signer: Signer): UnaryHandler<(typeof SignerServiceDesc)['method']['signSolanaTransaction']> {
  return (req, ctx) =>
    signer.signSolanaTransaction({ walletId: req.walletId, transaction: req.transaction, requestId: req.requestId, caller: ctx.identity.uri });
}
