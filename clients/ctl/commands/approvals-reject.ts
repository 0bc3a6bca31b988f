/**
 * `waiaas-ctl approvals reject`: an owner rejects a pending request (for a DELAY verdict: vetoes it) by signing the
 * rejection message the appliance issues. The request ends unsigned and its reservation is released.
 */
import { defineCommand, idArg, positionals } from '../lib/command.ts';
import { decide } from '../lib/approvals.ts';
import { rerunHint } from '../lib/owners.ts';
import { parseSigning, SIGNING_OPTIONS } from '../lib/signing.ts';

export default defineCommand({
  name: 'approvals reject',
  summary: 'reject (veto) a pending request with an owner key',
  usage: 'REQUEST_ID (--key-file FILE | --print-message | --signature KEY=HEX [--message-file FILE])',
  args: ['REQUEST_ID'],
  description: 'One owner\'s signed rejection ends the request: nothing is signed and its spend reservation is released.',
  options: { ...SIGNING_OPTIONS },
  examples: [
    'approvals reject req_01JD8Y0A1B2C3D4E5F6G7H8J9K --key-file ~/.waiaas/alice.key',
    'approvals reject req_01JD8Y0A1B2C3D4E5F6G7H8J9K --print-message --json',
  ],
  remote: true,
  json: true,
  parse(input) {
    const { REQUEST_ID } = positionals(input, ['REQUEST_ID']);
    return { requestId: idArg(REQUEST_ID!, 'req_', 'REQUEST_ID'), signing: parseSigning(input, { required: true }) };
  },
  async run(o, ctx) {
    await decide(ctx, o.requestId, 'reject', o.signing, rerunHint(`approvals reject ${o.requestId}`));
  },
});
