/**
 * A tiny EIP-1193 provider over an @ethereumjs/vm (test/support/evm.ts), so that viem clients can run their usual
 * actions (sendTransaction, writeContract, readContract, getBalance) against a real EVM in-process:
 * `createWalletClient({ account, chain, transport: custom(evmRpc(vm)) })`.
 *
 * It answers the methods viem uses to prepare, send and read transactions: eth_chainId, eth_blockNumber,
 * eth_getBlockByNumber (one ever-latest block with the VM's base fee), eth_getTransactionCount, eth_getBalance,
 * eth_gasPrice, eth_maxPriorityFeePerGas, eth_estimateGas (a call on a checkpoint that is rolled back), eth_call,
 * eth_sendRawTransaction (executes the transaction at once, so it is "mined" when the hash is returned) and
 * eth_getTransactionReceipt. Anything else (eth_fillTransaction included) is JSON-RPC -32601, as a node that lacks a
 * method answers, and viem falls back to the individual calls.
 */
import { createTxFromRLP } from '@ethereumjs/tx';
import { createAddressFromString } from '@ethereumjs/util';
import { runTx, type VM } from '@ethereumjs/vm';
import { bytesToHex, hexToBigInt, hexToBytes, keccak256, numberToHex, type Hex } from 'viem';
import { evmBalance } from './evm.ts';

/**
 * The base fee of @ethereumjs/vm's default block header (runTx without a block uses it): what eth_getBlockByNumber
 * reports, so fees estimated by viem are what the VM charges.
 */
export const VM_BASE_FEE = 7n;
const PRIORITY_FEE = 1_000_000_000n;
const BLOCK_GAS_LIMIT = 30_000_000n;

/** A JSON-RPC error, as viem expects a provider to throw it. */
export class RpcError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** What eth_sendRawTransaction recorded for a transaction. */
export interface EvmRpcReceipt {
  hash: Hex;
  from: string;
  to: string | null;
  status: 'success' | 'reverted';
  gasUsed: bigint;
  error?: string;
  blockNumber: bigint;
}

/** The provider, with what it saw. */
export interface EvmRpc {
  request(args: { method: string; params?: unknown }): Promise<unknown>;
  /** Every JSON-RPC method called, in order. */
  calls: string[];
  /** Receipts by transaction hash (lower-case). */
  receipts: Map<string, EvmRpcReceipt>;
  /** Raw transactions sent, in order. */
  sent: Hex[];
}

interface CallArgs {
  from?: Hex;
  to?: Hex | null;
  value?: Hex;
  data?: Hex;
  input?: Hex;
  gas?: Hex;
}

function intrinsicGas(data: Uint8Array, creation: boolean): bigint {
  let gas = 21_000n + (creation ? 32_000n : 0n);
  for (const b of data) gas += b === 0 ? 4n : 16n;
  return gas;
}

