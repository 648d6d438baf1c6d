import { resolve } from 'node:path';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import { DATA_DIR_DEFAULT } from './data-dir.ts';

/**
 * The configuration of `nexus serve`: flags first, then the `NEXUS_*` variables (DESIGN.md
 * section 5), then the defaults. Storage is named per pillar by URL (`NEXUS_METASTORE=local:DIR`,
 * ...); today every pillar lives in one local data dir, so each URL given must be `local:` the
 * same dir. A scheme whose driver does not exist yet (`s3://`, `postgresql://`, ...) is refused
 * with a message saying so, never ignored: a server that silently kept data elsewhere than its
 * operator asked would lose it.
 */

export const SERVER_HOST_DEFAULT = '127.0.0.1';
export const SERVER_PORT_DEFAULT = 7070;

export const SERVER_ENVIRONMENT = {
  data: 'NEXUS_DATA',
  host: 'NEXUS_HOST',
  port: 'NEXUS_PORT',
  metastore: 'NEXUS_METASTORE',
  objectStore: 'NEXUS_OBJECT_STORE',
  recordStore: 'NEXUS_RECORD_STORE',
  cacheStore: 'NEXUS_CACHE_STORE',
} as const;

/** The one scheme nexus serve has a driver for: a local data dir. */
const LOCAL_SCHEME = 'local:';

/** Schemes of drivers that DESIGN.md plans and that do not exist yet, per pillar variable. */
const PLANNED_SCHEMES: Readonly<Record<string, readonly string[]>> = {
  NEXUS_METASTORE: ['postgres:', 'postgresql:'],
  NEXUS_OBJECT_STORE: ['s3:', 'r2:', 'gs:'],
  NEXUS_RECORD_STORE: ['postgres:', 'postgresql:', 'd1:'],
  NEXUS_CACHE_STORE: ['redis:', 'rediss:', 'memory:'],
};

export interface ServeFlags {
  readonly data?: string;
  readonly host?: string;
  readonly port?: string;
}

export interface ServeConfig {
  /** The data dir, absolute. */
  readonly dir: string;
  readonly host: string;
  readonly port: number;
}

export function resolveServeConfig(options: { flags: ServeFlags; environment: Readonly<Record<string, string | undefined>> }): ServeConfig {
  const { flags, environment } = options;
  const variable = (name: string): string | undefined => {
    const value = environment[name];
    return value === undefined || value === '' ? undefined : value;
  };
  refuseCacheStore(variable(SERVER_ENVIRONMENT.cacheStore));
  const pillarDirs = [SERVER_ENVIRONMENT.metastore, SERVER_ENVIRONMENT.objectStore, SERVER_ENVIRONMENT.recordStore].flatMap((name) => {
    const url = variable(name);
    return url === undefined ? [] : [{ name, dir: localDirOf(name, url) }];
  });
  const explicitDir = flags.data ?? variable(SERVER_ENVIRONMENT.data);
  const dir = resolve(explicitDir ?? pillarDirs[0]?.dir ?? DATA_DIR_DEFAULT);
  for (const pillar of pillarDirs) {
    if (pillar.dir !== dir) {
      throw new InvalidArgumentError(
        `${pillar.name}=${environment[pillar.name]} names ${pillar.dir}, but the data dir is ${dir}: ` +
          'for now one local data dir holds every store, so each NEXUS_* store URL must be local: that dir',
      );
    }
  }
  const host = flags.host ?? variable(SERVER_ENVIRONMENT.host) ?? SERVER_HOST_DEFAULT;
  const portText = flags.port ?? variable(SERVER_ENVIRONMENT.port);
  const port = portText === undefined ? SERVER_PORT_DEFAULT : parsePort(portText, flags.port === undefined ? SERVER_ENVIRONMENT.port : '--port');
  return { dir, host, port };
}

/** The absolute dir of a `local:DIR` URL (`local:./nexus-data`, `local:/srv/nexus`, `local://srv/nexus`). */
function localDirOf(name: string, url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0]?.toLowerCase();
  if (scheme === LOCAL_SCHEME) {
    const path = url.slice(LOCAL_SCHEME.length).replace(/^\/\//, '/');
    if (path.length === 0) throw new InvalidArgumentError(`${name}=${url}: expected local:DIR, e.g. local:./nexus-data`);
    return resolve(path);
  }
  throw unavailableScheme(name, url, scheme);
}

function refuseCacheStore(url: string | undefined): void {
  if (url === undefined) return;
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0]?.toLowerCase();
  throw unavailableScheme(SERVER_ENVIRONMENT.cacheStore, url, scheme);
}

function unavailableScheme(name: string, url: string, scheme: string | undefined): InvalidArgumentError {
  const shown = redactCredentials(url);
  if (scheme !== undefined && (PLANNED_SCHEMES[name] ?? []).includes(scheme)) {
    return new InvalidArgumentError(
      `${name}=${shown}: the ${scheme.slice(0, -1)} driver is not available yet; ` +
        (name === SERVER_ENVIRONMENT.cacheStore ? 'unset it (nexus serve runs without a CacheStore)' : 'use local:DIR'),
    );
  }
  const supported = name === SERVER_ENVIRONMENT.cacheStore ? 'none yet: unset it' : 'local:DIR';
  return new InvalidArgumentError(`${name}=${shown}: unknown store URL scheme ${scheme ?? '(none)'}; supported: ${supported}`);
}

/** A URL's password never reaches a log: `postgresql://user:secret@host` shows as `postgresql://user:***@host`. */
function redactCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

function parsePort(text: string, source: string): number {
  const port = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(`${source} ${JSON.stringify(text)}: a port is a whole number from 0 to 65535 (0 picks a free one)`);
  }
  return port;
}
