/**
 * A fixed-size pool of PKCS#11 session slots with a FIFO wait queue. A PKCS#11 session runs one operation at a
 * time, so every operation borrows a slot exclusively; callers beyond the pool size wait their turn in arrival
 * order, so no request starves under load. The pool knows nothing of PKCS#11: what a slot holds (and how a broken
 * session is replaced) is the owner's business.
 */

/** FIFO of waiting borrowers; a head index instead of Array.shift keeps a long queue O(1) per hand-off. */
class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** A fixed set of items lent out one borrower at a time, FIFO when all are busy. */
export class Pool<T> {
  readonly #free: T[];
  readonly #waiters = new Queue<(item: T) => void>();
  readonly #size: number;
  #closed = false;
  #closing: Promise<T[]> | undefined;
  #drained: (() => void) | undefined;
  readonly #closedError: () => Error;

  /** `closedError` makes the error given to borrowers who arrive after `close()`. */
  constructor(items: T[], closedError: () => Error) {
    this.#free = [...items];
    this.#size = items.length;
    this.#closedError = closedError;
  }

  /** Items currently lent out. */
  get busy(): number {
    return this.#size - this.#free.length;
  }

  /** Borrowers waiting for an item. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Borrows an item, waiting (FIFO) when all are lent out. Rejects once the pool is closed. */
  acquire(): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const item = this.#free.pop();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise<T>((resolve) => this.#waiters.push(resolve));
  }

  /** Gives an item back: straight to the longest-waiting borrower, if any. */
  release(item: T): void {
    const next = this.#waiters.shift();
    if (next !== undefined) {
      next(item);
      return;
    }
    this.#free.push(item);
    if (this.#drained !== undefined && this.#free.length === this.#size) {
      const done = this.#drained;
      this.#drained = undefined;
      done();
    }
  }

  /**
   * Stops lending to new borrowers and resolves with every item once all work already accepted (lent out or
   * queued) has given its item back.
   */
  close(): Promise<T[]> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<T[]> {
    this.#closed = true;
    if (this.#free.length !== this.#size || this.#waiters.length > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    return [...this.#free];
  }
}
