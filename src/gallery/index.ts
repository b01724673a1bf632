/** The gallery: enrolled subjects, open-set identification, and the stores that keep them. */
export * from './types.js';
export { checkModel, unitEmbedding, embeddingToBytes, embeddingFromBytes } from './embedding.js';
export { SubjectRanker, type RankedSubject } from './rank.js';
export {
  SearchIndex,
  discardIndexFile,
  type SearchIndexOptions,
  type IndexRow,
  type IndexOrigin,
} from './search_index.js';
export { SqliteGalleryStore, openSqliteStore, DEFAULT_DATA_DIR, type SqliteStoreOptions } from './sqlite.js';
export { SCHEMA_VERSION } from './schema.js';
export {
  identify,
  verifySubject,
  type IdentifyOptions,
  type Identification,
  type SubjectVerification,
} from './identify.js';
export {
  PostgresGalleryStore,
  openPostgresStore,
  POSTGRES_SCHEMA_VERSION,
  type PostgresStoreOptions,
} from './postgres.js';
export { openStore, isPostgresUrl, type OpenStoreOptions } from './open.js';
export { checkName, MAX_NAME, parseId } from './names.js';
export { inspectMetadata, MAX_METADATA_BYTES, MAX_METADATA_DEPTH, type MetadataProblem } from './metadata.js';
export { nameCluster, mergeClusters, splitCluster, moveFace } from './clusters.js';
export { excludedSubjects, iou, SAME_FACE_IOU } from './corrections.js';
