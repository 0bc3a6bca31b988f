/** `waiaas-ctl approvals show`: one request as owners decide it — summary, effects, matched rules, approvals so far. */
import { defineCommand, idArg, positionals } from '../lib/command.ts';
import { printPendingRequest } from '../lib/approvals.ts';

export default defineCommand({
  name: 'approvals show',
  summary: 'show a pending request: what it does, why it waits, who approved',
  usage: 'REQUEST_ID',
  args: ['REQUEST_ID'],
  options: {},
  examples: ['approvals show req_01JD8Y0A1B2C3D4E5F6G7H8J9K', 'approvals show req_01JD8Y0A1B2C3D4E5F6G7H8J9K --json | jq .summary'],
  remote: true,
  json: true,
  parse(input) {
    const { REQUEST_ID } = positionals(input, ['REQUEST_ID']);
    return { requestId: idArg(REQUEST_ID!, 'req_', 'REQUEST_ID') };
  },
  async run(o, ctx) {
    const { approvals } = await ctx.clients();
    const { request } = await approvals.getPendingRequest({ signRequestId: o.requestId }, ctx.call());
    printPendingRequest(ctx, request!);
  },
});
