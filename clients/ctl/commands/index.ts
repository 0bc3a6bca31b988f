/**
 * The registry of waiaas-ctl's commands, in the order `waiaas-ctl --help` lists them. One command per file; add a
 * new one here and it gets parsing, --help and shell completion.
 */
import type { Command } from '../lib/command.ts';
import agentsIssue from './agents-issue.ts';
import agentsList from './agents-list.ts';
import agentsPut from './agents-put.ts';
import agentsRevoke from './agents-revoke.ts';
import approvalsApprove from './approvals-approve.ts';
import approvalsList from './approvals-list.ts';
import approvalsReject from './approvals-reject.ts';
import approvalsShow from './approvals-show.ts';
import auditExport from './audit-export.ts';
import auditTail from './audit-tail.ts';
import auditVerify from './audit-verify.ts';
import completion from './completion.ts';
import freeze from './freeze.ts';
import keysGenerate from './keys-generate.ts';
import keysShow from './keys-show.ts';
import ownersAdd from './owners-add.ts';
import ownersRemove from './owners-remove.ts';
import ownersShow from './owners-show.ts';
import ownersThreshold from './owners-threshold.ts';
import policyDiff from './policy-diff.ts';
import policyEvaluate from './policy-evaluate.ts';
import policySet from './policy-set.ts';
import policyShow from './policy-show.ts';
import unfreeze from './unfreeze.ts';
import walletsCreate from './wallets-create.ts';
import walletsList from './wallets-list.ts';
import walletsShow from './wallets-show.ts';
import watch from './watch.ts';

/** Every command. */
export const COMMANDS: readonly Command[] = [
  walletsCreate,
  walletsList,
  walletsShow,
  ownersShow,
  ownersAdd,
  ownersRemove,
  ownersThreshold,
  policyShow,
  policySet,
  policyDiff,
  policyEvaluate,
  approvalsList,
  approvalsShow,
  approvalsApprove,
  approvalsReject,
  freeze,
  unfreeze,
  watch,
  agentsPut,
  agentsList,
  agentsIssue,
  agentsRevoke,
  auditTail,
  auditExport,
  auditVerify,
  keysGenerate,
  keysShow,
  completion,
];
