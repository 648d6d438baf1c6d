import type { ZoneMessage, ZoneTransport, ZoneTransportRegistration } from '../../kernel/contracts/zone-transport.ts';
import { BusyError, ClosedError } from '../../kernel/errors.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import { assertNodeId, assertPeerAddress, assertZoneId } from '../../kernel/zone/zone-id.ts';

/** Decides whether one message is dropped; the test's own fault rule beyond partitions. */
export type MemoryZoneDropRule = (delivery: MemoryZoneDelivery) => boolean;

export interface MemoryZoneDelivery {
  readonly zoneId: string;
  readonly fromAddress: string;
  readonly toAddress: string;
  readonly message: ZoneMessage;
}

/** Rounds of "let every queued microtask and timer run" that `settle()` waits for. */
const SETTLE_ROUNDS = 3;

/**
 * An in-process network of ZoneTransports: the transport of zone tests in every runtime. Each
 * endpoint (`network.endpoint(address)`) is one process's ZoneTransport at that address. Messages
 * are handed over by reference (Raft never mutates a message's buffers) in a later microtask, so
 * `send` never delivers re-entrantly.
 *
 * Fault controls, for tests: `isolate(address)` cuts every link of one endpoint, `partition` cuts
 * every link between groups of addresses, `heal()` restores every link, and `dropRule` drops
 * whatever else a test chooses. A message is judged when it is sent.
 */
export class MemoryZoneNetwork {
  private readonly endpoints = new Map<string, MemoryZoneTransport>();
  /** Links that are down, as `from\u0000to` (one direction each). */
  private readonly cutLinks = new Set<string>();
  private readonly isolated = new Set<string>();
  dropRule: MemoryZoneDropRule | undefined = undefined;
  deliveredCount = 0;
  droppedCount = 0;

  /** The transport of the process at `address`; one endpoint per address while it is open. */
  endpoint(address: string): MemoryZoneTransport {
    assertPeerAddress(address);
    const existing = this.endpoints.get(address);
    if (existing !== undefined && !existing.isClosed) throw new BusyError(`the memory network already has an open endpoint at ${address}`);
    const endpoint = new MemoryZoneTransport(this, address);
    this.endpoints.set(address, endpoint);
    return endpoint;
  }

  /** Cuts every link to and from `address` (the endpoint stays open). */
  isolate(address: string): void {
    this.isolated.add(address);
  }

  /** Cuts both directions of every link between two different groups of addresses. */
  partition(...groups: readonly (readonly string[])[]): void {
    for (const [groupIndex, group] of groups.entries()) {
      for (const other of groups.slice(groupIndex + 1)) {
        for (const a of group) {
          for (const b of other) {
            this.cutLinks.add(linkName(a, b));
            this.cutLinks.add(linkName(b, a));
          }
        }
      }
    }
  }

  /** Cuts one direction only: messages from `fromAddress` to `toAddress` are dropped. */
  cutLink(fromAddress: string, toAddress: string): void {
    this.cutLinks.add(linkName(fromAddress, toAddress));
  }

  /** Restores every link cut by isolate, partition or cutLink (the drop rule stays). */
  heal(): void {
    this.isolated.clear();
    this.cutLinks.clear();
  }

  /** Waits until the messages and work queued in microtasks and zero-delay timers have run. */
  async settle(rounds = SETTLE_ROUNDS): Promise<void> {
    for (let round = 0; round < rounds; round++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }

  /** @internal Routes one message; called by endpoints. */
  route(delivery: MemoryZoneDelivery): void {
    const target = this.endpoints.get(delivery.toAddress);
    if (target === undefined || target.isClosed || this.isCut(delivery) || this.dropRule?.(delivery) === true) {
      this.droppedCount++;
      return;
    }
    queueMicrotask(() => {
      if (target.deliver(delivery.zoneId, delivery.message)) this.deliveredCount++;
      else this.droppedCount++;
    });
  }

  private isCut({ fromAddress, toAddress }: MemoryZoneDelivery): boolean {
    return this.isolated.has(fromAddress) || this.isolated.has(toAddress) || this.cutLinks.has(linkName(fromAddress, toAddress));
  }
}

/** One endpoint of a MemoryZoneNetwork: a ZoneTransport (see kernel/contracts/zone-transport.ts). */
export class MemoryZoneTransport implements ZoneTransport {
  private readonly receivers = new Map<string, ZoneTransportRegistration>();
  private readonly peers = new Map<string, string>();
  private closed = false;

  constructor(
    private readonly network: MemoryZoneNetwork,
    readonly address: string,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  listen(registration: ZoneTransportRegistration): () => void {
    if (this.closed) throw new ClosedError(`cannot listen on the memory transport at ${this.address}: it is closed`);
    assertZoneId(registration.zoneId);
    assertNodeId(registration.nodeId);
    const name = receiverName(registration.zoneId, registration.nodeId);
    if (this.receivers.has(name)) {
      throw new BusyError(`cannot listen for node ${registration.nodeId} of zone ${registration.zoneId}: it already has a receiver at ${this.address}`);
    }
    this.receivers.set(name, registration);
    return () => {
      if (this.receivers.get(name) === registration) this.receivers.delete(name);
    };
  }

  send(zoneId: string, message: ZoneMessage): void {
    if (this.closed) return;
    const toAddress = this.peers.get(receiverName(zoneId, message.to));
    if (toAddress === undefined) {
      this.receivers.get(receiverName(zoneId, message.from))?.unreachable?.(message.to);
      return;
    }
    this.network.route({ zoneId, fromAddress: this.address, toAddress, message });
  }

  setPeer(zoneId: string, nodeId: NodeId, address: string): void {
    if (this.closed) throw new ClosedError(`cannot set a peer on the memory transport at ${this.address}: it is closed`);
    assertZoneId(zoneId);
    assertNodeId(nodeId);
    assertPeerAddress(address);
    this.peers.set(receiverName(zoneId, nodeId), address);
  }

  removePeer(zoneId: string, nodeId: NodeId): void {
    this.peers.delete(receiverName(zoneId, nodeId));
  }

  /** The address this endpoint would send to for `(zoneId, nodeId)`, for tests. */
  peerAddress(zoneId: string, nodeId: NodeId): string | undefined {
    return this.peers.get(receiverName(zoneId, nodeId));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.receivers.clear();
    this.peers.clear();
  }

  /** @internal Hands a routed message to its receiver; false when nobody listens for it. */
  deliver(zoneId: string, message: ZoneMessage): boolean {
    if (this.closed) return false;
    const receiver = this.receivers.get(receiverName(zoneId, message.to));
    if (receiver === undefined) return false;
    try {
      receiver.receive(message);
    } catch {
      // The contract forbids a throwing receiver; the network carries on as a real one would.
    }
    return true;
  }
}

function receiverName(zoneId: string, nodeId: NodeId): string {
  return `${zoneId}\u0000${nodeId}`;
}

function linkName(fromAddress: string, toAddress: string): string {
  return `${fromAddress}\u0000${toAddress}`;
}
