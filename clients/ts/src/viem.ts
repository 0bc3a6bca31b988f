/**
 * A viem account backed by the appliance: agents keep using viem (`createWalletClient`, `sendTransaction`,
 * `writeContract`, `signMessage`, `signTypedData`) while every signature is made on the HSM under the wallet's policy.
 *
 *   const account = await waiaasAccount({ client, walletId, timeoutMs: 120_000 });
 *   const wallet = createWalletClient({ account, chain: mainnet, transport: http() });
 *   await wallet.sendTransaction({ to, value: parseEther('0.01') });   // DELAY / APPROVAL: resolves once signed
 *
 * A DENY throws WaiaasDeniedError (rule, matched rules); a pending request that ends unsigned throws
 * WaiaasRequestEndedError; a wait longer than `timeoutMs` throws WaiaasTimeoutError (see wait.ts).
 */
import type {
  Address,
  Hex,
  LocalAccount,
  SerializeTransactionFn,
  SignableMessage,
  TransactionSerializable,
  TransactionSerializableLegacy,
  TypedDataDefinition,
} from 'viem';
import { Chain } from '../../../gen/waiaas/v1/wallet_pb.js';
import type { WaiaasClient } from './index.ts';
import { signAndWait, type SignAndWaitOptions, type SignedRequest } from './wait.ts';

/** Options of waiaasAccount. */
export interface WaiaasAccountOptions {
  /** A client with an agent certificate allowed to sign for the wallet. */
  client: Pick<WaiaasClient, 'wallets' | 'signer' | 'requests'>;
  /** The EVM wallet ("wlt_..."). */
  walletId: string;
  /** The address the caller expects; the wallet's address (from GetWallet) must equal it. */
  address?: string;
  /** How long a DELAY / APPROVAL request is waited for before WaiaasTimeoutError. Default: no limit. */
  timeoutMs?: number;
  /** Stops every wait of this account. */
  signal?: AbortSignal;
  /** Cancel a request on the appliance when its wait times out. Default false. */
  cancelOnTimeout?: boolean;
  /** Called when a request answers PENDING (DELAY or APPROVAL), before waiting. */
  onPending?: SignAndWaitOptions['onPending'];
}

/** The account: a viem LocalAccount (source `waiaas`) with the wallet id. */
export type WaiaasAccount = LocalAccount<'waiaas'> & { walletId: string };

/**
 * A viem account whose signatures come from the appliance. Reads the wallet (GetWallet) for its address and public
 * key; refuses a wallet that is not an EVM wallet or whose address is not `address`.
 *
 * - `signTransaction(tx, { serializer })` serializes the unsigned transaction (viem's serializeTransaction, or the
 *   chain's serializer), calls SignEvmTransaction with its chain id, waits when the verdict is DELAY or APPROVAL,
 *   checks that the signed transaction is exactly the one asked for, signed by the wallet, and returns it.
 * - `signMessage({ message })` calls SignEvmMessage (EIP-191) and returns the 65-byte signature.
 * - `signTypedData(def)` calls SignEvmTypedData with the eth_signTypedData_v4 JSON (bigints as decimal strings).
 * - `sign({ hash })` is not offered: the appliance never signs a bare hash.
 */
export async function waiaasAccount(opts: WaiaasAccountOptions): Promise<WaiaasAccount> {
  // viem is loaded here, not when the client is imported: programs that never use this adapter do not pay for it.
  const {
    bytesToHex, getAddress, getTypesForEIP712Domain, hexToBytes, isAddressEqual, recoverMessageAddress, recoverTransactionAddress,
    recoverTypedDataAddress, serializeTransaction, serializeTypedData, stringToBytes,
  } = await import('viem');
  const { toAccount } = await import('viem/accounts');
  const messageBytes = (message: SignableMessage): Uint8Array =>
    typeof message === 'string' ? stringToBytes(message) : typeof message.raw === 'string' ? hexToBytes(message.raw) : message.raw;
  const { client, walletId } = opts;
  const wallet = (await client.wallets.getWallet({ walletId })).wallet;
  if (!wallet) throw new Error(`GetWallet returned no wallet for ${walletId}`);
  if (wallet.chain !== Chain.EVM) throw new Error(`wallet ${walletId} is not an EVM wallet`);
  const address = getAddress(wallet.address);
  if (opts.address !== undefined && !isAddressEqual(getAddress(opts.address), address)) {
    throw new Error(`wallet ${walletId} has address ${address}, not ${opts.address}`);
  }
  const waitOptions: SignAndWaitOptions = {
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.cancelOnTimeout ? { cancelOnTimeout: true } : {}),
    ...(opts.onPending ? { onPending: opts.onPending } : {}),
  };
  const run = (call: Parameters<typeof signAndWait>[1]): Promise<SignedRequest> => signAndWait(client, call, waitOptions);
  const checkSigner = (recovered: Address, what: string): void => {
    if (!isAddressEqual(recovered, address)) throw new Error(`the appliance returned a ${what} signed by ${recovered}, not by ${address}`);
  };

  const account = toAccount({
    address,
    async signTransaction(transaction, options) {
      const tx = transaction as TransactionSerializable;
      const serializer = (options?.serializer ?? serializeTransaction) as SerializeTransactionFn<TransactionSerializable>;
      if (tx.chainId === undefined) throw new Error('waiaasAccount.signTransaction: the transaction has no chainId (the appliance signs only transactions bound to a chain)');
      const unsigned = await serializer(tx);
      const done = await run(() => client.signer.signEvmTransaction({ walletId, unsignedTransaction: hexToBytes(unsigned), chainId: BigInt(tx.chainId!) }));
      const signed = bytesToHex(done.result.signedTransaction);
      // What came back must be the transaction we serialized, with the signature the appliance reports.
      const sig = done.result.signature;
      if (sig.length !== 64) throw new Error(`the appliance returned a ${sig.length}-byte transaction signature`);
      const yParity = done.result.yParity;
      const expected = await serializer(tx, { r: bytesToHex(sig.slice(0, 32)), s: bytesToHex(sig.slice(32)), yParity, v: BigInt(27 + yParity) } as Parameters<typeof serializeTransaction>[1] & Pick<TransactionSerializableLegacy, 'v'>);
      if (expected.toLowerCase() !== signed.toLowerCase()) throw new Error('the appliance returned a signed transaction that differs from the one asked for');
      if (options?.serializer === undefined) checkSigner(await recoverTransactionAddress({ serializedTransaction: signed as never }), 'transaction');
      return signed;
    },
    async signMessage({ message }) {
      const done = await run(() => client.signer.signEvmMessage({ walletId, message: messageBytes(message) }));
      const signature = bytesToHex(done.result.signature);
      checkSigner(await recoverMessageAddress({ message, signature }), 'message');
      return signature;
    },
    async signTypedData(parameters) {
      const def = parameters as unknown as TypedDataDefinition;
      const types = { EIP712Domain: getTypesForEIP712Domain({ domain: def.domain }), ...def.types };
      const full = { ...def, types } as unknown as TypedDataDefinition;
      const typedData = serializeTypedData(full);
      const done = await run(() => client.signer.signEvmTypedData({ walletId, typedData }));
      const signature: Hex = bytesToHex(done.result.signature);
      checkSigner(await recoverTypedDataAddress({ ...full, signature }), 'typed data');
      return signature;
    },
  });
  const publicKey = wallet.key?.publicKey?.length ? bytesToHex(wallet.key.publicKey) : ('0x' as Hex);
  return { ...account, publicKey, source: 'waiaas', walletId } as WaiaasAccount;
}
