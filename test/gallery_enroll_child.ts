/**
 * Child process of test/gallery_kill.ts: a batch enroll that the test kills with SIGKILL midway,
 * into a data folder or a postgres:// URL. Image i becomes subject `s<i>` with 3 faces (one addFaces call, one transaction), each
 * with a ~16 KB crop; after each commit it prints `committed <i>`.
 *
 *   node --import tsx test/gallery_enroll_child.ts DIR|URL COUNT
 */
import { openStore } from '../src/gallery/open.js';
import { clusteredVectors, fakePng } from './gallery_suite.js';

const [location, count] = [process.argv[2], Number(process.argv[3])];
const store = await openStore(location);
if (!(await store.getGallery('batch'))) await store.createGallery({ name: 'batch', model: 'm', dim: 64 });
const { rows } = clusteredVectors(11, count, 3, 64, 0.1);
for (let i = 0; i < count; i++) {
  const s = await store.addSubject('batch', { name: `s${i}`, externalId: `s${i}` });
  await store.addFaces(
    'batch',
    s.id,
    [0, 1, 2].map((j) => ({ embedding: rows[i * 3 + j].v, model: 'm', crop: fakePng(i * 3 + j, 16_000) })),
  );
  process.stdout.write(`committed ${i}\n`);
}
await store.close();
