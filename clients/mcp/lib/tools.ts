/**
 * The MCP tools: what a model may do with the agent's credentials. Every tool validates its input with zod, calls the
 * appliance through the TypeScript client, and answers with a one-paragraph text for the model (what happened, what
 * to do next) followed by the same facts as JSON, also given as `structuredContent`. Appliance errors become
 * `isError: true` results naming the reason, the rule and the next step (errors.ts).
 */
import { status } from '@grpc/grpc-js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { SignPayloadSchema, SignRequest } from '../../../gen/waiaas/v1/sign_request_pb.js';
import { Chain, SignRequestState, Verdict, WaiaasClientError, type WaiaasClient } from '../../ts/src/index.ts';
import type { ClientSource } from './connection.ts';
import { toolError, usageError, type ErrorContext } from './errors.ts';
import {
  base58,
  base64,
  chainName,
  FINAL_STATES,
  hex,
  matchedRulesJson,
  secondsUntil,
  signRequestJson,
  stateName,
  summarizeEffects,
  time,
  verdictName,
  walletJson,
  type Json,
} from './format.ts';

// ---------------------------------------------------------------------------------------------------------------------
// Input schemas

const walletId = z
  .string()
  .regex(/^wlt_[0-9A-Za-z]{1,64}$/, 'a wallet_id looks like "wlt_…"; call list_wallets to get one')
  .describe('The wallet to use, "wlt_…" (from list_wallets).');
const signRequestId = z
  .string()
  .regex(/^req_[0-9A-Za-z]{1,64}$/, 'a sign_request_id looks like "req_…", as returned by a sign tool')
  .describe('The sign request, "req_…", as returned by a sign tool.');
const requestId = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'request_id: 1-128 characters of A-Z a-z 0-9 . _ : -')
  .optional()
  .describe(
    'Optional idempotency key of your choosing (1-128 chars of A-Za-z0-9._:-). Retrying with the same request_id and the same bytes returns ' +
      'the first answer and never signs twice; use a new one for each new request.',
  );
const hexBytes = z
  .string()
  .regex(/^(0x)?([0-9a-fA-F]{2})+$/, 'must be hex bytes, e.g. "0x02f86c…"')
  .describe('Hex of the unsigned serialized transaction, with or without 0x.');
const base64Bytes = z
  .string()
  .regex(/^[A-Za-z0-9+/\s]+={0,2}$/, 'must be base64')
  .describe('The transaction in Solana wire format, base64.');
const chainId = z
  .union([z.number().int().positive(), z.string().regex(/^[1-9][0-9]{0,19}$/)])
  .describe('EVM chain id (1 = Ethereum mainnet, 8453 = Base, 11155111 = Sepolia, …); must equal the chain id inside the transaction.');
const message = z.string().min(1).describe('The message to sign: text, or bytes written in `encoding`.');
const encoding = z
  .enum(['utf8', 'hex', 'base64'])
  .default('utf8')
  .describe('How `message` is written: "utf8" (plain text, the default), "hex" (bytes, 0x optional) or "base64" (bytes).');
const typedData = z
  .union([z.string(), z.record(z.string(), z.unknown())])
  .describe('EIP-712 typed data as in eth_signTypedData_v4: an object (or its JSON text) with "types", "primaryType", "domain" and "message".');

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

function decodeHex(s: string): Uint8Array {
  return Buffer.from(s.replace(/^0x/, ''), 'hex');
}

function decodeMessage(text: string, enc: 'utf8' | 'hex' | 'base64'): Uint8Array {
  if (enc === 'hex') {
    if (!/^(0x)?([0-9a-fA-F]{2})+$/.test(text)) throw new InputError('message is not hex bytes', 'Write the bytes as hex, or use encoding "utf8" for text.');
    return decodeHex(text);
  }
  if (enc === 'base64') return Buffer.from(text, 'base64');
  return Buffer.from(text, 'utf8');
}

function typedDataJson(t: string | Record<string, unknown>): string {
  if (typeof t === 'string') return t;
  return JSON.stringify(t);
}

/** A bad argument found before calling the appliance. */
class InputError extends Error {
  readonly next: string;
  constructor(message: string, next: string) {
    super(message);
    this.next = next;
  }
}

