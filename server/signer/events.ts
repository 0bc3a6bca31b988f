/**
 * In-process notifications of sign request changes, so that watchers wait on events instead of polling the store.
 */
import { EventEmitter } from 'node:events';
import type { SignRequestRecord } from '../store/store.ts';

/** Publishes each recorded change of a sign request to the watchers of that request. */
export class SignRequestEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Each watch adds one listener; many owners' tools may watch at once.
    this.emitter.setMaxListeners(0);
  }

  /** Announces that `record` was just written. */
  changed(record: SignRequestRecord): void {
    this.emitter.emit(record.id, record);
    this.emitter.emit('*', record);
  }

  /** Calls `fn` for every change of request `id` (or of every request for '*'); returns the unsubscribe function. */
  subscribe(id: string, fn: (record: SignRequestRecord) => void): () => void {
    this.emitter.on(id, fn);
    return () => this.emitter.off(id, fn);
  }
}
