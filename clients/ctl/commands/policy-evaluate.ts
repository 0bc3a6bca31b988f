/**
 * `waiaas-ctl policy evaluate`: a dry run. The appliance decodes the payload exactly as it would to sign it, and runs
 * the wallet's policy (or a candidate document) on the decoded effects: verdict, deciding rule, matched rules,
 * effects. Nothing is signed or reserved. The exit code is 0 whatever the verdict (read it from the output).
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { SignPayloadSchema } from '../../../gen/waiaas/v1/sign_request_pb.js';
import { defineCommand, hexBytes, idArg, positionals, str } from '../lib/command.ts';
import { effectLines, evaluationJson, MATCHED_RULE_HEADERS, matchedRuleRows, verdictText } from '../lib/convert.ts';
import { UsageError } from '../lib/errors.ts';
import { inputText, textInput, type TextInput } from '../lib/files.ts';

const PAYLOAD_FLAGS = ['solana-tx', 'evm-tx', 'evm-message', 'typed-data', 'solana-message'] as const;

export default defineCommand({
  name: 'policy evaluate',
  summary: 'dry-run the policy on a transaction or message (nothing is signed)',
  usage: 'WALLET_ID (--solana-tx HEX | --evm-tx HEX --chain-id N | --evm-message TEXT | --typed-data FILE | --solana-message TEXT) [--file CANDIDATE]',
  args: ['WALLET_ID'],
  description:
    'Give exactly one payload. Transactions are hex (0x optional): a Solana wire transaction (signature slots then\n' +
    'the message), or an unsigned EVM transaction with its chain id. With --file, the candidate document is\n' +
    'evaluated instead of the current policy (and validated: errors name the field, exit 3).',
  options: {
    'solana-tx': { type: 'string', value: 'HEX', help: 'a Solana wire transaction' },
    'evm-tx': { type: 'string', value: 'HEX', help: 'an unsigned EVM transaction (needs --chain-id)' },
    'chain-id': { type: 'string', value: 'N', help: 'the EVM chain id of --evm-tx' },
    'evm-message': { type: 'string', value: 'TEXT', help: 'an EIP-191 personal message' },
    'typed-data': { type: 'string', value: 'FILE', help: 'EIP-712 typed data JSON (- for standard input)', complete: 'file' },
    'solana-message': { type: 'string', value: 'TEXT', help: 'a Solana off-chain message or sign-in text' },
    file: { type: 'string', value: 'FILE', help: 'a candidate policy document to evaluate instead of the current one', complete: 'file' },
  },
  examples: [
    'policy evaluate wlt_01JD8X3M5Q2W7R9T4Y6V8K0N1P --solana-tx 01000000…',
    'policy evaluate wlt_01JD8X3M5Q2W7R9T4Y6V8K0N2Q --evm-tx 0x02f86b01… --chain-id 1 --file new-policy.json',
    'policy evaluate wlt_01JD8X3M5Q2W7R9T4Y6V8K0N2Q --typed-data permit.json --json | jq -r .verdict',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { WALLET_ID } = positionals(input, ['WALLET_ID']);
    const given = PAYLOAD_FLAGS.filter((f) => input.values[f] !== undefined);
    if (given.length !== 1) throw new UsageError(given.length === 0 ? 'give one payload: --solana-tx, --evm-tx, --evm-message, --typed-data or --solana-message' : `give only one payload (got --${given.join(', --')})`);
    const chainIdText = str(input, 'chain-id');
    if (chainIdText !== undefined && given[0] !== 'evm-tx') throw new UsageError('--chain-id goes with --evm-tx');
    let payload: MessageInitShape<typeof SignPayloadSchema> | undefined;
    let typedData: TextInput | undefined;
    switch (given[0]) {
      case 'solana-tx':
        payload = { payload: { case: 'solanaTransaction', value: hexBytes(str(input, 'solana-tx')!, '--solana-tx') } };
        break;
      case 'evm-tx': {
        if (chainIdText === undefined) throw new UsageError('--evm-tx needs --chain-id N');
        if (!/^[1-9]\d{0,19}$/.test(chainIdText) || BigInt(chainIdText) >= 2n ** 64n) throw new UsageError(`--chain-id must be a positive whole number (got "${chainIdText}")`);
        payload = { payload: { case: 'evmTransaction', value: { unsignedTransaction: hexBytes(str(input, 'evm-tx')!, '--evm-tx'), chainId: BigInt(chainIdText) } } };
        break;
      }
      case 'evm-message':
        payload = { payload: { case: 'evmMessage', value: new TextEncoder().encode(str(input, 'evm-message')!) } };
        break;
      case 'solana-message':
        payload = { payload: { case: 'solanaMessage', value: new TextEncoder().encode(str(input, 'solana-message')!) } };
        break;
      case 'typed-data':
        typedData = textInput(str(input, 'typed-data')!, 'typed-data');
        break;
    }
    const file = str(input, 'file');
    const candidate = file === undefined ? undefined : textInput(file, 'file');
    if (candidate && typedData && candidate.text === undefined && typedData.text === undefined) throw new UsageError('only one of --file and --typed-data can read standard input');
    return { walletId: idArg(WALLET_ID!, 'wlt_', 'WALLET_ID'), payload, typedData, candidate };
  },
  async run(o, ctx) {
    const payload = o.typedData ? { payload: { case: 'evmTypedData' as const, value: await inputText(o.typedData, ctx) } } : o.payload!;
    const candidateDocument = o.candidate ? await inputText(o.candidate, ctx) : '';
    const { policies } = await ctx.clients();
    const res = await policies.evaluatePolicy({ walletId: o.walletId, payload, candidateDocument }, ctx.call());
    if (ctx.json) {
      ctx.out.data({ ...evaluationJson(o.walletId, res), candidate: o.candidate ? o.candidate.name : null });
      return;
    }
    ctx.out.kv([
      ['verdict', verdictText(res.verdict, res.delaySeconds)],
      ['rule', res.rule || '-'],
      ['detail', res.detail || '-'],
      ['policy', `${res.policyHash || '(none)'}${o.candidate ? ` (candidate ${o.candidate.name})` : ' (current)'}`],
    ]);
    ctx.out.line();
    ctx.out.line('effects:');
    const lines = effectLines(res.effects);
    ctx.out.line(lines.length > 0 ? lines.map((l) => `  ${l}`).join('\n') : '  (none)');
    ctx.out.line();
    ctx.out.line('matched rules:');
    ctx.out.table(MATCHED_RULE_HEADERS, matchedRuleRows(res.matchedRules), '(none)');
  },
});