/** The tool's answer: a sentence or two for the model, then the JSON. */
function answer(text: string, data: Json): CallToolResult {
  return { content: [{ type: 'text', text: `${text}\n\n${JSON.stringify(data, null, 2)}` }], structuredContent: data };
}

/** Runs a tool body, turning thrown errors into model-readable tool errors. */
async function run(ctx: ErrorContext, body: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof InputError) return usageError(e.message, e.next);
    return toolError(e, ctx);
  }
}

/** What to do about a PENDING request. */
export function pendingNextStep(r: SignRequest): string {
  const id = r.signRequestId;
  const wait = `call wait_for_request with sign_request_id "${id}"`;
  const noResubmit = 'Do not submit the same request again: that would make a second request.';
  if (r.verdict === Verdict.DELAY) {
    const secs = secondsUntil(r.notBeforeTime);
    const how =
      secs + 5 <= 50
        ? `${wait} and timeout_seconds of at least ${secs + 5}`
        : `${wait} (each call waits at most timeout_seconds, up to 600; call it again while the request is PENDING)`;
    return (
      `Request ${id} will be signed automatically after its ${r.delaySeconds}-second delay (not before ${time(r.notBeforeTime) ?? 'the delay ends'}, ` +
      `about ${secs} s from now) unless an owner vetoes it. To receive the signed result, ${how}. ${noResubmit} To withdraw it, call cancel_request.`
    );
  }
  return (
    `Ask the wallet's owner to approve request ${id} (an owner approves with their own key, e.g. \`waiaas-ctl approvals approve ${id} --key-file …\`), ` +
    `or change the request (e.g. a smaller amount) so the policy allows it without approval, and withdraw this one with cancel_request. ` +
    `It expires at ${time(r.expireTime) ?? 'the pending timeout'} unless decided. To wait for the outcome, ${wait}: it returns the signed result once ` +
    `the owners approve. ${noResubmit}`
  );
}

/** The answer of a sign tool: SIGNED with `signed`, or PENDING with how to wait. */
function signAnswer(
  tool: string,
  walletIdValue: string,
  res: { signRequestId: string; verdict: Verdict; state: SignRequestState; signerAddress: string; policyHash: string; signRequest?: SignRequest | undefined },
  signed: Json,
  broadcast: string,
): CallToolResult {
  const r = res.signRequest;
  const common: Json = {
    sign_request_id: res.signRequestId,
    wallet_id: walletIdValue,
    verdict: verdictName(res.verdict),
    rule: r?.rule ?? '',
    detail: r?.detail ?? '',
    signer_address: res.signerAddress,
    effects: summarizeEffects(r?.effects),
    matched_rules: matchedRulesJson(r?.matchedRules ?? []),
    policy_hash: res.policyHash,
  };
  if (res.state === SignRequestState.SIGNED) {
    const notified = res.verdict === Verdict.NOTIFY ? " The wallet's owners were notified." : '';
    const data: Json = { status: 'SIGNED', ...common, ...signed, next_step: broadcast };
    return answer(`Signed by wallet ${walletIdValue} (${res.signerAddress}): verdict ${verdictName(res.verdict)}${r?.rule ? `, rule "${r.rule}"` : ''}, request ${res.signRequestId}.${notified} ${broadcast}`, data);
  }
  if (res.state === SignRequestState.PENDING && r) {
    const next = pendingNextStep(r);
    const why = res.verdict === Verdict.APPROVAL ? "waiting for the wallet owner's approval" : `in a ${r.delaySeconds}-second delay`;
    const data: Json = {
      status: 'PENDING',
      ...common,
      ...(r.delaySeconds ? { delay_seconds: r.delaySeconds } : {}),
      expire_time: time(r.expireTime),
      not_before_time: time(r.notBeforeTime),
      next_step: next,
    };
    return answer(
      `Not signed yet: request ${res.signRequestId} is PENDING, ${why} (verdict ${verdictName(res.verdict)}, rule "${r.rule}": ${r.detail}). ${next}`,
      data,
    );
  }
  // Any other state in a sign answer is unexpected: show the record as it is.
  return answer(`${tool}: request ${res.signRequestId} is ${stateName(res.state)}.`, { status: stateName(res.state), ...common, ...(r ? { sign_request: signRequestJson(r) } : {}) });
}

