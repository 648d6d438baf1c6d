import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { resolveServeConfig } from './server-config.ts';

function config(flags: { data?: string; host?: string; port?: string }, environment: Record<string, string> = {}) {
  return resolveServeConfig({ flags, environment });
}

function refusal(flags: { data?: string; host?: string; port?: string }, environment: Record<string, string> = {}): Error {
  try {
    config(flags, environment);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return error as Error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('resolveServeConfig', () => {
  it('defaults to ./nexus-data on 127.0.0.1:7070', () => {
    expect(config({})).toEqual({ dir: resolve('nexus-data'), host: '127.0.0.1', port: 7070 });
  });

  it('takes the NEXUS_* variables, and flags over them', () => {
    const environment = { NEXUS_DATA: '/srv/from-env', NEXUS_HOST: '0.0.0.0', NEXUS_PORT: '8080' };
    expect(config({}, environment)).toEqual({ dir: '/srv/from-env', host: '0.0.0.0', port: 8080 });
    expect(config({ data: 'flag-dir', host: '::1', port: '0' }, environment)).toEqual({ dir: resolve('flag-dir'), host: '::1', port: 0 });
    // An empty variable counts as unset.
    expect(config({}, { NEXUS_PORT: '', NEXUS_DATA: '' })).toEqual({ dir: resolve('nexus-data'), host: '127.0.0.1', port: 7070 });
  });

  it('takes the data dir from local: store URLs, in each of their spellings', () => {
    for (const url of ['local:/srv/nexus', 'local:///srv/nexus', 'LOCAL:/srv/nexus/']) {
      expect(config({}, { NEXUS_METASTORE: url }).dir, url).toBe('/srv/nexus');
    }
    const all = { NEXUS_METASTORE: 'local:./data', NEXUS_OBJECT_STORE: 'local:data', NEXUS_RECORD_STORE: `local:${resolve('data')}` };
    expect(config({}, all).dir).toBe(resolve('data'));
    expect(config({ data: './data' }, all).dir).toBe(resolve('data'));
  });

  it('refuses store URLs that name another dir than the data dir', () => {
    expect(refusal({}, { NEXUS_METASTORE: 'local:/a', NEXUS_OBJECT_STORE: 'local:/b' }).message).toMatch(/NEXUS_OBJECT_STORE=local:\/b names \/b, but the data dir is \/a/);
    expect(refusal({ data: '/c' }, { NEXUS_RECORD_STORE: 'local:/a' }).message).toMatch(/data dir is \/c/);
    expect(refusal({}, { NEXUS_METASTORE: 'local:' }).message).toMatch(/expected local:DIR/);
  });

  it('refuses drivers that do not exist yet, saying so, without showing a password', () => {
    const cases: [string, string, RegExp][] = [
      ['NEXUS_OBJECT_STORE', 's3://bucket/prefix', /NEXUS_OBJECT_STORE=s3:\/\/bucket\/prefix: the s3 driver is not available yet; use local:DIR/],
      ['NEXUS_METASTORE', 'postgresql://nexus:hunter2@db/nexus', /NEXUS_METASTORE=postgresql:\/\/nexus:\*\*\*@db\/nexus: the postgresql driver is not available yet/],
      ['NEXUS_RECORD_STORE', 'postgres://db/nexus', /the postgres driver is not available yet/],
      ['NEXUS_CACHE_STORE', 'redis://localhost:6379', /NEXUS_CACHE_STORE=redis:\/\/localhost:6379: the redis driver is not available yet; unset it/],
    ];
    for (const [name, url, message] of cases) {
      const error = refusal({}, { [name]: url });
      expect(error.message, url).toMatch(message);
      expect(error.message).not.toContain('hunter2');
    }
  });

  it('refuses unknown schemes and URLs without a scheme', () => {
    expect(refusal({}, { NEXUS_METASTORE: 'ftp://x' }).message).toMatch(/NEXUS_METASTORE=ftp:\/\/x: unknown store URL scheme ftp:; supported: local:DIR/);
    expect(refusal({}, { NEXUS_OBJECT_STORE: './data' }).message).toMatch(/unknown store URL scheme \(none\)/);
    expect(refusal({}, { NEXUS_CACHE_STORE: 'local:./data' }).message).toMatch(/supported: none yet: unset it/);
  });

  it('refuses ports that are not whole numbers from 0 to 65535, naming where they came from', () => {
    for (const port of ['-1', '65536', '1.5', 'http', ' ']) {
      expect(refusal({ port }).message, port).toMatch(/^--port .*: a port is a whole number from 0 to 65535/);
    }
    expect(refusal({}, { NEXUS_PORT: 'x' }).message).toMatch(/^NEXUS_PORT "x"/);
    expect(config({ port: '65535' }).port).toBe(65_535);
  });
});
