import { describe, expect, it } from 'vitest';
import { ZONE_SECRET_BYTES } from './limits.ts';
import { generateNodeKeyPair, importNodePublicKey } from './node-key.ts';
import {
  handshakeNonce,
  handshakeProof,
  handshakeSignature,
  importZoneKey,
  removalProof,
  removalSignature,
  verifyRemovalProof,
  verifyRemovalSignature,
  type HandshakeTranscript,
} from './peer-handshake.ts';

const transcript: HandshakeTranscript = { zoneId: 'zone-a', client: 3, server: 1, clientNonce: handshakeNonce(), serverNonce: handshakeNonce() };

describe('removal proof', () => {
  it('verifies for the transcript and secret it was made with', async () => {
    const key = await importZoneKey(new Uint8Array(ZONE_SECRET_BYTES).fill(1));
    expect(await verifyRemovalProof(key, transcript, await removalProof(key, transcript))).toBe(true);
  });

  it('fails for another transcript: other nonces, another removed node, another server, another zone', async () => {
    const key = await importZoneKey(new Uint8Array(ZONE_SECRET_BYTES).fill(1));
    const proof = await removalProof(key, transcript);
    const others: HandshakeTranscript[] = [
      { ...transcript, clientNonce: handshakeNonce() },
      { ...transcript, serverNonce: handshakeNonce() },
      { ...transcript, client: 2 },
      { ...transcript, server: 2 },
      { ...transcript, zoneId: 'zone-b' },
    ];
    for (const other of others) expect(await verifyRemovalProof(key, other, proof), JSON.stringify({ ...other, clientNonce: undefined, serverNonce: undefined })).toBe(false);
  });

  it('fails for a wrong secret', async () => {
    const key = await importZoneKey(new Uint8Array(ZONE_SECRET_BYTES).fill(1));
    const wrongKey = await importZoneKey(new Uint8Array(ZONE_SECRET_BYTES).fill(2));
    expect(await verifyRemovalProof(key, transcript, await removalProof(wrongKey, transcript))).toBe(false);
  });

  it('is not the handshake proof of either side: a welcome handshake cannot be replayed as a removal', async () => {
    const key = await importZoneKey(new Uint8Array(ZONE_SECRET_BYTES).fill(1));
    expect(await verifyRemovalProof(key, transcript, await handshakeProof(key, 'server', transcript))).toBe(false);
    expect(await verifyRemovalProof(key, transcript, await handshakeProof(key, 'client', transcript))).toBe(false);
  });
});

describe('removal signature', () => {
  it('verifies with the signer\'s public key, for that transcript only', async () => {
    const server = await generateNodeKeyPair();
    const signature = await removalSignature(server.privateKey, transcript);
    const publicKey = await importNodePublicKey(server.publicKey);
    expect(await verifyRemovalSignature(publicKey, transcript, signature)).toBe(true);
    expect(await verifyRemovalSignature(publicKey, { ...transcript, client: 2 }, signature)).toBe(false);
    expect(await verifyRemovalSignature(publicKey, { ...transcript, serverNonce: handshakeNonce() }, signature)).toBe(false);
  });

  it('fails for another node\'s key, and is not the server\'s handshake signature', async () => {
    const server = await generateNodeKeyPair();
    const other = await generateNodeKeyPair();
    const publicKey = await importNodePublicKey(server.publicKey);
    expect(await verifyRemovalSignature(publicKey, transcript, await removalSignature(other.privateKey, transcript))).toBe(false);
    expect(await verifyRemovalSignature(publicKey, transcript, await handshakeSignature(server.privateKey, 'server', transcript))).toBe(false);
  });
});
