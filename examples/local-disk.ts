import { NexusFS } from 'nexusfs';
import { LocalObjectStore, openFileKvStore } from 'nexusfs/drivers/node-fs';

const directory = process.argv[2] ?? './nexus-data';
const metastore = await openFileKvStore(`${directory}/metastore.kv`);
const nx = new NexusFS({ metastore });
await nx.mount('/', new LocalObjectStore({ directory: `${directory}/blobs` }));
await nx.append('/log/runs.txt', `run at ${new Date().toISOString()}\n`);
console.log(new TextDecoder().decode(await nx.read('/log/runs.txt')).trimEnd());
await nx.close();
await metastore.close();
