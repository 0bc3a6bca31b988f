/** SignerService.SignEvmTransaction. */
import type { SignerService as SignerServiceDesc } from '../../../gen/waiaas/v1/signer_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { Signer } from '../../signer/signer.ts';

/** The handler, bound to the signer. */
export function signEvmTransaction(signer: Signer): UnaryHandler<(typeof SignerServiceDesc)['method']['signEvmTransaction']> {
  return (req, ctx) =>
    signer.signEvmTransaction({
      walletId: req.walletId,
      unsignedTransaction: req.unsignedTransaction,
      chainId: req.chainId,
      requestId: req.requestId,
      caller: ctx.identity.uri,
    });
}
