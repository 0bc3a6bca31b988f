/**
 * Tool errors a model can act on: `isError: true` with a text that names the appliance's stable reason (e.g.
 * WAIAAS_POLICY_DENIED), the deciding rule, the sign request concerned, and what to do next. The same facts are in
 * `structuredContent` for clients that read it.
 */
import { status } from '@grpc/grpc-js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { WaiaasClientError } from '../../ts/src/index.ts';
import { ConfigError } from './config.ts';
import type { Json } from './format.ts';

/** What the failing tool call was about, to make the advice concrete. */
export interface ErrorContext {
  /** The appliance's address, for connection errors. */
  address: string;
  walletId?: string;
  signRequestId?: string;
}

const policyUri = (walletId: string | undefined): string => (walletId ? `waiaas://wallets/${walletId}/policy` : 'waiaas://wallets/{wallet_id}/policy');

const RETRY_LATER =
  'Nothing was signed. Retry later with the same request_id (pass a request_id of your own so that a retry can never sign twice).';

/** What to do next, by reason. */
function advice(e: WaiaasClientError, ctx: ErrorContext): string {
  const m = e.metadata;
  const walletId = m.wallet_id ?? ctx.walletId;
  const requestId = m.sign_request_id ?? ctx.signRequestId;
  switch (e.reason) {
    case 'WAIAAS_POLICY_DENIED':
      if (m.rule === 'owner-rejection') {
        return `An owner of the wallet rejected ${requestId ? `request ${requestId}` : 'the request'}. Do not submit it again; ask the wallet's owner what they would accept.`;
      }
      return (
        'Do not send the same request again: it would be refused again. Either change the request so that a rule of the ' +
        `wallet's policy allows it (for example a smaller amount, an allowed recipient, or a contract call the policy names) ` +
        `— read the policy at ${policyUri(walletId)} and try the change with evaluate_request first — or ask the wallet's ` +
        `owner to change the policy (the deciding rule is "${m.rule ?? '?'}")` +
        (requestId ? ` and mention request ${requestId}.` : '.')
      );
    case 'WAIAAS_WALLET_NOT_FOUND':
      return `${walletId ? `Wallet ${walletId} does not exist or is not visible to this agent` : 'No such wallet is visible to this agent'}. Call list_wallets for the wallet ids you may use.`;
    case 'WAIAAS_WALLET_CHAIN_MISMATCH':
      return (
        `${walletId ? `Wallet ${walletId}` : 'The wallet'} is for ${m.wallet_chain ?? 'another chain'}, but the request is for ${m.request_chain ?? 'another chain'}. ` +
        'Use a wallet of the right chain (list_wallets) with the matching tool: sign_solana_transaction for Solana, sign_evm_transaction ' +
        'and sign_typed_data for EVM.'
      );
    case 'WAIAAS_WALLET_NOT_A_SIGNER':
      return "The wallet's address is not a required signer of this transaction: rebuild it with the wallet's address (from list_wallets) as fee payer or signer.";
    case 'WAIAAS_TX_MALFORMED':
    case 'WAIAAS_TX_NOT_CANONICAL':
    case 'WAIAAS_TX_TOO_LARGE':
    case 'WAIAAS_TX_ALREADY_SIGNED':
      return (
        'Rebuild the transaction and send it unsigned, serialized exactly as it will be hashed: EVM as 0x-hex of the unsigned ' +
        'EIP-2718 envelope (or EIP-155 legacy RLP list); Solana as base64 of the wire transaction with empty (zero) signature slots, ' +
        'at most 1232 bytes.'
      );
    case 'WAIAAS_CHAIN_ID_MISMATCH':
      return 'Pass a chain_id equal to the chain id inside the transaction (and build the transaction with an explicit chain id).';
    case 'WAIAAS_REQUEST_ID_REUSED':
      return 'That request_id was already used for a different request. Choose a new request_id; reuse one only to retry exactly the same request.';
    case 'WAIAAS_MESSAGE_MALFORMED':
      return 'The message is empty, too large (at most 16384 bytes) or not in a format the appliance signs. Check the message and its encoding.';
    case 'WAIAAS_RAW_HASH_REFUSED':
      return (
        'The appliance never signs a bare 32-byte hash or bytes that decode as a transaction: it signs only what it can read. ' +
        'Sign the readable message itself (sign_message), the EIP-712 typed data (sign_typed_data) or the transaction (sign_evm_transaction, sign_solana_transaction).'
      );
    case 'WAIAAS_TYPED_DATA_INVALID':
      return `Fix the typed data${m.field ? ` at ${m.field}` : ''}: it must be eth_signTypedData_v4 JSON with "types", "primaryType", "domain" and "message".`;
    case 'WAIAAS_POLICY_NOT_FOUND':
      return "The wallet has no policy yet, so it signs nothing. Ask the wallet's owner to set a policy for it.";
    case 'WAIAAS_SIGN_REQUEST_NOT_FOUND':
      return 'No sign request with this id is visible to this agent (an agent sees only its own requests). Use the sign_request_id (req_…) a sign tool returned.';
    case 'WAIAAS_SIGN_REQUEST_NOT_PENDING':
      return `The request is no longer pending${m.state ? ` (state ${m.state})` : ''}; call get_request to see how it ended.`;
    case 'WAIAAS_SIGN_REQUEST_CANCELLED':
      return 'The request was cancelled before it was signed. Submit a new request if it is still wanted.';
    case 'WAIAAS_SIGN_REQUEST_EXPIRED':
      return "The request expired before the wallet's owners decided it. Submit it again if it is still wanted, and ask the owner to decide sooner.";
    case 'WAIAAS_FROZEN':
      return "The wallet (or the whole appliance) is frozen by its owners: nothing is signed until they unfreeze it. Do not retry; tell the user.";
    case 'WAIAAS_PERMISSION_DENIED':
      return (
        `This agent's credential may not do this${m.operation ? ` (operation ${m.operation})` : ''}: the operation or the wallet is outside its scope. ` +
        "Do not retry; ask the appliance's admin to widen the agent's scope if it should be allowed."
      );
    case 'WAIAAS_RATE_LIMITED':
      return `Too many calls${m.limit_per_second ? ` (limit ${m.limit_per_second} per second)` : ''}: wait a moment and retry.`;
    case 'WAIAAS_HSM_UNAVAILABLE':
    case 'WAIAAS_STORE_UNAVAILABLE':
    case 'WAIAAS_SHUTTING_DOWN':
    case 'WAIAAS_REQUEST_INTERRUPTED':
      return RETRY_LATER;
    case 'WAIAAS_HSM_KEY_MISSING':
      return "The wallet's key is not on the HSM: nothing can be signed with this wallet. Tell the appliance's admin.";
    case 'WAIAAS_UNAUTHENTICATED':
      return 'The appliance did not accept this agent certificate. Renew the agent credential (WAIAAS_CERT, WAIAAS_KEY).';
    case 'WAIAAS_INVALID_ARGUMENT':
    case 'WAIAAS_MESSAGE_TOO_LARGE':
      return `Fix the request${m.field ? ` (field ${m.field})` : ''} and try again.`;
    case 'WAIAAS_INTERNAL':
      return 'An unexpected error inside the appliance. Retry once; if it happens again, tell the user.';
  }
  switch (e.code) {
    case status.UNAVAILABLE:
      return (
        `Cannot reach the signing appliance at ${ctx.address} (or it refused the TLS handshake). Check that it is running and that ` +
        'the agent certificate is valid (not expired, not revoked, issued by its CA). Nothing was signed; retry later.'
      );
    case status.DEADLINE_EXCEEDED:
      return 'The appliance did not answer in time. Retry with the same request_id (a retry with the same request_id never signs twice).';
    case status.UNIMPLEMENTED:
      return 'The appliance does not support this call (an older version). Tell the user.';
    default:
      return 'Tell the user what failed; do not retry blindly.';
  }
}