/** An EIP-1193 provider over `vm` (chain id from the VM's Common). */
export function evmRpc(vm: VM): EvmRpc {
  const chainId = vm.common.chainId();
  let blockNumber = 1n;
  const calls: string[] = [];
  const receipts = new Map<string, EvmRpcReceipt>();
  const sent: Hex[] = [];

  /** Runs a call on a checkpoint and rolls it back. */
  const simulate = async (args: CallArgs) => {
    const data = hexToBytes(args.data ?? args.input ?? '0x');
    const from = args.from ?? `0x${'00'.repeat(20)}`;
    await vm.stateManager.checkpoint();
    try {
      const result = await vm.evm.runCall({
        caller: createAddressFromString(from.toLowerCase()),
        origin: createAddressFromString(from.toLowerCase()),
        ...(args.to ? { to: createAddressFromString(args.to.toLowerCase()) } : {}),
        value: args.value ? hexToBigInt(args.value) : 0n,
        data,
        gasLimit: args.gas ? hexToBigInt(args.gas) : BLOCK_GAS_LIMIT,
      });
      return { result, data };
    } finally {
      await vm.stateManager.revert();
    }
  };

  const block = () => ({
    number: numberToHex(blockNumber),
    hash: keccak256(numberToHex(blockNumber, { size: 32 })),
    parentHash: keccak256(numberToHex(blockNumber - 1n, { size: 32 })),
    timestamp: numberToHex(1_700_000_000n + blockNumber * 12n),
    baseFeePerGas: numberToHex(VM_BASE_FEE),
    gasLimit: numberToHex(BLOCK_GAS_LIMIT),
    gasUsed: '0x0',
    miner: `0x${'00'.repeat(20)}`,
    difficulty: '0x0',
    totalDifficulty: '0x0',
    extraData: '0x',
    nonce: '0x0000000000000000',
    size: '0x0',
    logsBloom: `0x${'00'.repeat(256)}`,
    mixHash: `0x${'00'.repeat(32)}`,
    sha3Uncles: `0x${'00'.repeat(32)}`,
    stateRoot: `0x${'00'.repeat(32)}`,
    receiptsRoot: `0x${'00'.repeat(32)}`,
    transactionsRoot: `0x${'00'.repeat(32)}`,
    transactions: [],
    uncles: [],
  });

  const handlers: Record<string, (params: unknown[]) => Promise<unknown>> = {
    eth_chainId: async () => numberToHex(chainId),
    net_version: async () => chainId.toString(),
    eth_blockNumber: async () => numberToHex(blockNumber),
    eth_getBlockByNumber: async () => block(),
    eth_gasPrice: async () => numberToHex(VM_BASE_FEE + PRIORITY_FEE),
    eth_maxPriorityFeePerGas: async () => numberToHex(PRIORITY_FEE),
    eth_getTransactionCount: async ([addr]) => {
      const account = await vm.stateManager.getAccount(createAddressFromString((addr as string).toLowerCase()));
      return numberToHex(account?.nonce ?? 0n);
    },
    eth_getBalance: async ([addr]) => numberToHex(await evmBalance(vm, addr as string)),
    eth_call: async ([args]) => {
      const { result } = await simulate(args as CallArgs);
      if (result.execResult.exceptionError) throw new RpcError(3, `execution reverted: ${result.execResult.exceptionError.error}`);
      return bytesToHex(result.execResult.returnValue);
    },
    eth_estimateGas: async ([args]) => {
      const a = args as CallArgs;
      const { result, data } = await simulate({ ...a, gas: undefined });
      if (result.execResult.exceptionError) throw new RpcError(3, `execution reverted: ${result.execResult.exceptionError.error}`);
      const gas = intrinsicGas(data, !a.to) + result.execResult.executionGasUsed;
      // A margin, as a node's binary search would find room for refunds and the 63/64 rule.
      return numberToHex(data.length === 0 && result.execResult.executionGasUsed === 0n ? gas : (gas * 13n) / 10n);
    },
    eth_sendRawTransaction: async ([raw]) => {
      const bytes = hexToBytes(raw as Hex);
      let tx;
      try {
        tx = createTxFromRLP(bytes, { common: vm.common });
      } catch (e) {
        throw new RpcError(-32602, `transaction does not decode: ${(e as Error).message}`);
      }
      const hash = keccak256(bytes);
      let result;
      try {
        result = await runTx(vm, { tx });
      } catch (e) {
        // Invalid (nonce, balance, signature, fees): a node refuses it outright.
        throw new RpcError(-32000, (e as Error).message);
      }
      sent.push(raw as Hex);
      blockNumber += 1n;
      const error = result.execResult.exceptionError?.error;
      receipts.set(hash.toLowerCase(), {
        hash,
        from: tx.getSenderAddress().toString().toLowerCase(),
        to: tx.to ? tx.to.toString().toLowerCase() : null,
        status: error ? 'reverted' : 'success',
        gasUsed: result.totalGasSpent,
        ...(error ? { error } : {}),
        blockNumber,
      });
      return hash;
    },
    eth_getTransactionReceipt: async ([hash]) => {
      const r = receipts.get((hash as string).toLowerCase());
      if (!r) return null;
      return {
        transactionHash: r.hash,
        transactionIndex: '0x0',
        blockHash: keccak256(numberToHex(r.blockNumber, { size: 32 })),
        blockNumber: numberToHex(r.blockNumber),
        from: r.from,
        to: r.to,
        cumulativeGasUsed: numberToHex(r.gasUsed),
        gasUsed: numberToHex(r.gasUsed),
        effectiveGasPrice: numberToHex(VM_BASE_FEE + PRIORITY_FEE),
        contractAddress: null,
        logs: [],
        logsBloom: `0x${'00'.repeat(256)}`,
        status: r.status === 'success' ? '0x1' : '0x0',
        type: '0x2',
      };
    },
  };

  return {
    calls,
    receipts,
    sent,
    async request({ method, params }) {
      calls.push(method);
      const handler = handlers[method];
      if (!handler) throw new RpcError(-32601, `the method ${method} does not exist/is not available`);
      return handler(Array.isArray(params) ? params : []);
    },
  };
}
