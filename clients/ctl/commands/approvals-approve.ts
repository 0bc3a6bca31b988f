/**
 * `waiaas-ctl approvals approve`: an owner approves a pending request by signing the approval message the appliance
 * issues (shown first). When the wallet's threshold of distinct owners have approved, the request is signed.
 */
import { defineCommand, idArg, positionals } from '../lib/command.ts';
import { decide } from '../lib/approvals.ts';
import { rerunHint } from '../lib/owners.ts';
import { parseSigning, SIGNING_OPTIONS } from '../lib/signing.ts';

export default defineCommand({
  name: 'approvals approve',
  summary: 'approve a pending request with an owner key',
  usage: 'REQUEST_ID (--key-file FILE ... | --print-message | --signature KEY=HEX ... [--message-file FILE])',
  args: ['REQUEST_ID'],
  description:
    'The approval message names the appliance, the request, the wallet, the decoded effects, the hash of the exact\n' +
    'bytes to sign, the policy hash and an expiry; read it before you sign. Several --key-file (or --signature)\n' +
    'options submit one approval per owner. The caller that made the request can never approve it.',
  options: { ...SIGNING_OPTIONS },
  examples: [
    'approvals approve req_01JD8Y0A1B2C3D4E5F6G7H8J9K --key-file ~/.waiaas/alice.key',
    'approvals approve req_01JD8Y0A1B2C3D4E5F6G7H8J9K --print-message > approve.txt   # sign approve.txt elsewhere',
    'approvals approve req_01JD8Y0A1B2C3D4E5F6G7H8J9K --message-file approve.txt --signature 0x8ba1f109551bD432803012645Ac136ddd64DBA72=0x5f…1b',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { REQUEST_ID } = positionals(input, ['REQUEST_ID']);
    return { requestId: idArg(REQUEST_ID!, 'req_', 'REQUEST_ID'), signing: parseSigning(input, { required: true }) };
  },
  async run(o, ctx) {
    await decide(ctx, o.requestId, 'approve', o.signing, rerunHint(`approvals approve ${o.requestId}`));
  },
});
