/**
 * The notification events the appliance emits to owners. Producers build them inside the store write that makes the
 * change (transactional outbox); server/notify/ delivers them.
 */

/** Kinds of event. */
export type NotifyEventType =
  | 'sign_request.signed_with_notice' // a NOTIFY verdict was signed
  | 'sign_request.pending_delay' // a DELAY request waits for its delay (owners may veto)
  | 'sign_request.pending_approval' // an APPROVAL request waits for owners
  | 'sign_request.approval_downgraded' // APPROVAL became DELAY because the wallet has no owner
  | 'sign_request.denied' // the policy denied a request
  | 'sign_request.expired' // a pending request expired
  | 'sign_request.rejected' // an owner rejected / vetoed a request
  | 'wallet.frozen'
  | 'wallet.unfrozen'
  | 'appliance.frozen'
  | 'appliance.unfrozen';

/** One notification. Never carries secrets; carries enough for an owner to act (ids, summary). */
export interface NotifyEvent {
  type: NotifyEventType;
  /** ISO time of the change. */
  time: string;
  walletId?: string;
  signRequestId?: string;
  verdict?: string;
  rule?: string;
  /** Readable one-line summaries of the decoded effects. */
  summary?: string[];
  /** One sentence for people. */
  detail: string;
}
