import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { createZoneSecret, formatJoinToken, parseJoinToken } from '../../drivers/transport-websocket/join-token.ts';
import { serveZoneTransport } from '../../drivers/transport-websocket/node-upgrade.ts';
import { createZoneApi, createZoneApiCore, nodeStatusOf, type ZoneApiCore, type ZoneNodeStatus } from '../../drivers/transport-websocket/zone-api-app.ts';
import { zoneApiListener } from '../../runtimes/node/zone-api-listener.ts';
import { ZoneTestCluster } from './zone-cluster.ts';

export interface ZoneApiTestServer {
  readonly cluster: ZoneTestCluster;
  readonly core: ZoneApiCore;
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  readonly token: string;
  /** The sockets of the upgrades it served (they leave the server's connections), to cut them. */
  readonly upgraded: Duplex[];
  /** Closes the server, its connections and the cluster. */
  close(): Promise<void>;
}

/**
 * A three-replica zone whose node 1 serves the ZoneApi on 127.0.0.1 as a zone node does
 * (runtimes/node/zone-node.ts): the POST routes through the node:http listener, the rest through
 * the hono app, and the mux channel's upgrades, all through one ZoneApiCore.
 */
export async function startZoneApiTestServer(): Promise<ZoneApiTestServer> {
  const cluster = await ZoneTestCluster.start();
  const token = formatJoinToken({ zoneId: cluster.zoneId, zoneSecret: createZoneSecret() });
  const replica = cluster.replica(1);
  const status = (): ZoneNodeStatus => ({ ...nodeStatusOf(replica.status()), ticks: 0, tickIntervalMs: 1, electionTimeoutTicks: 10, peers: [] });
  const options = { replica, token: parseJoinToken(token), status };
  const core = createZoneApiCore(options);
  const server: Server = createServer(zoneApiListener(core, getRequestListener(createZoneApi(options, core).fetch)));
  const detach = serveZoneTransport(server, undefined, core);
  const upgraded: Duplex[] = [];
  server.on('upgrade', (_request, socket: Duplex) => upgraded.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    cluster,
    core,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    upgraded,
    close: async () => {
      detach();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cluster.close();
    },
  };
}
