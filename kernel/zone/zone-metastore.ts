import { describeBytes } from '../contracts/bytes.ts';
import {
  type Metastore,
  type MetastoreEntry,
  type MetastoreOperation,
  type MetastorePrecondition,
  type MetastoreScanOptions,
  type MetastoreScanPage,
} from '../contracts/metastore.ts';
import { assertMetastoreBatch, assertMetastoreKey, assertMetastoreKeys, resolveMetastoreScan } from '../contracts/metastore-validation.ts';
import { ClosedError, InvalidArgumentError } from '../errors.ts';
import { ZONE_RESERVED_KEY_PREFIX } from './constants.ts';
import type { WriteToken, ZoneConsistency } from './types.ts';
import { isReservedKey, type ZoneStateMachine } from './zone-state-machine.ts';

/** What the view needs of its replica. */
export interface ZoneMetastoreHost {
  readonly zoneId: string;
  /** `commit` and `write` refuse a batch that fails assertZoneBatch with InvalidArgumentError. */
  commit(operations: readonly MetastoreOperation[], preconditions?: readonly MetastorePrecondition[]): Promise<number>;
  write(operations: readonly MetastoreOperation[], preconditions?: readonly MetastorePrecondition[]): Promise<WriteToken>;
  readBarrier(): Promise<void>;
  throwIfUnusable(operation: string): void;
}

/**
 * A zone's Metastore through one replica (see ZoneConsistency in types.ts and ZoneReplicaApi for
 * the guarantees). It meets the Metastore contract (kernel/contracts/metastore.ts) with two
 * narrower limits, both EINVAL: keys starting with ZONE_RESERVED_KEY_PREFIX belong to the zone
 * (scans never return them), and a batch must encode within ZONE_PROPOSAL_BYTES_MAX (one raft
 * entry), so values are smaller than METASTORE_VALUE_BYTES_MAX.
 *
 * In `eventual` mode it does not meet the contract's "reads see every commit that completed
 * before the read started": a write resolves (with the version its entry will have if it commits)
 * before it is applied, and a failed precondition is only learnt through `ZoneReplica.waitFor`.
 *
 * `close()` closes this view only, never the replica.
 */
export class ZoneMetastore implements Metastore {
  private closed = false;

  constructor(
    private readonly host: ZoneMetastoreHost,
    private readonly consistency: ZoneConsistency,
    private readonly stateMachine: ZoneStateMachine,
  ) {}

  async get(key: Uint8Array): Promise<MetastoreEntry | undefined> {
    this.throwIfClosed('get');
    assertZoneKey(key);
    await this.beforeRead();
    return this.stateMachine.get(key);
  }

  async getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]> {
    this.throwIfClosed('getMany');
    assertMetastoreKeys(keys);
    for (const key of keys) assertZoneKey(key);
    await this.beforeRead();
    return this.stateMachine.getMany(keys);
  }

  put(key: Uint8Array, value: Uint8Array): Promise<number> {
    return this.batch([{ type: 'put', key, value }]);
  }

  delete(key: Uint8Array): Promise<number> {
    return this.batch([{ type: 'delete', key }]);
  }

  async batch(operations: readonly MetastoreOperation[], preconditions: readonly MetastorePrecondition[] = []): Promise<number> {
    this.throwIfClosed('batch');
    // The host checks the batch (assertZoneBatch) as it proposes it, for the ZoneApi's calls too.
    if (this.consistency === 'strong') return this.host.commit(operations, preconditions);
    const token = await this.host.write(operations, preconditions);
    return token.index;
  }

  async scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    this.throwIfClosed('scan');
    resolveMetastoreScan(options);
    await this.beforeRead();
    return this.stateMachine.scan(options);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private async beforeRead(): Promise<void> {
    if (this.consistency === 'strong') await this.host.readBarrier();
  }

  private throwIfClosed(operation: string): void {
    if (this.closed) throw new ClosedError(`cannot ${operation}: this Metastore view of zone ${this.host.zoneId} is closed`);
    this.host.throwIfUnusable(operation);
  }
}

/**
 * A batch a zone may take: a valid Metastore batch whose keys are outside the zone's reserved
 * prefix. Checked before a batch is proposed, since a committed entry must apply on every replica:
 * one that cannot (an empty key) would stop them all, and a reserved key would overwrite the
 * zone's own state.
 */
export function assertZoneBatch(operations: readonly MetastoreOperation[], preconditions: readonly MetastorePrecondition[]): void {
  assertMetastoreBatch(operations, preconditions);
  for (const operation of operations) assertZoneKey(operation.key);
  for (const precondition of preconditions) assertZoneKey(precondition.key, 'precondition key');
}

function assertZoneKey(key: Uint8Array, role = 'key'): void {
  assertMetastoreKey(key, role);
  if (isReservedKey(key)) {
    throw new InvalidArgumentError(`invalid ${role} ${describeBytes(key)}: keys starting with ${describeBytes(ZONE_RESERVED_KEY_PREFIX)} are reserved for the zone`);
  }
}
