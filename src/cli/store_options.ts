/**
 * The store flags of the gallery commands (`enroll`, `identify`, `gallery`, `serve`): where the
 * galleries live and how they are searched. One meaning on both stores: `--ann exact` scans every
 * face, `hnsw` always uses the graph, `auto` (default) switches by gallery size (SQLite: 100k faces,
 * its in-memory usearch graph; PostgreSQL: 10k, pgvector's index); `--ef` is the graph's search
 * breadth (bench/gallery_search.ts measures recall against it).
 */
import { DEFAULT_DATA_DIR, type OpenStoreOptions } from '../gallery/index.js';
import { parseNumber, UsageError } from './command.js';
import { Progress } from './progress.js';

/** `--store URL|DIR`: also the only store flag of `arcface keys` (keys.json lives in the data folder). */
export const storeOption = { store: { type: 'string', short: 's' } } as const;
export const storeUsage = `  -s, --store URL|DIR  a postgres:// URL or the data folder (default ${DEFAULT_DATA_DIR})`;

export const searchOptions = {
  ...storeOption,
  ann: { type: 'string' },
  ef: { type: 'string' },
} as const;
export const searchUsage = `${storeUsage}
  --ann MODE           auto (default: an HNSW graph from 100k faces, 10k on PostgreSQL), exact or hnsw
  --ef N               the graph's search breadth (default 128; more: higher recall, slower)`;

/** The store options the flags ask for. */
export function storeOptionsFromArgs(values: { ann?: string; ef?: string }): OpenStoreOptions {
  const ann = values.ann ?? 'auto';
  if (ann !== 'auto' && ann !== 'exact' && ann !== 'hnsw')
    throw new UsageError(`bad value for --ann: "${ann}" (auto, exact or hnsw)`);
  // pgvector's hnsw.ef_search tops out at 1,000; usearch has no limit but gains nothing there.
  const ef = parseNumber(values.ef, 'ef', (v) => Number.isInteger(v) && v >= 1 && v <= 1000);
  return {
    sqlite: { index: { ann, expansionSearch: ef }, onIndexProgress: graphProgress() },
    postgres: {
      efSearch: ef,
      annThreshold: ann === 'exact' ? Number.MAX_SAFE_INTEGER : ann === 'hnsw' ? 1 : undefined,
    },
  };
}

/** A progress bar on stderr for each HNSW graph the embedded store builds (minutes from 100k faces). */
function graphProgress(): (gallery: string, done: number, total: number) => void {
  let bar: Progress | null = null;
  let last = 0;
  return (gallery, done, total) => {
    if (done === 0) {
      bar = new Progress({ label: `search graph of gallery '${gallery}'`, total, unit: 'faces' });
      last = 0;
      return;
    }
    bar?.tick(done - last);
    last = done;
    if (done === total) bar?.finish('built, saved beside the database');
  };
}
