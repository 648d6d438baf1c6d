import { afterEach, beforeEach, describe } from 'vitest';
import type { Metastore } from '../../kernel/contracts/metastore.ts';
import { describeBadInput } from './metastore/bad-input.ts';
import { describeBatch } from './metastore/batch.ts';
import { describeBufferOwnership } from './metastore/buffer-ownership.ts';
import type { MetastoreSuiteCapabilities, MetastoreSuiteContext } from './metastore/context.ts';
import { runMetastoreDifferentialTest } from './metastore/differential.ts';
import { describeKeyOrder } from './metastore/key-order.ts';
import { describeLifecycle } from './metastore/lifecycle.ts';
import { describeReadsAndWrites } from './metastore/reads-writes.ts';
import { describeScanPages } from './metastore/scan-pages.ts';
import { describeScanRanges } from './metastore/scan-ranges.ts';
import { describeVersions } from './metastore/versions.ts';

export type { MetastoreSuiteCapabilities };

/**
 * The Metastore conformance suite: every Metastore driver's test calls `runMetastoreSuite` with a
 * factory that opens a fresh, empty store, in every runtime where the driver exists. Each test
 * checks one sentence of the contract in kernel/contracts/metastore.ts; the groups live in
 * ./metastore/, one file each.
 */
export function runMetastoreSuite(
  name: string,
  factory: () => Promise<Metastore>,
  capabilities: MetastoreSuiteCapabilities = {},
): void {
  describe(`Metastore conformance: ${name}`, () => {
    const opened: Metastore[] = [];
    let current: Metastore | undefined;
    const context: MetastoreSuiteContext = {
      store: () => current!,
      open: async () => {
        const store = await factory();
        opened.push(store);
        return store;
      },
      capabilities,
    };
    beforeEach(async () => {
      current = await context.open();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
      current = undefined;
    });

    describe('get, getMany, put, delete', () => describeReadsAndWrites(context));
    describe('versions', () => describeVersions(context));
    describe('key order', () => describeKeyOrder(context));
    describe('batch', () => describeBatch(context));
    describe('scan ranges', () => describeScanRanges(context));
    describe('scan pages and cursors', () => describeScanPages(context));
    describe('limits and bad input', () => describeBadInput(context));
    describe('buffer ownership', () => describeBufferOwnership(context));
    describe('close and reopen', () => describeLifecycle(context));
    describe('differential test against a sorted-array model', () => runMetastoreDifferentialTest(context));
  });
}
