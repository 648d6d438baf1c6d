import { assert } from '../assert.ts';

/**
 * The append messages a leader has sent to one follower and not yet seen acknowledged, as the
 * last entry index of each (ascending) and its bytes. Full when either bound is reached: then
 * the leader stops sending to that follower until acknowledgements free room (flow control).
 */
export class Inflights {
  private readonly messagesMax: number;
  private readonly bytesMax: number;
  private indexes: number[] = [];
  private sizes: number[] = [];
  private bytes = 0;

  constructor(messagesMax: number, bytesMax: number) {
    assert(Number.isSafeInteger(messagesMax) && messagesMax > 0, `messagesMax must be a positive integer, got ${messagesMax}`);
    assert(bytesMax > 0, `bytesMax must be positive, got ${bytesMax}`);
    this.messagesMax = messagesMax;
    this.bytesMax = bytesMax;
  }

  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), 'cannot add to full in-flight tracking');
    const previous = this.indexes[this.indexes.length - 1];
    assert(previous === undefined || lastIndex > previous, `in-flight indexes must increase: ${lastIndex} after ${previous}`);
    this.indexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every message whose last index is at most `index`: the follower has them all. */
  freeUpTo(index: number): void {
    let count = 0;
    while (count < this.indexes.length && this.indexes[count]! <= index) {
      this.bytes -= this.sizes[count]!;
      count++;
    }
    if (count === 0) return;
    this.indexes.splice(0, count);
    this.sizes.splice(0, count);
  }

  /** Frees the oldest message: used when a heartbeat shows the follower is alive but acks were lost. */
  freeFirstOne(): void {
    const first = this.indexes[0];
    if (first !== undefined) this.freeUpTo(first);
  }

  full(): boolean {
    return this.indexes.length >= this.messagesMax || this.bytes >= this.bytesMax;
  }

  count(): number {
    return this.indexes.length;
  }

  sizeBytes(): number {
    return this.bytes;
  }

  reset(): void {
    this.indexes = [];
    this.sizes = [];
    this.bytes = 0;
  }
}
