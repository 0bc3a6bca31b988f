/** SignerService.SignEvmTypedData (EIP-712, re-hashed by the server). */
import { create } from '@bufbuild/protobuf';
import { SignPayloadSchema, type SignResult } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { SignerService as Desc } from '../../../gen/waiaas/v1/signer_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { Signer } from '../../signer/signer.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { baseResponse } from './respond.ts';

/** The 65-byte signature and its parts, from a message signing result. */
export function evmSignatureParts(result: Partial<SignResult>) {
  const sig = result.signature;
  if (!sig || sig.length !== 65) return {};
  return { signature: sig, evmSignature: { r: sig.slice(0, 32), s: sig.slice(32, 64), yParity: result.yParity ?? 0 } };
}

/** The handler. */
export function signEvmTypedData(signer: Signer, wallets: WalletService): UnaryHandler<(typeof Desc)['method']['signEvmTypedData']> {
  return async (req, ctx) => {
    const payload = create(SignPayloadSchema, { payload: { case: 'evmTypedData', value: req.typedData } });
    const rec = await signer.submit({ walletId: req.walletId, payload, requestId: req.requestId, caller: ctx.identity.uri });
    const { common, result } = baseResponse(rec, wallets);
    return { ...common, ...evmSignatureParts(result), digest: result.digest };
  };
}
