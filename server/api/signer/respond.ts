/** What every sign RPC answers with, built from the request's record (so a retry answers exactly the same). */
import { fromBinary } from '@bufbuild/protobuf';
import { SignResultSchema, type SignResult } from '../../../gen/waiaas/v1/sign_request_pb.js';
import type { SignRequestRecord } from '../../store/store.ts';
import type { WalletService } from '../../wallets/wallets.ts';
import { signRequestToProto, stateToProto, verdictToProto } from '../convert.ts';

/** The fields all sign responses share, plus the decoded result (empty unless SIGNED). */
export function baseResponse(rec: SignRequestRecord, wallets: WalletService) {
  const result: Partial<SignResult> = rec.response ? fromBinary(SignResultSchema, rec.response) : {};
  return {
    common: {
      signRequestId: rec.id,
      verdict: verdictToProto(rec.verdict),
      policyHash: rec.policyHash ?? '',
      state: stateToProto(rec.state),
      signRequest: signRequestToProto(rec),
      signerAddress: wallets.get(rec.walletId).address,
    },
    result,
  };
}
