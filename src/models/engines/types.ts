/**
 * What the Embedder needs from a runtime: run one batch of inputs already filled per the manifest
 * (fillInput), return the raw embeddings. Pre-processing, batching, flip-sum, normalisation and
 * their errors stay in the Embedder, so every engine behaves the same.
 */
export type EngineName = 'onnx' | 'tfjs';

export interface EngineOutput {
  /** Element type as the runtime names it ('float32' expected). */
  type: string;
  dims: readonly number[];
  data: Float32Array;
}

export interface EmbedEngine {
  readonly name: EngineName;
  /** The model's batch axis is fixed at 1: one image per run. */
  readonly single: boolean;
  /** `input`: N images in the manifest's layout, `dims` its 4-D shape. */
  run(input: Float32Array, dims: number[]): Promise<EngineOutput>;
  release(): Promise<void>;
}
