/**
 * Binds every API service to the gRPC server: one handler per RPC, each in its own file under server/api/<service>/.
 */
import type { Server } from '@grpc/grpc-js';
import { PolicyService as PolicyServiceDesc } from '../../gen/waiaas/v1/policy_pb.js';
import { SignerService as SignerServiceDesc } from '../../gen/waiaas/v1/signer_pb.js';
import { WalletService as WalletServiceDesc } from '../../gen/waiaas/v1/wallet_pb.js';
import { bindService, type CallHooks } from '../grpc/bind.ts';
import type { PolicyService } from '../policies/policies.ts';
import type { Signer } from '../signer/signer.ts';
import type { WalletService } from '../wallets/wallets.ts';
import { getPolicy } from './policy/get_policy.ts';
import { setPolicy } from './policy/set_policy.ts';
import { signEvmTransaction } from './signer/sign_evm_transaction.ts';
import { signSolanaTransaction } from './signer/sign_solana_transaction.ts';
import { createWallet } from './wallet/create_wallet.ts';
import { getWallet } from './wallet/get_wallet.ts';
import { listWallets } from './wallet/list_wallets.ts';

/** The domain services the API exposes. */
export interface ApiServices {
  wallets: WalletService;
  policies: PolicyService;
  signer: Signer;
}

/** The API's services, for reflection. */
export const API_SERVICES = [WalletServiceDesc, SignerServiceDesc, PolicyServiceDesc] as const;

/** Registers WalletService, SignerService and PolicyService on `server`. */
export function bindApi(server: Server, s: ApiServices, hooks: CallHooks): void {
  bindService(server, WalletServiceDesc, { createWallet: createWallet(s.wallets), getWallet: getWallet(s.wallets), listWallets: listWallets(s.wallets) }, hooks);
  bindService(server, SignerServiceDesc, { signSolanaTransaction: signSolanaTransaction(s.signer), signEvmTransaction: signEvmTransaction(s.signer) }, hooks);
  bindService(server, PolicyServiceDesc, { getPolicy: getPolicy(s.policies), setPolicy: setPolicy(s.policies) }, hooks);
}
