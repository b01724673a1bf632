/**
 * GFLOP/s of the f32 GEMM on the dlib ResNet's conv shapes (im2col [pixels, 9*Ci] x [9*Ci, Co] at
 * batch 16, and Winograd's [tiles, Ci] x [Ci, Co]): the wasm backend's XNNPACK (a 1x1 conv, its
 * GEMM path) against ours (src/runtime/kernels/gemm.ts) with relaxed-SIMD FMA and with plain
 * multiply + add, each with its 6x8 and its 4x8 register tile, in one process, calls alternating,
 * medians. PyTorch is not in this one: the
 * ratio that counts is the training step's, bench/train_speed.ts.
 *
 *   node --import tsx bench/gemm.ts [--reps 15]
 */
import { initRuntime, tf } from '../src/runtime/backend.js';
import {
  gemm,
  packB,
  relaxedSimdAvailable,
  setGemmVariant,
  setGemmTileRows,
  gemmTileRows,
  type GemmVariant,
} from '../src/runtime/kernels/gemm.js';
import { xnnpackConv2D } from '../src/runtime/kernels/conv2d_forward.js';
import { disposeInfos, heapOffset, type BackendWasm } from '../src/runtime/kernels/util.js';

const args = process.argv.slice(2);
const at = args.indexOf('--reps');
const REPS = at >= 0 ? Number(args[at + 1]) : 15;

await initRuntime('wasm');
const backend = tf.backend() as unknown as BackendWasm;
const variants: GemmVariant[] = relaxedSimdAvailable() ? ['fma', 'plain'] : ['plain'];
const SHAPES: [string, number, number, number][] = [
  ['32 ch, 35x35 (im2col)', 16 * 35 * 35, 288, 32],
  ['64 ch, 17x17 (im2col)', 16 * 17 * 17, 576, 64],
  ['128 ch, 8x8 (im2col)', 16 * 8 * 8, 1152, 128],
  ['256 ch, 4x4 (im2col)', 16 * 4 * 4, 2304, 256],
  ['64 ch Winograd plane', 16 * 9 * 9, 64, 64],
];
console.log(
  `Node ${process.versions.node} (V8 ${process.versions.v8}); relaxed SIMD: ${relaxedSimdAvailable() ? 'yes' : 'no'}; medians of ${REPS}\n`,
);
// Each build with each register tile; * marks the tile gemmTileRows() picks on this engine.
const configs = variants.flatMap((v) => ([6, 4] as const).map((rows) => ({ v, rows, key: `${v}/${rows}` })));
const chosen = (v: GemmVariant) => {
  setGemmVariant(v);
  const rows = gemmTileRows();
  setGemmVariant(undefined);
  setGemmTileRows(undefined);
  return rows;
};
const label = ({ v, rows }: { v: GemmVariant; rows: number }) =>
  `ours ${v} ${rows}x8${chosen(v) === rows ? ' *' : ''}`;
console.log(`| shape (M x K x N) | XNNPACK GFLOP/s | ${configs.map(label).join(' | ')} |`);
console.log(`| --- | ---: | ${configs.map(() => '---:').join(' | ')} |`);
for (const [name, m, k, n] of SHAPES) {
  const a = tf.randomNormal([1, m, 1, k]) as tf.Tensor4D;
  const b = tf.randomNormal([1, 1, k, n]) as tf.Tensor4D;
  const c = tf.zeros([m, n]);
  const times: Record<string, number[]> = Object.fromEntries(
    ['xnnpack', ...configs.map((c) => c.key)].map((k) => [k, []]),
  );
  const ours = (v: GemmVariant, rows: 4 | 6) => () => {
    setGemmVariant(v);
    setGemmTileRows(rows);
    const packed = packB(backend, heapOffset(backend, b), k, n);
    gemm(
      backend,
      { at: heapOffset(backend, a), rowStride: k, depthStride: 1 },
      packed,
      heapOffset(backend, c),
      n,
      m,
      k,
      n,
    );
    disposeInfos(backend, packed);
  };
  const runs: [string, () => void][] = [
    // A 1x1 conv is XNNPACK's GEMM (the registered Conv2D would route it to ours).
    ['xnnpack', () => disposeInfos(backend, xnnpackConv2D(backend, a, b))],
    ...configs.map(({ v, rows, key }): [string, () => void] => [key, ours(v, rows)]),
  ];
  for (let r = 0; r <= REPS; r++)
    for (const [key, f] of runs) {
      const t = performance.now();
      f();
      if (r > 0) times[key]!.push(performance.now() - t);
    }
  const gf = (key: string) => {
    const t = times[key]!.sort((x, y) => x - y)[times[key]!.length >> 1]!;
    return ((2 * m * k * n) / t / 1e6).toFixed(1);
  };
  console.log(
    `| ${name}: ${m} x ${k} x ${n} | ${gf('xnnpack')} | ${configs.map((c) => gf(c.key)).join(' | ')} |`,
  );
  tf.dispose([a, b, c]);
}
setGemmVariant(undefined);
setGemmTileRows(undefined);
