/** WalletService.GetWallet. */
import type { WalletService as WalletServiceDesc } from '../../../gen/waiaas/v1/wallet_pb.js';
import type { UnaryHandler } from '../../grpc/bind.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { walletToProto } from '../convert.ts';

/** The handler, bound to the wallet service. */
export function getWallet(wallets: WalletService): UnaryHandler<(typeof WalletServiceDesc)['method']['getWallet']> {
  return async (req) => ({ wallet: walletToProto(wallets.get(req.walletId)) });
}
