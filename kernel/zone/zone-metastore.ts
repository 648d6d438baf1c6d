import { describeBytes } from '../contracts/bytes.ts';
import {
  METASTORE_KEY_BYTES_MAX,
  type Metastore,
  type MetastoreEntry,
  type MetastoreOperation,
  type MetastorePrecondition,
  type MetastoreScanOptions,
  type MetastoreScanPage,
} from '../contracts/metastore.ts';
import { assertMetastoreBatch, assertMetastoreKey, assertMetastoreKeys, resolveMetastoreScan } from '../contracts/metastore-validation.ts';
import { ClosedError, InvalidArgumentError } from '../errors.ts';
import { ZONE_KEY_PREFIX_BYTES } from './constants.ts';
import type { WriteToken, ZoneConsistency } from './types.ts';
import type { ZoneStateMachine } from './zone-state-machine.ts';

/** The longest key (and scan bound) of a replicated Metastore. */
export const ZONE_KEY_BYTES_MAX = METASTORE_KEY_BYTES_MAX - ZONE_KEY_PREFIX_BYTES;

/** What the view needs of its replica. */
export interface ZoneMetastoreHost {
  readonly zoneId: string;
  commit(operations: readonly MetastoreOperation[], preconditions?: readonly MetastorePrecondition[]): Promise<number>;
  write(operations: readonly MetastoreOperation[], preconditions?: readonly MetastorePrecondition[]): Promise<WriteToken>;
  readBarrier(): Promise<void>;
  throwIfUnusable(operation: string): void;
}

/**
 * A zone's Metastore through one replica (see ZoneConsistency in types.ts and ZoneReplicaApi for
 * the guarantees). It meets the Metastore contract (kernel/contracts/metastore.ts) with two
 * narrower limits: keys and scan bounds are at most ZONE_KEY_BYTES_MAX bytes, and a batch must
 * encode within ZONE_PROPOSAL_BYTES_MAX (one raft entry); both are EINVAL beyond.
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
    assertMetastoreBatch(operations, preconditions);
    for (const operation of operations) assertZoneKey(operation.key);
    for (const precondition of preconditions) assertZoneKey(precondition.key, 'precondition key');
    if (this.consistency === 'strong') return this.host.commit(operations, preconditions);
    const token = await this.host.write(operations, preconditions);
    return token.index;
  }

  async scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    this.throwIfClosed('scan');
    resolveMetastoreScan(options);
    for (const role of ['prefix', 'start', 'end'] as const) {
      const bound = options[role];
      if (bound !== undefined && bound.length > ZONE_KEY_BYTES_MAX) {
        throw new InvalidArgumentError(`invalid scan ${role}: ${bound.length} bytes, at most ${ZONE_KEY_BYTES_MAX} allowed in a zone`);
      }
    }
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

function assertZoneKey(key: Uint8Array, role = 'key'): void {
  assertMetastoreKey(key, role);
  if (key.length > ZONE_KEY_BYTES_MAX) {
    throw new InvalidArgumentError(`invalid ${role} ${describeBytes(key)}: ${key.length} bytes, at most ${ZONE_KEY_BYTES_MAX} allowed in a zone`);
  }
}
