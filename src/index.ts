/**
 * arcface: the library entry. Start the runtime once (`await initRuntime()`), then use the
 * losses and heads to train, or the experiments and plots below.
 */
export {
  initRuntime,
  tf,
  type BackendChoice,
  type BackendName,
  type RuntimeInfo,
} from './runtime/backend.js';
export {
  heapInfo,
  assertFits,
  explainBackendError,
  WASM_HEAP_LIMIT,
  type HeapInfo,
} from './runtime/memory.js';
export { ArcfaceError, type ArcfaceErrorCode } from './errors.js';
export * from './losses/index.js';
export { targetLogitCurves, CURVE_LOSSES, type TargetCurves } from './curves/target_logit.js';
export { runToy, type ToyOptions, type ToyResult, type ToyRun } from './toy/experiment.js';
export { targetCurvesSvg } from './plot/curves.js';
export { circlePanelsSvg } from './plot/circle.js';
export { lineChart, type LineChartOptions, type Series } from './plot/svg.js';
export { VERSION } from './version.js';
