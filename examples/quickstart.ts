import { NexusFS } from 'nexusfs';
import { MemoryMetastore, MemoryObjectStore } from 'nexusfs/drivers/memory';

const nx = new NexusFS({ metastore: new MemoryMetastore() });
await nx.mount('/', new MemoryObjectStore());
await nx.write('/notes/todo.md', '- [ ] ship the kernel\n- [ ] write the docs\n');
const { version } = await nx.stat('/notes/todo.md');
await nx.edit('/notes/todo.md', [{ search: '[ ] ship', replace: '[x] ship' }], { ifMatch: version });
console.log(new TextDecoder().decode(await nx.read('/notes/todo.md')));
console.log(await nx.glob('**/*.md'), await nx.grep('docs', { path: '/notes' }));
