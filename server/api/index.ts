/**
 * Binds every API service to the gRPC server: one handler per RPC, each in its own file under server/api/<service>/.
 */
import type { Server } from '@grpc/grpc-js';
import { PolicyService as PolicyServiceDesc } from '../../gen/waiaas/v1/policy_pb.js';
import { SignRequestService as SignRequestServiceDesc } from '../../gen/waiaas/v1/sign_request_pb.js';
import { SignerService as SignerServiceDesc } from '../../gen/waiaas/v1/signer_pb.js';
import { WalletService as WalletServiceDesc } from '../../gen/waiaas/v1/wallet_pb.js';
import { bindService, type CallHooks } from '../grpc/bind.ts';
import type { PolicyService } from '../policies/policies.ts';
import type { SignRequestService } from '../signer/requests.ts';
import type { Signer } from '../signer/signer.ts';
import type { WalletService } from '../wallets/wallets.ts';
import { evaluatePolicy } from './policy/evaluate_policy.ts';
import { getPolicy } from './policy/get_policy.ts';
import { setPolicy } from './policy/set_policy.ts';
import { cancelSignRequest } from './sign_request/cancel_sign_request.ts';
import { getSignRequest } from './sign_request/get_sign_request.ts';
import { listSignRequests } from './sign_request/list_sign_requests.ts';
import { watchSignRequest } from './sign_request/watch_sign_request.ts';
import { signEvmMessage } from './signer/sign_evm_message.ts';
import { signEvmTransaction } from './signer/sign_evm_transaction.ts';
import { signEvmTypedData } from './signer/sign_evm_typed_data.ts';
import { signSolanaMessage } from './signer/sign_solana_message.ts';
import { signSolanaTransaction } from './signer/sign_solana_transaction.ts';
import { createWallet } from './wallet/create_wallet.ts';
import { getWallet } from './wallet/get_wallet.ts';
import { listWallets } from './wallet/list_wallets.ts';

/** The domain services the API exposes. */
export interface ApiServices {
  wallets: WalletService;
  policies: PolicyService;
  signer: Signer;
  requests: SignRequestService;
}

/** The API's services, for reflection and health. */
export const API_SERVICES = [WalletServiceDesc, SignerServiceDesc, PolicyServiceDesc, SignRequestServiceDesc] as const;

/** Registers every API service on `server`. */
export function bindApi(server: Server, s: ApiServices, hooks: CallHooks): void {
  bindService(server, WalletServiceDesc, { createWallet: createWallet(s.wallets), getWallet: getWallet(s.wallets), listWallets: listWallets(s.wallets) }, hooks);
  bindService(
    server,
    SignerServiceDesc,
    {
      signSolanaTransaction: signSolanaTransaction(s.signer, s.wallets),
      signEvmTransaction: signEvmTransaction(s.signer, s.wallets),
      signEvmMessage: signEvmMessage(s.signer, s.wallets),
      signEvmTypedData: signEvmTypedData(s.signer, s.wallets),
      signSolanaMessage: signSolanaMessage(s.signer, s.wallets),
    },
    hooks,
  );
  bindService(server, PolicyServiceDesc, { getPolicy: getPolicy(s.policies), setPolicy: setPolicy(s.policies), evaluatePolicy: evaluatePolicy(s.signer, s.policies) }, hooks);
  bindService(
    server,
    SignRequestServiceDesc,
    {
      getSignRequest: getSignRequest(s.requests),
      listSignRequests: listSignRequests(s.requests),
      watchSignRequest: watchSignRequest(s.requests),
      cancelSignRequest: cancelSignRequest(s.requests),
    },
    hooks,
  );
}
