import { Agent, request } from 'node:http';
import type { ZoneApiHttpExchange, ZoneApiHttpRequest, ZoneApiHttpResponse } from '../../drivers/transport-websocket/zone-api-client.ts';
import { concatChunks } from '../../kernel/contracts/bytes.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';

/** Connections kept open to one node: enough for every concurrent request of a busy client. */
export const NODE_HTTP_SOCKETS_PER_ORIGIN_MAX = 1024;

/** The largest response body read, in bytes: a ZoneApi answer (a scan page of large values) fits. */
export const NODE_HTTP_RESPONSE_BYTES_MAX = 128 * 1024 * 1024;

export interface NodeHttpExchangeOptions {
  /** NODE_HTTP_SOCKETS_PER_ORIGIN_MAX by default. */
  readonly socketsPerOriginMax?: number;
  /** Lowers NODE_HTTP_RESPONSE_BYTES_MAX: a larger response rejects with EINVAL. */
  readonly responseBytesMax?: number;
}

export interface NodeHttpExchange {
  readonly exchange: ZoneApiHttpExchange;
  /** Closes the kept-alive connections; requests after it open new ones. */
  close(): void;
}

/**
 * A ZoneApiHttpExchange on node:http with kept-alive connections (http: URLs only). Node's fetch
 * costs several times more CPU per request than node:http (its web streams and Request objects),
 * and a closed-loop client of a zone spends most of its time there: the bench:raft client and
 * the CLI use this one in Node.
 */
export function createNodeHttpExchange(options: NodeHttpExchangeOptions = {}): NodeHttpExchange {
  const agent = new Agent({ keepAlive: true, maxSockets: options.socketsPerOriginMax ?? NODE_HTTP_SOCKETS_PER_ORIGIN_MAX });
  const responseBytesMax = options.responseBytesMax ?? NODE_HTTP_RESPONSE_BYTES_MAX;
  return {
    exchange: async (httpRequest) => await exchangeOnce(agent, httpRequest, responseBytesMax),
    close: () => agent.destroy(),
  };
}

function exchangeOnce(agent: Agent, httpRequest: ZoneApiHttpRequest, responseBytesMax: number): Promise<ZoneApiHttpResponse> {
  const url = new URL(httpRequest.url);
  if (url.protocol !== 'http:') throw new InvalidArgumentError(`the node:http exchange takes http: URLs, not ${JSON.stringify(httpRequest.url)}`);
  const headers: Record<string, string | number> = { ...httpRequest.headers };
  if (httpRequest.body !== undefined) headers['content-length'] = httpRequest.body.byteLength;
  return new Promise<ZoneApiHttpResponse>((resolve, reject) => {
    const outgoing = request(url, { method: httpRequest.method, agent, headers }, (incoming) => {
      const chunks: Uint8Array[] = [];
      let sizeBytes = 0;
      incoming.on('data', (chunk: Uint8Array) => {
        sizeBytes += chunk.byteLength;
        if (sizeBytes > responseBytesMax) {
          incoming.destroy(new InvalidArgumentError(`a ZoneApi response from ${url.host} is larger than ${responseBytesMax} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body: concatChunks(chunks) }));
      incoming.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(httpRequest.body);
  });
}

