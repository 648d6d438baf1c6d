import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';

/** A hono app listening on 127.0.0.1 on a free port, for tests in Node and Deno. */
export interface ListeningServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Stops listening and ends open connections (watch streams included). */
  close(): Promise<void>;
}

export async function listen(app: { fetch: (request: Request) => Response | Promise<Response> }): Promise<ListeningServer> {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
  };
}
