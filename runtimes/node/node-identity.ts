import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory } from '../../drivers/node-fs/file-system-errors.ts';
import type { AdminSigner } from '../../drivers/transport-websocket/admin-request.ts';
import { parseJoinToken } from '../../drivers/transport-websocket/join-token.ts';
import { importNodeKeyPair } from '../../drivers/transport-websocket/node-key.ts';
import { decodeBase64url, encodeBase64url } from '../../kernel/contracts/base64url.ts';
import { AlreadyExistsError, CorruptionError, InvalidArgumentError, NotFoundError } from '../../kernel/errors.ts';
import type { NodeId } from '../../kernel/raft/types.ts';
import type { ZoneMember } from '../../kernel/zone/types.ts';
import { assertNodeId, assertNodePublicKey, assertPeerAddress, assertZoneId } from '../../kernel/zone/zone-id.ts';

/**
 * Who a node is, kept in `<data dir>/node.json`: its zone, its node id, the zone's token (it
 * proves membership to peers and clients), the node's own key pair (it proves the node id to
 * peers; its public key is in the zone's membership), the address it serves at, and how it first
 * entered the zone (the bootstrap membership of a creator, or the members a joiner was told
 * about), so that a restart from the data directory needs no other argument.
 *
 * Written once, atomically (temporary file, fsync, rename, fsync of the directory), with mode 0600
 * because it holds the secret and the private key.
 */
export interface NodeIdentity {
  readonly formatVersion: typeof NODE_IDENTITY_FORMAT_VERSION;
  readonly zoneId: string;
  readonly nodeId: NodeId;
  readonly token: string;
  /** The node's Ed25519 private key as a JWK (its `x` is the public key); see node-key.ts. */
  readonly nodeKey: JsonWebKey;
  /** The address peers and clients reach this node at, `http://host:port`. */
  readonly address: string;
  /** The creator's bootstrap membership; absent on a node that joined. */
  readonly bootstrapMembers?: readonly StoredMember[];
  /** The members a joining node was told about; absent on the creator. */
  readonly peers?: readonly StoredMember[];
}

/** A ZoneMember in JSON: its public key in base64url. */
export interface StoredMember {
  readonly nodeId: NodeId;
  readonly address: string;
  readonly publicKey?: string;
}

/** 2: each node has its own key pair (1, before node identity, is refused: its zone's members have no keys). */
export const NODE_IDENTITY_FORMAT_VERSION = 2;

export function storedMember(member: ZoneMember): StoredMember {
  const { nodeId, address, publicKey } = member;
  return publicKey === undefined ? { nodeId, address } : { nodeId, address, publicKey: encodeBase64url(publicKey) };
}

export function zoneMember(member: StoredMember): ZoneMember {
  const { nodeId, address, publicKey } = member;
  if (publicKey === undefined) return { nodeId, address };
  const key = decodeBase64url(publicKey);
  if (key === undefined) throw new CorruptionError(`the public key of node ${nodeId} is not base64url`);
  return { nodeId, address, publicKey: key };
}

const IDENTITY_FILE = 'node.json';

/** The KvStore file holding the zone's state machine and raft log (its commit log beside it, `zone.kv-log`). */
export const ZONE_STORE_FILE = 'zone.kv';

export async function readNodeIdentity(dataDir: string): Promise<NodeIdentity> {
  const path = join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw new NotFoundError(`${dataDir} holds no zone node (no ${IDENTITY_FILE}): create or join a zone first`);
    throw error;
  }
  return checkIdentity(parse(text, path), path);
}

/**
 * The admin signer of the node kept in `dataDir` (its zone, node id and private key), and the
 * address it serves at: what `nexus zone remove-node --data` signs with. Reading the file does not
 * disturb the node running from that directory.
 */
export async function readAdminSigner(dataDir: string): Promise<{ signer: AdminSigner; address: string }> {
  const identity = await readNodeIdentity(dataDir);
  const { privateKey } = await importNodeKeyPair(identity.nodeKey);
  return { signer: { zoneId: identity.zoneId, nodeId: identity.nodeId, privateKey }, address: identity.address };
}

export async function hasNodeIdentity(dataDir: string): Promise<boolean> {
  try {
    await readFile(join(dataDir, IDENTITY_FILE));
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return false;
    throw error;
  }
}

export async function writeNodeIdentity(dataDir: string, identity: NodeIdentity): Promise<void> {
  checkIdentity(identity, 'the new identity');
  await mkdir(dataDir, { recursive: true });
  if (await hasNodeIdentity(dataDir)) throw new AlreadyExistsError(`${dataDir} already holds a zone node: start it with \`nexus zone start --data ${dataDir}\``);
  const path = join(dataDir, IDENTITY_FILE);
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(identity, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await syncDirectory(dataDir);
}

function parse(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CorruptionError(`${path} is not JSON: ${String(error)}`);
  }
}

function checkIdentity(value: unknown, where: string): NodeIdentity {
  const identity = value as NodeIdentity;
  if ((identity?.formatVersion as number) === 1) {
    throw new InvalidArgumentError(
      `${where} is a node of format version 1, from before node identity (each node proving its node id with its own key): ` +
        `this version of nexus needs format ${NODE_IDENTITY_FORMAT_VERSION} and cannot authenticate the members of that zone; create the zone again with this version`,
    );
  }
  try {
    if (typeof value !== 'object' || value === null) throw new Error('expected an object');
    if (identity.formatVersion !== NODE_IDENTITY_FORMAT_VERSION) throw new Error(`expected format version ${NODE_IDENTITY_FORMAT_VERSION}`);
    const key = identity.nodeKey;
    if (typeof key !== 'object' || key === null || key.kty !== 'OKP' || key.crv !== 'Ed25519' || typeof key.d !== 'string' || typeof key.x !== 'string') {
      throw new Error('expected nodeKey, an Ed25519 private JWK');
    }
    assertZoneId(identity.zoneId);
    assertNodeId(identity.nodeId);
    assertPeerAddress(identity.address);
    if (parseJoinToken(identity.token).zoneId !== identity.zoneId) throw new Error('the token belongs to another zone');
    for (const member of [...(identity.bootstrapMembers ?? []), ...(identity.peers ?? [])]) {
      const { publicKey } = zoneMember(member);
      assertNodeId(member.nodeId);
      assertPeerAddress(member.address);
      if (publicKey !== undefined) assertNodePublicKey(publicKey);
    }
  } catch (error) {
    throw new CorruptionError(`${where} is not a valid node identity: ${error instanceof Error ? error.message : String(error)}`);
  }
  return identity;
}
