import type {
  Metastore,
  MetastoreEntry,
  MetastoreOperation,
  MetastorePrecondition,
  MetastoreScanOptions,
  MetastoreScanPage,
} from '../../kernel/contracts/metastore.ts';
import { ZONE_PROPOSAL_BYTES_MAX } from '../../kernel/zone/constants.ts';
import { runMetastoreSuite } from '../conformance/metastore-suite.ts';
import { ZoneTestCluster } from './zone-cluster.ts';

/** Room for a batch's header and key beside the largest value, within one proposal. */
const PROPOSAL_HEADER_BYTES_RESERVED = 1024;

/**
 * The Metastore of a 3-node SC zone, through node `through`; closing it closes the whole zone.
 * Reads go through ReadIndex and writes through Raft on every call, as an application's would.
 */
class ZoneClusterMetastore implements Metastore {
  constructor(
    readonly cluster: ZoneTestCluster,
    private readonly through: number,
  ) {}

  private get view(): Metastore {
    return this.cluster.nodes.get(this.through)!.replica?.metastore ?? this.closedView;
  }

  /** After close, calls go to the closed view of the replica that was, which answers ECLOSED. */
  private closedView!: Metastore;

  get(key: Uint8Array): Promise<MetastoreEntry | undefined> {
    return this.view.get(key);
  }
  getMany(keys: readonly Uint8Array[]): Promise<(MetastoreEntry | undefined)[]> {
    return this.view.getMany(keys);
  }
  put(key: Uint8Array, value: Uint8Array): Promise<number> {
    return this.view.put(key, value);
  }
  delete(key: Uint8Array): Promise<number> {
    return this.view.delete(key);
  }
  batch(operations: readonly MetastoreOperation[], preconditions?: readonly MetastorePrecondition[]): Promise<number> {
    return this.view.batch(operations, preconditions);
  }
  scan(options: MetastoreScanOptions): Promise<MetastoreScanPage> {
    return this.view.scan(options);
  }
  async close(): Promise<void> {
    const replica = this.cluster.nodes.get(this.through)!.replica;
    if (replica === undefined) return;
    this.closedView = replica.metastore;
    await replica.metastore.close();
    await this.cluster.close();
  }
}

runMetastoreSuite(
  'replicated zone (3 voters, SC), written and read through the leader',
  async () => new ZoneClusterMetastore(await ZoneTestCluster.start(), 1),
  {
    valueBytesMax: ZONE_PROPOSAL_BYTES_MAX - PROPOSAL_HEADER_BYTES_RESERVED,
    reopen: async (closed) => {
      const { cluster } = closed as ZoneClusterMetastore;
      await cluster.reopen(1);
      return new ZoneClusterMetastore(cluster, 1);
    },
  },
);

runMetastoreSuite(
  'replicated zone (3 voters, SC), written and read through a follower',
  async () => new ZoneClusterMetastore(await ZoneTestCluster.start(), 2),
  {
    valueBytesMax: ZONE_PROPOSAL_BYTES_MAX - PROPOSAL_HEADER_BYTES_RESERVED,
    reopen: async (closed) => {
      const { cluster } = closed as ZoneClusterMetastore;
      await cluster.reopen(1);
      return new ZoneClusterMetastore(cluster, 2);
    },
  },
);
