/** WalletService.ListWallets: a page of wallets in creation order. */
import { Chain, type WalletService as WalletServiceDesc } from '../../../gen/waiaas/v1/wallet_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import { inScope } from '../../grpc/identity.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { chainFromProto, walletToProto } from '../convert.ts';

/** The handler, bound to the wallet service. */
export function listWallets(wallets: WalletService): UnaryHandler<(typeof WalletServiceDesc)['method']['listWallets']> {
  return async (req, ctx) => {
    const chain = req.chain === Chain.UNSPECIFIED ? undefined : chainFromProto(req.chain);
    const page = wallets.list({ pageSize: req.pageSize, pageToken: req.pageToken, chain, visible: (w) => inScope(ctx.identity, w.walletId) });
    return { wallets: page.wallets.map(walletToProto), nextPageToken: page.nextPageToken };
  };
}
