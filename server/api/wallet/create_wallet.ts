/** WalletService.CreateWallet: generates a key pair on the HSM and stores the wallet. */
import type { WalletService as WalletServiceDesc } from '../../../gen/waiaas/v1/wallet_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { chainFromProto, walletToProto } from '../convert.ts';

/** The handler, bound to the wallet service. */
export function createWallet(wallets: WalletService): UnaryHandler<(typeof WalletServiceDesc)['method']['createWallet']> {
  return async (req, ctx) => {
    const wallet = await wallets.create({ chain: chainFromProto(req.chain), labels: req.labels, requestId: req.requestId, caller: ctx.identity.uri });
    return { wallet: walletToProto(wallet) };
  };
}
