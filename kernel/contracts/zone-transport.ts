import type { Message } from '../raft/message.ts';
import type { NodeId } from '../raft/types.ts';
import type { SnapshotTransferMessage } from '../zone/snapshot-chunk.ts';

/**
 * What travels between the members of a zone: raft `Message`s, and the chunks (and their
 * acknowledgements) of the snapshots a leader streams to followers outside Raft
 * (kernel/zone/snapshot-chunk.ts). Every one has `type`, `from`, `to` and `term`.
 */
export type ZoneMessage = Message | SnapshotTransferMessage;

/**
 * ZoneTransport: how the members of a zone's Raft group exchange `ZoneMessage`s. One transport
 * serves every zone a process hosts; a message is addressed by `(zoneId, message.to)`, and its
 * sender is `(zoneId, message.from)`.
 *
 * Delivery is best effort. A message may be dropped, duplicated, delayed and reordered (Raft
 * recovers from all of these); it is never altered, and never delivered to any other
 * `(zoneId, nodeId)` than the one it names. `send` never throws for an unreachable, unknown or
 * slow peer and never waits for one: it queues or drops. A transport that learns a peer is
 * unreachable may say so through the listener's `unreachable` callback, so that the replica can
 * tell Raft (`reportUnreachable`); saying nothing is allowed.
 *
 * Addresses: a node learns where its peers are from `setPeer(zoneId, nodeId, address)`. An address
 * is a string whose form belongs to the transport (`ws://127.0.0.1:7001` for a network transport,
 * a name for the in-memory one); the kernel only stores and passes it on. A zone replica records
 * every member's address in the zone's replicated membership records and calls `setPeer` /
 * `removePeer` as those records apply, so every member learns every other member's address from
 * the log; a joining node is given the address of at least one existing member to answer first.
 * A message to a node without an address is dropped.
 *
 * Delivery to the receiver: `receive` is called with messages for the registered `(zoneId,
 * nodeId)`, one at a time, never re-entrantly from inside `send` (a transport that delivers in
 * process defers to a later task or microtask). The receiver owns the message; its entry and
 * snapshot and chunk buffers must not be mutated by either side (see kernel/raft/types.ts). `receive` must
 * not throw; a transport ignores (and may log) a receiver that does.
 *
 * Trust: a network transport must refuse peers that do not prove membership (the zone's join
 * token) and their node id (the key `setPeer` gave for it) before delivering anything they send,
 * and drop a message whose `from` is not the node its connection proved.
 *
 * Errors: `listen` throws `InvalidArgumentError` (EINVAL) for a malformed zone id or node id, and
 * `BusyError` (EBUSY) when that `(zoneId, nodeId)` already has a receiver; `setPeer` throws
 * `InvalidArgumentError` for a malformed zone id, node id or address. After `close()`, `listen`
 * and `setPeer` throw `ClosedError` (ECLOSED) and `send` drops silently.
 */
export interface ZoneTransport {
  /**
   * Registers the receiver of messages for `(zoneId, nodeId)` in this process. Returns a function
   * that removes the registration (idempotent); messages arriving after it are dropped.
   */
  listen(registration: ZoneTransportRegistration): () => void;

  /** Sends `message` to `(zoneId, message.to)`, best effort; see the contract above. */
  send(zoneId: string, message: ZoneMessage): void;

  /**
   * Where `(zoneId, nodeId)` is reached from now on, and the public key it proves its node id with
   * (raw Ed25519, from its member record; undefined for a member recorded without one); replaces
   * an earlier address and key. A transport that authenticates nodes refuses a connection from or
   * to that node id unless it proves it holds this key.
   */
  setPeer(zoneId: string, nodeId: NodeId, address: string, publicKey?: Uint8Array): void;

  /** Forgets the address of `(zoneId, nodeId)`; later messages to it are dropped. Idempotent. */
  removePeer(zoneId: string, nodeId: NodeId): void;

  /**
   * Optional: `(zoneId, nodeId)` was removed from the zone, whose state records its removal with
   * `publicKey` (raw Ed25519, the key of its last member record). A transport that authenticates
   * nodes may then answer a connection from that node that proves this key by telling it of its
   * removal (its registration's `removed`), in a way only a member can; it must never tell a node
   * so otherwise. Independent of `setPeer` / `removePeer`; idempotent.
   */
  setRemovedPeer?(zoneId: string, nodeId: NodeId, publicKey: Uint8Array): void;

  /**
   * Optional: opens a connection to `(zoneId, nodeId)` if there is none, though nothing waits to
   * be sent, so that the peer can tell this node what only a connection's handshake carries (its
   * removal). Best effort: never throws, never waits; unknown peers are ignored.
   */
  connect?(zoneId: string, nodeId: NodeId): void;

  /** Stops sending and receiving, and releases connections. Idempotent. */
  close(): Promise<void>;
}

export interface ZoneTransportRegistration {
  readonly zoneId: string;
  readonly nodeId: NodeId;
  /** Called with each message for `(zoneId, nodeId)`; must not throw. */
  readonly receive: (message: ZoneMessage) => void;
  /** Optional: the transport believes `peer` of this zone cannot be reached now. */
  readonly unreachable?: (peer: NodeId) => void;
  /**
   * Optional: member `by` proved that the zone removed this node (a member answers so only when
   * the zone's state records the removal; see `setRemovedPeer`). Must not throw.
   */
  readonly removed?: (by: NodeId) => void;
}

/** The longest address a transport must accept (a URL with host, port and path). */
export const ZONE_PEER_ADDRESS_LENGTH_MAX = 1024;
