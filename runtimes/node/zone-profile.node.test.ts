import { describe, expect, it } from 'vitest';
import { ZoneProfile, zoneProfileIntervalMs } from './zone-profile.ts';
import { zoneWriteBufferBytes, ZONE_WRITE_BUFFER_BYTES } from './zone-node.ts';

describe('zone node profile', () => {
  it('is off unless NEXUS_ZONE_PROFILE names a report interval in milliseconds; anything else is EINVAL', () => {
    expect(zoneProfileIntervalMs({})).toBeUndefined();
    expect(zoneProfileIntervalMs({ NEXUS_ZONE_PROFILE: '' })).toBeUndefined();
    expect(zoneProfileIntervalMs({ NEXUS_ZONE_PROFILE: '1000' })).toBe(1000);
    for (const bad of ['0', '-5', '1.5', 'yes']) {
      expect(() => zoneProfileIntervalMs({ NEXUS_ZONE_PROFILE: bad })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('NEXUS_ZONE_PROFILE') }));
    }
  });

  it('reports a loop phase that ran longer than 50 ms on its own line, but not a commit, which waits rather than holds the loop', () => {
    const lines: string[] = [];
    const profile = new ZoneProfile({ intervalMs: 60_000, log: (line) => lines.push(line) });
    try {
      profile.record('persist', 75, 3, true);
      profile.record('persist', 2, 1, true);
      profile.record('commit', 120, 1);
    } finally {
      profile.stop();
    }
    expect(lines).toEqual(['profile: long persist: 75.0 ms, 3 items']);
  });
});

describe('zone node write buffers', () => {
  it('differ between the first three nodes of a zone, so their KV checkpoints do not fall together, and repeat after them', () => {
    expect(new Set([1, 2, 3].map(zoneWriteBufferBytes)).size).toBe(3);
    expect(zoneWriteBufferBytes(4)).toBe(zoneWriteBufferBytes(1));
    for (const bytes of ZONE_WRITE_BUFFER_BYTES) expect(Number.isSafeInteger(bytes) && bytes > 0).toBe(true);
  });
});
