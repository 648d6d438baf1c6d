import { describe, expect, it } from 'vitest';
import { ConnectionMutex } from './connection-mutex.ts';

describe('ConnectionMutex', () => {
  it('hands the connection over first come, first served', async () => {
    const mutex = new ConnectionMutex(10);
    const order: number[] = [];
    await mutex.lock();
    const waiters = [1, 2, 3].map(async (caller) => {
      await mutex.lock();
      order.push(caller);
      mutex.unlock();
    });
    mutex.unlock();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
  });

  it('refuses a waiter beyond its bound with EBUSY', async () => {
    const mutex = new ConnectionMutex(2);
    await mutex.lock();
    const admitted = [mutex.lock(), mutex.lock()];
    await expect(mutex.lock()).rejects.toMatchObject({ code: 'EBUSY' });
    mutex.unlock();
    await admitted[0];
    mutex.unlock();
    await admitted[1];
    mutex.unlock();
  });

  it('fails an assertion on unlock without lock', () => {
    expect(() => new ConnectionMutex(1).unlock()).toThrow(/not held/);
  });
});