/** The tool result of a failed call. */
export function toolError(err: unknown, ctx: ErrorContext): CallToolResult {
  if (err instanceof WaiaasClientError) {
    const m = err.metadata;
    const reason = err.reason || status[err.code] || 'UNKNOWN';
    const lines = [`Error ${reason}: ${err.message}`];
    if (m.rule) lines.push(`Rule: ${m.rule}${m.verdict ? ` (verdict ${m.verdict})` : ''}.${m.matched_rules ? ` Matched rules: ${m.matched_rules.split(',').join(', ')}.` : ''}`);
    if (m.sign_request_id) lines.push(`Sign request: ${m.sign_request_id}${err.reason === 'WAIAAS_POLICY_DENIED' ? ' (REFUSED; nothing was signed)' : ''}.`);
    else if (ctx.signRequestId) lines.push(`Sign request: ${ctx.signRequestId}.`);
    if (m.field) lines.push(`Field: ${m.field}.`);
    const next = advice(err, ctx);
    lines.push(`What to do next: ${next}`);
    const data: Json = { error: { reason, grpc_code: status[err.code] ?? String(err.code), message: err.message, metadata: { ...m } }, next_step: next };
    return { isError: true, content: [{ type: 'text', text: lines.join('\n') }], structuredContent: data };
  }
  if (err instanceof ConfigError) {
    const next = 'The agent credential files changed and no longer pass the check; fix WAIAAS_CERT / WAIAAS_KEY (an unexpired agent certificate and its key).';
    return {
      isError: true,
      content: [{ type: 'text', text: `Error WAIAAS_MCP_CREDENTIALS: ${err.message}\nWhat to do next: ${next}` }],
      structuredContent: { error: { reason: 'WAIAAS_MCP_CREDENTIALS', message: err.message }, next_step: next },
    };
  }
  return usageError((err as Error)?.message ?? String(err), 'Check the arguments and try again.');
}

/** A tool error found before calling the appliance (bad arguments). */
export function usageError(message: string, next: string): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: `Error WAIAAS_MCP_INVALID_INPUT: ${message}\nWhat to do next: ${next}` }],
    structuredContent: { error: { reason: 'WAIAAS_MCP_INVALID_INPUT', message }, next_step: next },
  };
}
