/**
 * Test support for EVM chains: build unsigned transactions with viem, and execute signed ones in @ethereumjs/vm (a
 * full EVM with signature recovery, hardfork Prague) to prove that what the server signed really runs.
 */
import { createCustomCommon, Hardfork, Mainnet, type Common } from '@ethereumjs/common';
import { createTxFromRLP } from '@ethereumjs/tx';
import { Account, createAddressFromString } from '@ethereumjs/util';
import { createVM, runTx } from '@ethereumjs/vm';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes, serializeTransaction, type AccessList, type Hex, type SignedAuthorizationList } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const GWEI = 1_000_000_000n;

/** A Common for `chainId` at hardfork Prague (EIP-7702 active). */
export function evmCommon(chainId: bigint): Common {
  return createCustomCommon({ chainId: Number(chainId) }, Mainnet, { hardfork: Hardfork.Prague });
}

/** A random secp256k1 key, its 65-byte uncompressed public key and its checksummed address. */
export function newEvmKey(): { secretKey: Uint8Array; publicKey: Uint8Array; address: string } {
  const secretKey = secp256k1.utils.randomSecretKey();
  const publicKey = secp256k1.getPublicKey(secretKey, false);
  return { secretKey, publicKey, address: privateKeyToAccount(bytesToHex(secretKey)).address };
}

/** Result of executing a transaction in @ethereumjs/vm. */
export interface EvmExecution {
  ok: boolean;
  error?: string;
  /** Wei held by `addr` after the transaction. */
  balance(addr: string): Promise<bigint>;
  /** The recovered sender, lower-case 0x ('' when the transaction did not even decode). */
  sender: string;
}

/**
 * Executes a signed transaction on a fresh VM where each `fund` address holds the given wei. The sender's account nonce
 * is set to the transaction's nonce, so a transaction with any nonce can run; everything else (signature, chain id,
 * balance, gas) is checked by the VM.
 */
export async function executeEvm(opts: { signedTx: Uint8Array; chainId: bigint; fund: Record<string, bigint> }): Promise<EvmExecution> {
  const common = evmCommon(opts.chainId);
  const vm = await createVM({ common });
  const balance = async (addr: string): Promise<bigint> =>
    (await vm.stateManager.getAccount(createAddressFromString(addr.toLowerCase())))?.balance ?? 0n;
  let tx;
  let sender: string;
  try {
    tx = createTxFromRLP(opts.signedTx, { common });
    sender = tx.getSenderAddress().toString().toLowerCase();
  } catch (e) {
    return { ok: false, error: `transaction does not decode: ${(e as Error).message}`, balance, sender: '' };
  }
  for (const [addr, wei] of Object.entries(opts.fund)) {
    const nonce = addr.toLowerCase() === sender ? tx.nonce : 0n;
    await vm.stateManager.putAccount(createAddressFromString(addr.toLowerCase()), new Account(nonce, wei));
  }
  try {
    const result = await runTx(vm, { tx });
    const failure = result.execResult.exceptionError;
    return failure ? { ok: false, error: failure.error, balance, sender } : { ok: true, balance, sender };
  } catch (e) {
    return { ok: false, error: (e as Error).message, balance, sender };
  }
}

/** Fields shared by the unsigned-transaction builders. `to: null` builds a contract creation. */
export interface UnsignedEvmBase {
  to: string | null;
  value: bigint;
  nonce?: number;
  /** Gas limit; defaults to 21 000 without data, 200 000 with. */
  gas?: bigint;
  data?: Hex;
}

function base(opts: UnsignedEvmBase) {
  const data = opts.data && opts.data !== '0x' ? opts.data : undefined;
  return {
    ...(opts.to === null ? {} : { to: opts.to as Hex }),
    value: opts.value,
    nonce: opts.nonce ?? 0,
    gas: opts.gas ?? (data ? 200_000n : 21_000n),
    ...(data ? { data } : {}),
  };
}

/** Unsigned EIP-1559 (type 0x02) bytes, serialized by viem. */
export function unsignedEip1559(
  opts: UnsignedEvmBase & { chainId: bigint; maxFeePerGas?: bigint; maxPriorityFeePerGas?: bigint; accessList?: AccessList },
): Uint8Array {
  return hexToBytes(
    serializeTransaction({
      type: 'eip1559',
      chainId: Number(opts.chainId),
      ...base(opts),
      maxFeePerGas: opts.maxFeePerGas ?? 2n * GWEI,
      maxPriorityFeePerGas: opts.maxPriorityFeePerGas ?? GWEI,
      ...(opts.accessList ? { accessList: opts.accessList } : {}),
    }),
  );
}

/** Unsigned EIP-2930 (type 0x01) bytes, serialized by viem. */
export function unsignedEip2930(opts: UnsignedEvmBase & { chainId: bigint; gasPrice?: bigint; accessList?: AccessList }): Uint8Array {
  return hexToBytes(
    serializeTransaction({
      type: 'eip2930',
      chainId: Number(opts.chainId),
      ...base(opts),
      gasPrice: opts.gasPrice ?? 2n * GWEI,
      accessList: opts.accessList ?? [],
    }),
  );
}

/** Unsigned EIP-7702 (type 0x04) bytes, serialized by viem; `authorizationList` holds signed authorizations. */
export function unsignedEip7702(
  opts: UnsignedEvmBase & {
    chainId: bigint;
    to: string;
    authorizationList: SignedAuthorizationList;
    maxFeePerGas?: bigint;
    maxPriorityFeePerGas?: bigint;
  },
): Uint8Array {
  return hexToBytes(
    serializeTransaction({
      type: 'eip7702',
      chainId: Number(opts.chainId),
      ...base(opts),
      gas: opts.gas ?? 100_000n,
      maxFeePerGas: opts.maxFeePerGas ?? 2n * GWEI,
      maxPriorityFeePerGas: opts.maxPriorityFeePerGas ?? GWEI,
      authorizationList: opts.authorizationList,
    }),
  );
}

/**
 * Unsigned legacy bytes, serialized by viem: the EIP-155 form [nonce, gasPrice, gas, to, value, data, chainId, 0, 0],
 * or the pre-EIP-155 6-field list when `chainId` is null.
 */
export function unsignedLegacy(opts: UnsignedEvmBase & { chainId: bigint | null; gasPrice?: bigint }): Uint8Array {
  return hexToBytes(
    serializeTransaction({
      type: 'legacy',
      ...(opts.chainId === null ? {} : { chainId: Number(opts.chainId) }),
      ...base(opts),
      gasPrice: opts.gasPrice ?? 2n * GWEI,
    }),
  );
}