/** Every wallet visible to this agent (all pages). */
export async function listAllWallets(client: WaiaasClient, chain: Chain = Chain.UNSPECIFIED) {
  const wallets = [];
  let pageToken = '';
  for (let page = 0; page < 50; page++) {
    const res = await client.wallets.listWallets({ pageSize: 1000, pageToken, chain });
    wallets.push(...res.wallets);
    pageToken = res.nextPageToken;
    if (!pageToken) break;
  }
  return wallets;
}

/** The answer for a request that ended without being signed: an error with the reason and what to do. */
function endedAnswer(r: SignRequest, ctx: ErrorContext): CallToolResult {
  const state = stateName(r.state);
  const fallback: Record<string, string> = { CANCELLED: 'WAIAAS_SIGN_REQUEST_CANCELLED', EXPIRED: 'WAIAAS_SIGN_REQUEST_EXPIRED', REFUSED: 'WAIAAS_POLICY_DENIED' };
  const reason = r.errorReason || fallback[state] || 'WAIAAS_INTERNAL';
  const ownerRejected = r.errorMessage.startsWith('rejected by owner');
  const err = new WaiaasClientError(status.FAILED_PRECONDITION, `request ${r.signRequestId} ended ${state}, nothing was signed${r.errorMessage ? `: ${r.errorMessage}` : ''}`, reason, {
    sign_request_id: r.signRequestId,
    wallet_id: r.walletId,
    ...(ownerRejected ? { rule: 'owner-rejection' } : r.rule ? { rule: r.rule, verdict: verdictName(r.verdict) } : {}),
  });
  const out = toolError(err, ctx);
  return { ...out, structuredContent: { ...(out.structuredContent ?? {}), sign_request: signRequestJson(r) } };
}

/** The answer for a request in any state (get_request). */
function requestAnswer(r: SignRequest): CallToolResult {
  const data = signRequestJson(r);
  const id = r.signRequestId;
  let text: string;
  switch (r.state) {
    case SignRequestState.PENDING:
      text = `Request ${id} is PENDING (verdict ${verdictName(r.verdict)}, rule "${r.rule}"). ${pendingNextStep(r)}`;
      break;
    case SignRequestState.SIGNING:
      text = `Request ${id} is being signed right now. Call wait_for_request with sign_request_id "${id}" to receive the result.`;
      break;
    case SignRequestState.SIGNED:
      text = `Request ${id} is SIGNED (verdict ${verdictName(r.verdict)}); "result" holds the ${r.kind.endsWith('transaction') ? 'signed transaction' : 'signature'}. The appliance does not broadcast: do it yourself.`;
      break;
    default:
      text = `Request ${id} ended ${stateName(r.state)}; nothing was signed${r.errorReason ? ` (${r.errorReason}: ${r.errorMessage})` : ''}. Submit a new request if it is still wanted.`;
  }
  return answer(text, { ...data, next_step: text });
}

// ---------------------------------------------------------------------------------------------------------------------
// Registration

const SIGN_ANNOTATIONS = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true } as const;
const READ_ANNOTATIONS = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

const VERDICTS_HELP =
  'The wallet owner\'s policy judges what the bytes really do (decoded by the appliance, not what you say they do): INSTANT or NOTIFY → signed now; ' +
  'DELAY or APPROVAL → PENDING with a sign_request_id (call wait_for_request; never resubmit); DENY → an error naming the rule and what to change.';

