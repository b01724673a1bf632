export { assign, type AssignResult, type Constraints, type Existing, type FaceRef } from './assign.js';
export { clusterFaces, clusterLabels, DEFAULT_K, type ClusterOptions } from './cluster.js';
export { annNeighbours, exactNeighbours, neighbourSource, type NeighbourSource } from './neighbours.js';
export { cosineScale, farScale, type Scale } from './scale.js';
export {
  ALGORITHMS,
  type Algorithm,
  type Assignment,
  type ClusterFaces,
  type FaceKey,
  type KnnGraph,
} from './types.js';
export { DEFAULT_ALGORITHM, DEFAULT_LINK_FAR, DEFAULT_MIN_FACES } from './defaults.js';
