/**
 * A gradient worker of GradientPool (parallel.ts): its own runtime (one wasm instance), the
 * config's backbone and head, and per request the trainer's per-micro-batch code
 * (`microBatchGradients`) over its share of the step, starting from the parameters and BN
 * statistics the main thread sends. Errors go back as messages, never thrown across threads.
 */
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ArcfaceError } from '../errors.js';
import { initRuntime, tf } from '../runtime/backend.js';
import { createTrainBackbone } from './backbone.js';
import { headFromConfig } from './head.js';
import { GRAD_WORKER_FLAG, type ComputeRequest, type GradWorkerInit, type WorkerReply } from './parallel.js';
import { addGradients, lossIteration, microBatchGradients } from './trainer.js';
import { headWeights } from './types.js';

function reply(port: MessagePort, m: WorkerReply, transfer: ArrayBuffer[] = []) {
  port.postMessage(m, transfer);
}

function errorReply(id: number, err: unknown, microBatch?: number): WorkerReply {
  const message = err instanceof Error ? err.message : String(err);
  return {
    type: 'error',
    id,
    message,
    ...(err instanceof ArcfaceError ? { code: err.code, microBatch } : {}),
  };
}

async function run(port: MessagePort, init: GradWorkerInit) {
  const { config: cfg } = init;
  let setup;
  try {
    await initRuntime(init.backend);
    const model = createTrainBackbone(cfg);
    const head = headFromConfig(cfg, init.numClasses);
    // Keys as the trainer makes them ("backbone/NAME", "head/NAME").
    const trainable = new Set(model.trainable);
    const params = new Map<string, tf.Variable>();
    const state = new Map<string, tf.Variable>();
    for (const [name, v] of model.namedWeights())
      (trainable.has(v) ? params : state).set(`backbone/${name}`, v);
    for (const [name, v] of headWeights(head)) params.set(`head/${name}`, v);
    // BN momentum of each running statistic, from the graph's batchnorm nodes.
    const momentum = new Map([...model.bnMomentum()].map(([w, m]) => [`backbone/${w}`, m]));
    setup = { model, head, params, state, iter: lossIteration(head) };
    reply(port, {
      type: 'ready',
      params: [...params].map(([k, v]) => [k, v.size]),
      state: [...state].map(([k, v]) => [k, v.size, momentum.get(k) ?? null]),
    });
  } catch (err) {
    reply(port, errorReply(-1, err));
    return;
  }
  const { model, head, params, state, iter } = setup;
  const varList = [...params.values()];
  const headVars = [...params].filter(([k]) => k.startsWith('head/')).map(([, v]) => v);
  const keyOf = new Map([...params].map(([k, v]) => [v.name, k]));

  // Requests are synchronous work, so they run one at a time in arrival order.
  port.on('message', (req: ComputeRequest) => {
    const sums = new Map<string, tf.Tensor>();
    let at: number | undefined;
    try {
      const assign = (vars: Map<string, tf.Variable>, values: [string, Float32Array][]) => {
        for (const [k, a] of values) {
          const v = vars.get(k)!;
          tf.tidy(() => v.assign(tf.tensor(a, v.shape)));
        }
      };
      assign(params, req.params);
      assign(state, req.state);
      const losses: number[] = [];
      for (const m of req.micro) {
        at = m.at;
        if (iter && m.lossIteration !== null) iter.setIteration(m.lossIteration);
        const out = microBatchGradients(
          model,
          head,
          req.frozen ? headVars : varList,
          m.images,
          m.labels,
          req.shape,
          m.seed,
          !req.frozen,
        );
        losses.push(out.loss);
        addGradients(sums, out.grads, keyOf);
      }
      at = undefined;
      // Copies (slice): on the cpu backend dataSync is the tensor's own storage, not ours to transfer.
      const read = (t: tf.Tensor) => (t.dataSync() as Float32Array).slice();
      const grads = [...sums].map(([k, g]) => [k, read(g)] as [string, Float32Array]);
      const after = [...state].map(([k, v]) => [k, read(v)] as [string, Float32Array]);
      reply(
        port,
        {
          type: 'result',
          id: req.id,
          losses,
          grads,
          state: after,
          lossIteration: iter ? iter.iteration : null,
        },
        [...grads, ...after].map(([, a]) => a.buffer as ArrayBuffer),
      );
    } catch (err) {
      reply(port, errorReply(req.id, err, at));
    } finally {
      tf.dispose([...sums.values()]);
    }
  });
}

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | undefined)?.[GRAD_WORKER_FLAG])
  void run(parentPort, workerData as GradWorkerInit);
