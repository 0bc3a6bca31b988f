/**
 * The registry of error reasons the appliance returns in google.rpc.ErrorInfo.reason.
 *
 * Append-only: never remove, rename or re-map a reason; clients and scripts match on them. Each reason has exactly
 * one gRPC status code. Names are UPPER_SNAKE, prefixed WAIAAS_, at most 63 characters (AIP-193).
 */
import { status } from '@grpc/grpc-js';

/** Every reason, with its gRPC code and a one-line meaning (used in docs and as the default message). */
export const REASONS = {
  WAIAAS_INVALID_ARGUMENT: { code: status.INVALID_ARGUMENT, doc: 'A request field is missing or malformed; metadata.field names it.' },
  WAIAAS_MESSAGE_TOO_LARGE: { code: status.RESOURCE_EXHAUSTED, doc: 'The request is larger than the server accepts.' },
  WAIAAS_UNAUTHENTICATED: { code: status.UNAUTHENTICATED, doc: 'No valid client certificate identity was presented.' },
  WAIAAS_PERMISSION_DENIED: { code: status.PERMISSION_DENIED, doc: 'The caller\'s role may not perform this operation.' },
  WAIAAS_WALLET_NOT_FOUND: { code: status.NOT_FOUND, doc: 'No wallet has this id.' },
  WAIAAS_WALLET_CHAIN_MISMATCH: { code: status.FAILED_PRECONDITION, doc: 'The wallet belongs to another chain family than the request.' },
  WAIAAS_WALLET_NOT_A_SIGNER: { code: status.INVALID_ARGUMENT, doc: 'The wallet\'s address is not a required signer of the transaction.' },
  WAIAAS_CURVE_UNSUPPORTED: { code: status.FAILED_PRECONDITION, doc: 'The HSM token cannot generate or sign with this curve.' },
  WAIAAS_TX_MALFORMED: { code: status.INVALID_ARGUMENT, doc: 'The transaction bytes do not decode.' },
  WAIAAS_TX_NOT_CANONICAL: { code: status.INVALID_ARGUMENT, doc: 'The transaction decodes but does not re-encode to the same bytes.' },
  WAIAAS_TX_TOO_LARGE: { code: status.INVALID_ARGUMENT, doc: 'The transaction is larger than the chain allows.' },
  WAIAAS_TX_ALREADY_SIGNED: { code: status.INVALID_ARGUMENT, doc: 'An unsigned transaction was expected, but it carries a signature.' },
  WAIAAS_CHAIN_ID_MISMATCH: { code: status.INVALID_ARGUMENT, doc: 'The chain id in the transaction differs from the chain id of the request (or is missing).' },
  WAIAAS_REQUEST_INTERRUPTED: { code: status.ABORTED, doc: 'The server stopped while this request was being signed; nothing was returned. Send a new request.' },
  WAIAAS_REQUEST_ID_REUSED: { code: status.FAILED_PRECONDITION, doc: 'The request_id was used before for a different request.' },
  WAIAAS_MESSAGE_MALFORMED: { code: status.INVALID_ARGUMENT, doc: 'The message to sign is empty, too large, or not in a format the server signs.' },
  WAIAAS_RAW_HASH_REFUSED: { code: status.INVALID_ARGUMENT, doc: 'The message is a bare 32-byte hash (or decodes as a transaction); the server never signs what it cannot read.' },
  WAIAAS_TYPED_DATA_INVALID: { code: status.INVALID_ARGUMENT, doc: 'The EIP-712 typed data is not valid JSON of the EIP-712 shape, or does not hash; metadata.field names the part.' },
  WAIAAS_POLICY_DENIED: { code: status.PERMISSION_DENIED, doc: 'The wallet\'s policy denies this request; metadata names the rule.' },
  WAIAAS_POLICY_NOT_FOUND: { code: status.NOT_FOUND, doc: 'The wallet has no policy yet.' },
  WAIAAS_POLICY_INVALID: { code: status.INVALID_ARGUMENT, doc: 'The policy document is invalid; metadata.field names the field path.' },
  WAIAAS_SIGN_REQUEST_NOT_FOUND: { code: status.NOT_FOUND, doc: 'No sign request has this id (or the caller may not see it).' },
  WAIAAS_SIGN_REQUEST_NOT_PENDING: { code: status.FAILED_PRECONDITION, doc: 'The sign request is no longer pending; metadata.state says where it is.' },
  WAIAAS_SIGN_REQUEST_CANCELLED: { code: status.ABORTED, doc: 'The sign request was cancelled before it was signed.' },
  WAIAAS_SIGN_REQUEST_EXPIRED: { code: status.DEADLINE_EXCEEDED, doc: 'The sign request expired before it was decided.' },
  WAIAAS_FROZEN: { code: status.FAILED_PRECONDITION, doc: 'The wallet or the whole appliance is frozen: nothing is signed until the owners unfreeze it.' },
  WAIAAS_APPROVAL_INVALID: { code: status.INVALID_ARGUMENT, doc: 'The owner signature is not a valid approval of this request; metadata.problem says why (wrong_request, expired, replayed, not_owner, bad_signature, requester, message_mismatch).' },
  WAIAAS_OWNER_QUORUM_REQUIRED: { code: status.PERMISSION_DENIED, doc: 'The change needs signatures from the threshold of the wallet\'s current owners.' },
  WAIAAS_OWNER_SIGNATURE_INVALID: { code: status.INVALID_ARGUMENT, doc: 'An owner signature does not verify over the issued message, or the message is stale; metadata.problem says why.' },
  WAIAAS_RATE_LIMITED: { code: status.RESOURCE_EXHAUSTED, doc: 'The caller made too many calls; metadata.limit_per_second says its limit.' },
  WAIAAS_CA_UNAVAILABLE: { code: status.FAILED_PRECONDITION, doc: 'The appliance has no CA key configured (tls.ca_key_file), so it cannot issue credentials.' },
  WAIAAS_HSM_UNAVAILABLE: { code: status.UNAVAILABLE, doc: 'The HSM cannot be used right now; nothing was signed.' },
  WAIAAS_HSM_KEY_MISSING: { code: status.FAILED_PRECONDITION, doc: 'The wallet\'s key is not on the HSM token.' },
  WAIAAS_STORE_UNAVAILABLE: { code: status.UNAVAILABLE, doc: 'The database cannot be written; nothing was signed.' },
  WAIAAS_SHUTTING_DOWN: { code: status.UNAVAILABLE, doc: 'The server is shutting down and takes no new calls.' },
  WAIAAS_INTERNAL: { code: status.INTERNAL, doc: 'An unexpected server error; details are in the server log only.' },
} as const satisfies Record<string, { code: status; doc: string }>;

/** A stable error reason. */
export type Reason = keyof typeof REASONS;

/** The google.rpc.ErrorInfo domain of every error this appliance returns. */
export const ERROR_DOMAIN = 'waiaas.dev';
