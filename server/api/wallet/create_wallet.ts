/** WalletService.CreateWallet: generates a key pair on the HSM and stores the wallet. */
import type { WalletService as WalletServiceDesc } from '../../../gen/waiaas/v1/wallet_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { Principals } from '../../authz/principals.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { chainFromProto, walletToProto } from '../convert.ts';

/** The handler, bound to the wallet service. */
export function createWallet(wallets: WalletService, principals: Principals): UnaryHandler<(typeof WalletServiceDesc)['method']['createWallet']> {
  return async (req, ctx) => {
    const wallet = await wallets.create({ chain: chainFromProto(req.chain), labels: req.labels, requestId: req.requestId, caller: ctx.identity.uri });
    // An agent that creates a wallet may use it: the wallet joins the agent's scope.
    if (ctx.identity.role === 'agent') await principals.grant(ctx.identity.uri, wallet.walletId);
    return { wallet: walletToProto(wallet) };
  };
}