/** Registers every tool on `server`. */
export function registerTools(server: McpServer, source: ClientSource): void {
  const ctx = (extra: Partial<ErrorContext> = {}): ErrorContext => ({ address: source.address, ...extra });

  server.registerTool(
    'list_wallets',
    {
      title: 'List wallets',
      description:
        'List the wallets this agent may sign with on the WAIaaS signing appliance: wallet_id, chain ("solana" or "evm"), on-chain address and labels. ' +
        'The keys live on an HSM; you never see them. Use the wallet_id with the other tools and the address as sender / fee payer when you build ' +
        "transactions. Each wallet has a policy set by its owner that decides what it may sign; read it at the resource waiaas://wallets/{id}/policy.",
      inputSchema: { chain: z.enum(['solana', 'evm']).optional().describe('Only wallets of this chain family. Omit for all.') },
      annotations: READ_ANNOTATIONS,
    },
    async ({ chain }) =>
      run(ctx(), async () => {
        const wallets = await listAllWallets(source.get(), chain === 'solana' ? Chain.SOLANA : chain === 'evm' ? Chain.EVM : Chain.UNSPECIFIED);
        const data = { wallets: wallets.map(walletJson) };
        const text = wallets.length
          ? `${wallets.length} wallet${wallets.length === 1 ? '' : 's'}: ${wallets
              .slice(0, 20)
              .map((w) => `${w.walletId} (${chainName(w.chain)} ${w.address})`)
              .join(', ')}${wallets.length > 20 ? `, and ${wallets.length - 20} more (all in the JSON below)` : ''}.`
          : 'No wallets are visible to this agent. Wallets are created by the appliance\'s operators; ask the user for one.';
        return answer(text, data);
      }),
  );

  server.registerTool(
    'evaluate_request',
    {
      title: 'Dry-run the wallet policy',
      description:
        "Dry run: ask the wallet's policy what it would decide for a request, WITHOUT signing or reserving anything. Give wallet_id and exactly one of: " +
        'solana_transaction (base64 wire transaction), evm_transaction (0x-hex unsigned transaction) together with chain_id, message (personal / off-chain message), ' +
        'or typed_data (EIP-712). Returns the verdict (INSTANT or NOTIFY: would be signed at once; DELAY: signed after a delay unless an owner vetoes; ' +
        "APPROVAL: needs the owner's approval; DENY: refused), the deciding rule and why, the effects the appliance decoded from the bytes (what the request " +
        'really does), and every matched rule. Use it when unsure, and to find a variant (amount, recipient) the policy allows before signing.',
      inputSchema: {
        wallet_id: walletId,
        solana_transaction: base64Bytes.optional(),
        evm_transaction: hexBytes.optional(),
        chain_id: chainId.optional().describe('With evm_transaction: the EVM chain id, equal to the one inside the transaction.'),
        message: message.optional(),
        encoding,
        typed_data: typedData.optional(),
      },
      annotations: READ_ANNOTATIONS,
    },
    async (args) =>
      run(ctx({ walletId: args.wallet_id }), async () => {
        const given = (['solana_transaction', 'evm_transaction', 'message', 'typed_data'] as const).filter((k) => args[k] !== undefined);
        if (given.length !== 1) {
          throw new InputError(
            given.length ? `give exactly one payload, not ${given.join(' and ')}` : 'no payload given',
            'Pass exactly one of solana_transaction, evm_transaction (with chain_id), message or typed_data.',
          );
        }
        const client = source.get();
        let payload: MessageInitShape<typeof SignPayloadSchema>['payload'];
        if (args.solana_transaction !== undefined) payload = { case: 'solanaTransaction', value: Buffer.from(args.solana_transaction, 'base64') };
        else if (args.evm_transaction !== undefined) {
          if (args.chain_id === undefined) throw new InputError('evm_transaction needs chain_id', 'Pass chain_id, the chain id inside the transaction.');
          payload = { case: 'evmTransaction', value: { unsignedTransaction: decodeHex(args.evm_transaction), chainId: BigInt(args.chain_id) } };
        } else if (args.typed_data !== undefined) payload = { case: 'evmTypedData', value: typedDataJson(args.typed_data) };
        else {
          const { wallet } = await client.wallets.getWallet({ walletId: args.wallet_id });
          const bytes = decodeMessage(args.message!, args.encoding);
          payload = wallet?.chain === Chain.SOLANA ? { case: 'solanaMessage', value: bytes } : { case: 'evmMessage', value: bytes };
        }
        const res = await client.policies.evaluatePolicy({ walletId: args.wallet_id, payload: { payload } });
        const verdict = verdictName(res.verdict);
        const effects = summarizeEffects(res.effects);
        let next: string;
        switch (res.verdict) {
          case Verdict.INSTANT:
          case Verdict.NOTIFY:
            next = `Signing it now would succeed at once${res.verdict === Verdict.NOTIFY ? " (the wallet's owners are notified)" : ''}.`;
            break;
          case Verdict.DELAY:
            next = `Signing it would answer PENDING: it is signed after ${res.delaySeconds} s unless an owner vetoes; then call wait_for_request.`;
            break;
          case Verdict.APPROVAL:
            next = "Signing it would answer PENDING until the wallet's owner approves it; a smaller or different request may be allowed without approval.";
            break;
          default:
            next =
              `Signing it would be refused (rule "${res.rule}"). Change the request so a rule allows it (read waiaas://wallets/${args.wallet_id}/policy), ` +
              "or ask the wallet's owner to change the policy.";
        }
        const data: Json = {
          verdict,
          ...(res.delaySeconds ? { delay_seconds: res.delaySeconds } : {}),
          rule: res.rule,
          detail: res.detail,
          effects,
          matched_rules: matchedRulesJson(res.matchedRules),
          policy_hash: res.policyHash,
          next_step: next,
        };
        return answer(`Verdict ${verdict} (rule "${res.rule}"): ${res.detail}. ${next}${effects.length ? `\nEffects:\n${effects.map((l) => `- ${l}`).join('\n')}` : ''}`, data);
      }),
  );

  server.registerTool(
    'sign_solana_transaction',
    {
      title: 'Sign a Solana transaction',
      description:
        "Sign a Solana transaction with a Solana wallet's HSM key. transaction: the transaction in wire format, base64 (compact array of signature " +
        'slots, zero-filled, then the message; legacy or v0), e.g. getTransactionEncoder().encode(compileTransaction(message)) from @solana/kit. The ' +
        "wallet's address must be one of its signers (usually the fee payer); other signers' slots are kept. " +
        VERDICTS_HELP +
        ' When signed, returns signed_transaction_base64 (send it with sendTransaction, encoding base64) and signature (base58, the transaction id). ' +
        'The appliance never broadcasts.',
      inputSchema: { wallet_id: walletId, transaction: base64Bytes, request_id: requestId },
      annotations: SIGN_ANNOTATIONS,
    },
    async (args) =>
      run(ctx({ walletId: args.wallet_id }), async () => {
        const res = await source.get().signer.signSolanaTransaction({ walletId: args.wallet_id, transaction: Buffer.from(args.transaction, 'base64'), requestId: args.request_id ?? '' });
        return signAnswer(
          'sign_solana_transaction',
          args.wallet_id,
          res,
          { signed_transaction_base64: base64(res.signedTransaction), signature: res.signature.length ? base58(res.signature) : '' },
          'Broadcast signed_transaction_base64 yourself (sendTransaction with encoding base64); the appliance does not broadcast.',
        );
      }),
  );

  server.registerTool(
    'sign_evm_transaction',
    {
      title: 'Sign an EVM transaction',
      description:
        "Sign an EVM transaction with an EVM wallet's HSM key. unsigned_transaction: 0x-hex of the unsigned serialized transaction — EIP-1559 (type " +
        '0x02), EIP-2930 (0x01), EIP-7702 (0x04) or legacy with an EIP-155 chain id — e.g. viem serializeTransaction() of a transaction without ' +
        'signature. You set nonce, gas and fees; the appliance signs exactly these bytes. chain_id must equal the chain id inside the transaction. ' +
        VERDICTS_HELP +
        ' When signed, returns signed_transaction (0x-hex, for eth_sendRawTransaction) and transaction_hash. The appliance never broadcasts.',
      inputSchema: { wallet_id: walletId, unsigned_transaction: hexBytes, chain_id: chainId, request_id: requestId },
      annotations: SIGN_ANNOTATIONS,
    },
    async (args) =>
      run(ctx({ walletId: args.wallet_id }), async () => {
        const res = await source.get().signer.signEvmTransaction({
          walletId: args.wallet_id,
          unsignedTransaction: decodeHex(args.unsigned_transaction),
          chainId: BigInt(args.chain_id),
          requestId: args.request_id ?? '',
        });
        const sig = res.signature;
        return signAnswer(
          'sign_evm_transaction',
          args.wallet_id,
          res,
          {
            signed_transaction: res.signedTransaction.length ? hex(res.signedTransaction) : '',
            transaction_hash: res.transactionHash.length ? hex(res.transactionHash) : '',
            ...(sig && sig.r.length ? { signature: { r: hex(sig.r), s: hex(sig.s), y_parity: sig.yParity } } : {}),
          },
          'Broadcast signed_transaction yourself with eth_sendRawTransaction; the appliance does not broadcast.',
        );
      }),
  );

  server.registerTool(
    'sign_message',
    {
      title: 'Sign a message',
      description:
        "Sign a message with a wallet, by the wallet's chain. EVM wallet: EIP-191 personal_sign (\"\\x19Ethereum Signed Message:\\n\" + length + message " +
        'is hashed and signed; returns signature, 65 bytes 0x r||s||v, as personal_sign does). Solana wallet: Ed25519 over the text (e.g. Sign-In ' +
        'With Solana) or a serialized off-chain message ("\\xffsolana offchain" …); returns signature in base58 (and hex). message is UTF-8 text by ' +
        'default; set encoding "hex" or "base64" to give bytes. The appliance refuses to sign a bare 32-byte hash or bytes that are a transaction. ' +
        VERDICTS_HELP,
      inputSchema: { wallet_id: walletId, message, encoding, request_id: requestId },
      annotations: SIGN_ANNOTATIONS,
    },
    async (args) =>
      run(ctx({ walletId: args.wallet_id }), async () => {
        const client = source.get();
        const bytes = decodeMessage(args.message, args.encoding);
        const { wallet } = await client.wallets.getWallet({ walletId: args.wallet_id });
        if (wallet?.chain === Chain.SOLANA) {
          const res = await client.signer.signSolanaMessage({ walletId: args.wallet_id, message: bytes, requestId: args.request_id ?? '' });
          return signAnswer(
            'sign_message',
            args.wallet_id,
            res,
            res.signature.length ? { signature: base58(res.signature), signature_hex: hex(res.signature), signed_message_base64: base64(res.signedMessage) } : {},
            'Give the signature (base58) to whoever asked for it.',
          );
        }
        const res = await client.signer.signEvmMessage({ walletId: args.wallet_id, message: bytes, requestId: args.request_id ?? '' });
        return signAnswer('sign_message', args.wallet_id, res, res.signature.length ? { signature: hex(res.signature) } : {}, 'Give the signature (0x, 65 bytes) to whoever asked for it.');
      }),
  );

  server.registerTool(
    'sign_typed_data',
    {
      title: 'Sign EIP-712 typed data',
      description:
        'Sign EIP-712 typed data (eth_signTypedData_v4) with an EVM wallet. typed_data: the object (or its JSON text) with "types", "primaryType", ' +
        '"domain" and "message". The appliance validates it and computes the hash itself; permits (EIP-2612, DAI, Permit2) are judged as the token ' +
        'allowances they grant, so they often need the owner\'s approval. Returns signature (65 bytes 0x r||s||v) and the digest signed. ' +
        VERDICTS_HELP,
      inputSchema: { wallet_id: walletId, typed_data: typedData, request_id: requestId },
      annotations: SIGN_ANNOTATIONS,
    },
    async (args) =>
      run(ctx({ walletId: args.wallet_id }), async () => {
        const res = await source.get().signer.signEvmTypedData({ walletId: args.wallet_id, typedData: typedDataJson(args.typed_data), requestId: args.request_id ?? '' });
        return signAnswer(
          'sign_typed_data',
          args.wallet_id,
          res,
          res.signature.length ? { signature: hex(res.signature), digest: hex(res.digest) } : {},
          'Give the signature (0x, 65 bytes) to whoever asked for it.',
        );
      }),
  );

  server.registerTool(
    'get_request',
    {
      title: 'Look up a sign request',
      description:
        'Look up a sign request by its sign_request_id ("req_…"): state (PENDING, SIGNING, SIGNED, REFUSED, FAILED, CANCELLED, EXPIRED), verdict, ' +
        'deciding rule, decoded effects, times and, once SIGNED, the result (signed transaction or signature). Only requests this agent made are ' +
        'visible. Returns at once; to wait for a PENDING request, use wait_for_request.',
      inputSchema: { sign_request_id: signRequestId },
      annotations: READ_ANNOTATIONS,
    },
    async (args) =>
      run(ctx({ signRequestId: args.sign_request_id }), async () => {
        const { signRequest } = await source.get().requests.getSignRequest({ signRequestId: args.sign_request_id });
        return requestAnswer(signRequest!);
      }),
  );

  server.registerTool(
    'wait_for_request',
    {
      title: 'Wait for a pending sign request',
      description:
        'Wait for a PENDING sign request (after a DELAY or APPROVAL verdict) to be decided, watching it for up to timeout_seconds. Returns as soon as ' +
        'it is final: SIGNED with the result (signed transaction or signature, as the sign tool would have returned), or, as an error, REFUSED / ' +
        'CANCELLED / EXPIRED / FAILED with the reason. If it is still pending at the timeout it says so: call again to keep waiting. Keep ' +
        "timeout_seconds below your client's tool-call timeout (often 60 s); an owner's approval can take much longer.",
      inputSchema: {
        sign_request_id: signRequestId,
        timeout_seconds: z.number().int().min(1).max(600).default(50).describe('How long to wait, 1-600 seconds (default 50).'),
      },
      annotations: READ_ANNOTATIONS,
    },
    async (args, extra) =>
      run(ctx({ signRequestId: args.sign_request_id }), async () => {
        const client = source.get();
        const started = Date.now();
        const timeoutMs = args.timeout_seconds * 1000;
        const progressToken = extra._meta?.progressToken;
        let last: SignRequest | undefined;
        const tick =
          progressToken === undefined
            ? undefined
            : setInterval(() => {
                const elapsed = Math.round((Date.now() - started) / 1000);
                void extra
                  .sendNotification({
                    method: 'notifications/progress',
                    params: { progressToken, progress: elapsed, total: args.timeout_seconds, message: `request ${args.sign_request_id}: ${last ? stateName(last.state) : 'waiting'}` },
                  })
                  .catch(() => {});
              }, 5_000);
        try {
          for await (const m of client.requests.watchSignRequest({ signRequestId: args.sign_request_id }, { deadline: timeoutMs, signal: extra.signal })) {
            last = m.signRequest;
            if (last && FINAL_STATES.has(last.state)) break;
          }
        } catch (e) {
          const timedOut = e instanceof WaiaasClientError && (e.code === status.DEADLINE_EXCEEDED || e.code === status.CANCELLED) && !e.reason;
          if (!timedOut) throw e;
        } finally {
          if (tick) clearInterval(tick);
        }
        if (!last) last = (await client.requests.getSignRequest({ signRequestId: args.sign_request_id })).signRequest!;
        if (last.state === SignRequestState.SIGNED) {
          const data = { status: 'SIGNED', ...signRequestJson(last) };
          return answer(
            `Request ${last.signRequestId} is SIGNED (verdict ${verdictName(last.verdict)}). "result" holds the ${last.kind.endsWith('transaction') ? 'signed transaction; broadcast it yourself' : 'signature'}.`,
            data,
          );
        }
        if (FINAL_STATES.has(last.state)) return endedAnswer(last, ctx({ walletId: last.walletId, signRequestId: last.signRequestId }));
        const waited = Math.round((Date.now() - started) / 1000);
        const next = last.state === SignRequestState.PENDING ? pendingNextStep(last) : `Call wait_for_request with sign_request_id "${last.signRequestId}" again.`;
        return answer(`Still ${stateName(last.state)} after waiting ${waited} s: request ${last.signRequestId} is not decided yet. ${next}`, {
          status: stateName(last.state),
          waited_seconds: waited,
          ...signRequestJson(last),
          next_step: next,
        });
      }),
  );

  server.registerTool(
    'cancel_request',
    {
      title: 'Cancel a pending sign request',
      description:
        'Withdraw a PENDING sign request this agent made (for example to replace it with a smaller one): it will never be signed and its reserved ' +
        'spend is released. Only PENDING requests can be cancelled.',
      inputSchema: { sign_request_id: signRequestId },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async (args) =>
      run(ctx({ signRequestId: args.sign_request_id }), async () => {
        const { signRequest } = await source.get().requests.cancelSignRequest({ signRequestId: args.sign_request_id });
        const data = signRequestJson(signRequest!);
        return answer(`Request ${args.sign_request_id} is ${data.state}: it will not be signed.`, data);
      }),
  );
}
