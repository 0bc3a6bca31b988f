/**
 * Binds every API service to the gRPC server: one handler per RPC, each in its own file under server/api/<service>/.
 */
import type { Server } from '@grpc/grpc-js';
import { AgentService as AgentServiceDesc } from '../../gen/waiaas/v1/agent_pb.js';
import { ApprovalService as ApprovalServiceDesc } from '../../gen/waiaas/v1/approval_pb.js';
import { AuditService as AuditServiceDesc } from '../../gen/waiaas/v1/audit_pb.js';
import { OwnerService as OwnerServiceDesc } from '../../gen/waiaas/v1/owner_pb.js';
import { PolicyService as PolicyServiceDesc } from '../../gen/waiaas/v1/policy_pb.js';
import { SignRequestService as SignRequestServiceDesc } from '../../gen/waiaas/v1/sign_request_pb.js';
import { SignerService as SignerServiceDesc } from '../../gen/waiaas/v1/signer_pb.js';
import { WalletService as WalletServiceDesc } from '../../gen/waiaas/v1/wallet_pb.js';
import { bindService, type CallHooks } from '../grpc/bind.ts';
import type { AgentService } from '../authz/agents.ts';
import type { Principals } from '../authz/principals.ts';
import type { ApprovalService } from '../owners/approvals.ts';
import type { OwnerService } from '../owners/owners.ts';
import type { PolicyService } from '../policies/policies.ts';
import type { SignRequestService } from '../signer/requests.ts';
import type { Signer } from '../signer/signer.ts';
import type { Store } from '../store/store.ts';
import type { WalletService } from '../wallets/wallets.ts';
import * as agent from './agent/handlers.ts';
import * as approval from './approval/handlers.ts';
import * as audit from './audit/handlers.ts';
import * as owner from './owner/handlers.ts';
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
  owners: OwnerService;
  approvals: ApprovalService;
  agents: AgentService;
  principals: Principals;
  store: Store;
}

/** The API's services, for reflection and health. */
export const API_SERVICES = [WalletServiceDesc, SignerServiceDesc, PolicyServiceDesc, SignRequestServiceDesc, OwnerServiceDesc, ApprovalServiceDesc, AgentServiceDesc, AuditServiceDesc] as const;

/** Registers every API service on `server`. */
export function bindApi(server: Server, s: ApiServices, hooks: CallHooks): void {
  bindService(server, WalletServiceDesc, { createWallet: createWallet(s.wallets, s.principals), getWallet: getWallet(s.wallets), listWallets: listWallets(s.wallets) }, hooks);
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
  bindService(
    server,
    OwnerServiceDesc,
    {
      getOwnership: owner.getOwnership(s.owners),
      getOwnerChangeMessage: owner.getOwnerChangeMessage(s.owners),
      setOwners: owner.setOwners(s.owners),
      freeze: owner.freeze(s.owners),
      unfreeze: owner.unfreeze(s.owners),
      getApplianceState: owner.getApplianceState(s.owners),
    },
    hooks,
  );
  bindService(
    server,
    ApprovalServiceDesc,
    {
      listPendingRequests: approval.listPendingRequests(s.approvals),
      getPendingRequest: approval.getPendingRequest(s.approvals),
      getApprovalMessage: approval.getApprovalMessage(s.approvals),
      approve: approval.approve(s.approvals),
      reject: approval.reject(s.approvals),
      watchPendingRequests: approval.watchPendingRequests(s.approvals),
    },
    hooks,
  );
  bindService(
    server,
    AgentServiceDesc,
    { putPrincipal: agent.putPrincipal(s.agents), listPrincipals: agent.listPrincipals(s.agents), issueCredential: agent.issueCredential(s.agents), revoke: agent.revoke(s.agents) },
    hooks,
  );
  bindService(server, AuditServiceDesc, { tailAudit: audit.tailAudit(s.store), exportAudit: audit.exportAudit(s.store), verifyAudit: audit.verifyAudit(s.store) }, hooks);
}
