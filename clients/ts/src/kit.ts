/**
 * A @solana/kit signer backed by the appliance: a TransactionPartialSigner and MessagePartialSigner, so kit's
 * `signTransactionMessageWithSigners`, `setTransactionMessageFeePayerSigner`, instruction account signers and
 * `signMessage`-style helpers work unchanged while the key stays on the HSM under the wallet's policy.
 *
 *   const signer = await waiaasKitSigner({ client, walletId, timeoutMs: 120_000 });
 *   const message = pipe(createTransactionMessage({ version: 0 }), (m) => setTransactionMessageFeePayerSigner(signer, m), ...);
 *   const tx = await signTransactionMessageWithSigners(message);
 *
 * A DENY throws WaiaasDeniedError; a pending request that ends unsigned WaiaasRequestEndedError; a wait longer than
 * `timeoutMs` WaiaasTimeoutError (see wait.ts).
 */
import type {
  Address,
  MessagePartialSigner,
  SignableMessage,
  SignatureBytes,
  SignatureDictionary,
  Transaction,
  TransactionPartialSigner,
} from '@solana/kit';
import { Chain } from '../../../gen/waiaas/v1/wallet_pb.js';
import type { WaiaasClient } from './index.ts';
import { signAndWait, type SignAndWaitOptions } from './wait.ts';

/** Options of waiaasKitSigner. */
export interface WaiaasKitSignerOptions {
  /** A client with an agent certificate allowed to sign for the wallet. */
  client: Pick<WaiaasClient, 'wallets' | 'signer' | 'requests'>;
  /** The Solana wallet ("wlt_..."). */
  walletId: string;
  /** The address the caller expects; the wallet's address (from GetWallet) must equal it. */
  address?: string;
  /** How long a DELAY / APPROVAL request is waited for before WaiaasTimeoutError. Default: no limit. */
  timeoutMs?: number;
  /** Cancel a request on the appliance when its wait times out. Default false. */
  cancelOnTimeout?: boolean;
  /** Called when a request answers PENDING (DELAY or APPROVAL), before waiting. */
  onPending?: SignAndWaitOptions['onPending'];
}

/** The signer: kit's partial signer interfaces, plus the wallet id. */
export type WaiaasKitSigner<TAddress extends string = string> = TransactionPartialSigner<TAddress> &
  MessagePartialSigner<TAddress> & { readonly walletId: string };

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A kit signer for a Solana wallet on the appliance. Reads the wallet (GetWallet) for its address; refuses a wallet
 * that is not a Solana wallet or whose address is not `address`.
 *
 * - `signTransactions(transactions, { abortSignal })`: for each transaction (one after the other), encodes it to wire
 *   bytes (getTransactionEncoder), calls SignSolanaTransaction, waits when the verdict is DELAY or APPROVAL, checks
 *   that the message signed is the transaction's message and that the signature verifies against the wallet's key,
 *   and returns `{ [address]: signature }`.
 * - `signMessages(messages, { abortSignal })`: SignSolanaMessage over each message's content (an off-chain message or
 *   UTF-8 text; the appliance signs exactly those bytes), returning `{ [address]: signature }`.
 */
export async function waiaasKitSigner(opts: WaiaasKitSignerOptions): Promise<WaiaasKitSigner> {
  // @solana/kit is loaded here, not when the client is imported: programs that never use this adapter do not pay for it.
  const { address: toAddress, getPublicKeyFromAddress, getTransactionDecoder, getTransactionEncoder, verifySignature } = await import('@solana/kit');
  const { client, walletId } = opts;
  const wallet = (await client.wallets.getWallet({ walletId })).wallet;
  if (!wallet) throw new Error(`GetWallet returned no wallet for ${walletId}`);
  if (wallet.chain !== Chain.SOLANA) throw new Error(`wallet ${walletId} is not a Solana wallet`);
  const address: Address = toAddress(wallet.address);
  if (opts.address !== undefined && opts.address !== address) throw new Error(`wallet ${walletId} has address ${address}, not ${opts.address}`);
  const publicKey = await getPublicKeyFromAddress(address);

  const waitOptions = (abortSignal: AbortSignal | undefined): SignAndWaitOptions => ({
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(abortSignal ? { signal: abortSignal } : {}),
    ...(opts.cancelOnTimeout ? { cancelOnTimeout: true } : {}),
    ...(opts.onPending ? { onPending: opts.onPending } : {}),
  });
  const verified = async (signature: Uint8Array, data: Uint8Array, what: string): Promise<SignatureBytes> => {
    if (signature.length !== 64 || !(await verifySignature(publicKey, signature as SignatureBytes, data))) {
      throw new Error(`the appliance returned a ${what} signature that does not verify against ${address}`);
    }
    return signature as SignatureBytes;
  };

  return Object.freeze({
    address,
    walletId,
    async signTransactions(transactions: readonly Transaction[], config?: { abortSignal?: AbortSignal }): Promise<readonly SignatureDictionary[]> {
      const out: SignatureDictionary[] = [];
      for (const transaction of transactions) {
        config?.abortSignal?.throwIfAborted();
        const wire = new Uint8Array(getTransactionEncoder().encode(transaction));
        const done = await signAndWait(
          client,
          () => client.signer.signSolanaTransaction({ walletId, transaction: wire }, config?.abortSignal ? { signal: config.abortSignal } : {}),
          waitOptions(config?.abortSignal),
        );
        const signed = getTransactionDecoder().decode(done.result.signedTransaction);
        if (!equalBytes(new Uint8Array(signed.messageBytes), new Uint8Array(transaction.messageBytes))) {
          throw new Error('the appliance returned a signed transaction whose message differs from the one asked for');
        }
        const inSlot = signed.signatures[address];
        if (!inSlot || !equalBytes(new Uint8Array(inSlot), done.result.signature)) throw new Error(`the appliance did not put its signature in ${address}'s slot`);
        const signature = await verified(done.result.signature, new Uint8Array(transaction.messageBytes), 'transaction');
        out.push(Object.freeze({ [address]: signature }));
      }
      return out;
    },
    async signMessages(messages: readonly SignableMessage[], config?: { abortSignal?: AbortSignal }): Promise<readonly SignatureDictionary[]> {
      const out: SignatureDictionary[] = [];
      for (const message of messages) {
        config?.abortSignal?.throwIfAborted();
        const content = new Uint8Array(message.content);
        const done = await signAndWait(
          client,
          () => client.signer.signSolanaMessage({ walletId, message: content }, config?.abortSignal ? { signal: config.abortSignal } : {}),
          waitOptions(config?.abortSignal),
        );
        if (!equalBytes(done.result.signedMessage, content)) throw new Error('the appliance signed other bytes than the message content');
        out.push(Object.freeze({ [address]: await verified(done.result.signature, content, 'message') }));
      }
      return out;
    },
  });
}
