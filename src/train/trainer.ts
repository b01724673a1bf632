/**
 * The training loop (arcface_torch train_v2.py, single process): per optimizer step, forward
 * backbone + margin head on `accumulate` micro-batches, average their gradients, clip, one
 * momentum-SGD update with the scheduled lr; log, validate and checkpoint every N steps.
 *
 * Accumulation: each micro-batch's loss is its own mean; the gradients of the micro-batches are
 * summed then divided by `accumulate` (arcface_torch divides each loss by gradient_acc before
 * backward: the same), so with equal micro-batches the step equals one on the whole batch.
 * Clipping and weight decay happen once per optimizer step, after the average.
 *
 * Exact resume: a checkpoint holds the weights (and BN statistics), the momentum buffers, the
 * step (the lr is a function of it), the data position (epoch, batch) and the trainer's RNG
 * state, so stopping after k steps and resuming gives the same float32 weights, bit for bit, as
 * a run that never stopped (same ops, same order, same backend).
 */
import { tf } from '../runtime/backend.js';
import { ArcfaceError } from '../errors.js';
import { checkLength, totalSteps as stepsOf, type TrainConfig } from './config.js';
import { lrAt } from './schedule.js';
import { clipByGlobalNorm, globalNorm } from './clip.js';
import { Sgd } from './sgd.js';
import { TrainRng } from './rng.js';
import { loadCheckpoint, saveCheckpoint, type TrainPosition } from './checkpoint.js';
import { latestCheckpoint, prepareRunDir } from './run_dir.js';
import { appendLog, truncateLogAfter } from './log.js';
import {
  headWeights,
  type Batch,
  type BatchSource,
  type TrainableHead,
  type TrainableModel,
} from './types.js';

export interface TrainProgress {
  epoch: number;
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  samplesPerSec: number;
  etaSec: number;
}

export interface Validation {
  accuracy: number;
  std: number;
}

export interface TrainOptions {
  config: TrainConfig;
  runDir: string;
  model: TrainableModel;
  head: TrainableHead;
  data: BatchSource;
  /** `step`: the optimizer steps done (0 for validateFirst). */
  validate?: (model: TrainableModel, step: number) => Promise<Validation>;
  /**
   * Validate once before the first step of a fresh run (logged at step 0): the starting point of a
   * fine-tune, which every later validation is read against.
   */
  validateFirst?: boolean;
  onProgress?: (p: TrainProgress) => void;
  /** Continue from the newest checkpoint in runDir (a fresh start when there is none). */
  resume?: boolean;
  /** Aborting finishes the current step, writes a checkpoint and returns {stopped: 'signal'}. */
  signal?: AbortSignal;
  /** SIGINT / SIGTERM act as `signal` while training (default true); a second one kills as usual. */
  catchSignals?: boolean;
  /** Names the config in errors (its file); default RUN/config.json. */
  configSource?: string;
  /**
   * Computes each step's micro-batch gradients elsewhere (GradientPool: worker threads); absent,
   * they are computed here. Either way the step is the same up to float rounding.
   */
  gradients?: GradientSource;
}

/** One micro-batch as a GradientSource gets it: its data and what the trainer drew for it. */
export interface MicroBatch {
  images: Float32Array;
  labels: Int32Array;
  /** The model's seed for this forward pass (dropout), drawn by the trainer in order. */
  seed: number;
  /** The margin loss's iteration for this forward (SphereFace's annealing); null: none. */
  lossIteration: number | null;
}

export interface GradientResult {
  /** Each micro-batch's loss, in order. */
  losses: number[];
  /** Gradient sums over the micro-batches by parameter key (the caller disposes them). */
  grads: Map<string, tf.Tensor>;
  /** The loss's iteration after the last micro-batch (null: none). */
  lossIteration: number | null;
}

/**
 * Gradients of a step's micro-batches at the current `params` (keys "backbone/NAME",
 * "head/NAME"), leaving `state` (the model's non-trainable variables, "backbone/NAME") as the
 * sequential forward passes would have: GradientPool in src/train/parallel.ts.
 */
export interface GradientSource {
  /**
   * `frozen`: a head-only step (freezeBackboneSteps): the backbone runs in inference mode, `state`
   * stays as it is, and only the head's parameters get gradients.
   */
  compute(
    params: Map<string, tf.Variable>,
    state: Map<string, tf.Variable>,
    micro: MicroBatch[],
    imageShape: readonly [number, number, number],
    frozen?: boolean,
  ): Promise<GradientResult>;
}

/**
 * One micro-batch's loss and gradients (by variable name): what the trainer's loop and a
 * gradient worker (grad_worker.ts) both run, so the two compute the same thing. `training` false
 * (a frozen backbone): the model runs in inference mode (BN running statistics, no dropout) and
 * only `varList`'s gradients are taken, so the tape never goes back through a backbone not in it.
 */
export function microBatchGradients(
  model: TrainableModel,
  head: TrainableHead,
  varList: tf.Variable[],
  images: Float32Array,
  labels: Int32Array,
  shape: readonly [number, number, number],
  seed: number,
  training = true,
): { loss: number; grads: tf.NamedTensorMap } {
  const n = labels.length;
  const x = tf.tensor4d(images, [n, ...shape]);
  const y = tf.tensor1d(labels, 'int32');
  let out: { value: tf.Scalar; grads: tf.NamedTensorMap };
  try {
    out = tf.variableGrads(() => {
      const r = head.forward(model.apply(x, training, seed), y);
      r.logits.dispose();
      r.cos.dispose();
      return r.loss;
    }, varList);
  } finally {
    tf.dispose([x, y]);
  }
  const loss = out.value.dataSync()[0];
  out.value.dispose();
  return { loss, grads: out.grads };
}

export interface TrainResult {
  stopped: 'done' | 'signal';
  step: number;
  epoch: number;
  totalSteps: number;
  /** Mean loss of the last step (NaN when no step ran). */
  loss: number;
  checkpoint: string;
  validation: Validation | null;
}

export interface LossWithIteration {
  iteration: number;
  setIteration(i: number): void;
}

/** The head's loss when it anneals with the iteration (SphereFace), else null. */
export function lossIteration(head: TrainableHead): LossWithIteration | null {
  const l = (head.loss ?? {}) as unknown as Partial<LossWithIteration>;
  return typeof l.iteration === 'number' && typeof l.setIteration === 'function'
    ? (l as LossWithIteration)
    : null;
}

/** Micro-batches from (epoch, batch) on, across epochs, each with its position. */
async function* microBatches(
  data: BatchSource,
  epoch: number,
  fromBatch: number,
): AsyncGenerator<{ batch: Batch; epoch: number; index: number }> {
  for (let e = epoch; ; e++) {
    let index = e === epoch ? fromBatch : 0;
    const start = index;
    for await (const batch of data.epoch(e, { fromBatch: index })) yield { batch, epoch: e, index: index++ };
    if (index === start && start === 0)
      throw new ArcfaceError('BAD_INPUT', `train: epoch ${e} of the data yielded no batch`);
  }
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const { config: cfg, model, head, data } = o;
  const source = o.configSource ?? `${o.runDir}/config.json`;
  const total = stepsOf(cfg, data.batchesPerEpoch);
  if (total < 1)
    throw new ArcfaceError(
      'BAD_CONFIG',
      `${source}: ${cfg.epochs} epochs of ${data.batchesPerEpoch} batches make no optimizer step`,
    );
  checkLength(cfg, total, source);
  const dir = prepareRunDir(o.runDir, cfg, o.resume ?? false);

  // Parameters: the model's trainable variables by checkpoint name, and the head's centres.
  const named = model.namedWeights();
  const trainable = new Set(model.trainable);
  const params = new Map<string, tf.Variable>();
  for (const [name, v] of named) if (trainable.has(v)) params.set(`backbone/${name}`, v);
  if (params.size !== trainable.size)
    throw new ArcfaceError(
      'BAD_INPUT',
      'train: every trainable variable of the model must be in namedWeights()',
    );
  const headVars = headWeights(head);
  for (const [name, v] of headVars) params.set(`head/${name}`, v);
  const clipped = [...params.keys()].filter((k) => cfg.clipOn === 'all' || k.startsWith('backbone/'));
  const sgd = new Sgd({
    momentum: cfg.momentum,
    weightDecay: cfg.weightDecay,
    decays: cfg.weightDecayOn === 'all' ? undefined : (_n, v) => v.rank > 1,
    lrScale:
      cfg.backboneLrScale === 1 ? undefined : (k) => (k.startsWith('backbone/') ? cfg.backboneLrScale : 1),
  });
  // The head-only warm-up (freezeBackboneSteps): these alone get gradients and updates.
  const headParams = new Map([...params].filter(([k]) => k.startsWith('head/')));
  const rng = new TrainRng(cfg.seed);
  const iter = lossIteration(head);
  let pos: TrainPosition = {
    step: 0,
    epoch: 0,
    batchInEpoch: 0,
    samplesSeen: 0,
    rngState: rng.state,
    lossIteration: null,
  };
  let lastCheckpoint = '';

  const latest = o.resume ? latestCheckpoint(o.runDir) : null;
  if (latest) {
    const loaded = loadCheckpoint(latest.path, {
      model: named,
      head: headVars,
      config: cfg,
    });
    pos = loaded.position;
    sgd.importState(loaded.optimizer);
    rng.state = pos.rngState;
    if (iter && pos.lossIteration !== null) iter.setIteration(pos.lossIteration);
    lastCheckpoint = latest.path;
    truncateLogAfter(dir.logPath, pos.step);
    appendLog(dir.logPath, {
      type: 'resume',
      step: pos.step,
      checkpoint: latest.path,
      time: new Date().toISOString(),
    });
  }

  // Stop requests: the caller's signal, SIGINT, SIGTERM. Checked between steps.
  let stopRequested = o.signal?.aborted ?? false;
  const onAbort = () => (stopRequested = true);
  o.signal?.addEventListener('abort', onAbort);
  const onSignal = () => {
    stopRequested = true;
    removeSignalHandlers(); // the next one terminates as usual
  };
  const catchSignals = o.catchSignals ?? true;
  const removeSignalHandlers = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  if (catchSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  const writeCheckpoint = () => {
    pos.rngState = rng.state;
    pos.lossIteration = iter ? iter.iteration : null;
    lastCheckpoint = saveCheckpoint(
      dir.checkpointsDir,
      pos,
      cfg,
      { model: named, head: headVars, optimizer: sgd.exportState() },
      cfg.keepCheckpoints,
    );
  };
  const runValidation = async (): Promise<Validation | null> => {
    if (!o.validate) return null;
    const v = await o.validate(model, pos.step);
    appendLog(dir.logPath, {
      type: 'val',
      step: pos.step,
      epoch: pos.epoch,
      ...v,
      time: new Date().toISOString(),
    });
    return v;
  };

  const [h, w, c] = data.imageShape;
  const varList = [...params.values()];
  const headVarList = [...headParams.values()];
  const keyOf = new Map(varList.map((v, i) => [v.name, [...params.keys()][i]]));
  // The model's other variables (BN running statistics): a GradientSource keeps them in step.
  const state = new Map<string, tf.Variable>();
  for (const [name, v] of named) if (!trainable.has(v)) state.set(`backbone/${name}`, v);
  const batches = microBatches(data, pos.epoch, pos.batchInEpoch);
  let validation: Validation | null = null;
  let lastLoss = NaN;
  const t0 = Date.now();
  let stepsThisSession = 0;

  try {
    if (o.validateFirst && pos.step === 0) validation = await runValidation();
    while (pos.step < total && !stopRequested) {
      // One turn of the event loop per step: prefetched batches resolve as microtasks, and a loop
      // of them alone never reaches the poll phase where SIGINT / SIGTERM are delivered.
      await new Promise<void>((r) => setImmediate(r));
      if (stopRequested) break;
      const stepStart = Date.now();
      // A function of the step alone, so a resumed or parallel run freezes the same steps.
      const frozen = pos.step < cfg.freezeBackboneSteps;
      let sums = new Map<string, tf.Tensor>();
      let lossSum = 0;
      let samples = 0;
      let at = { epoch: pos.epoch, index: pos.batchInEpoch };
      const pending: MicroBatch[] = [];
      const places: { epoch: number; index: number }[] = [];
      try {
        for (let k = 0; k < cfg.accumulate; k++) {
          const next = await batches.next();
          if (next.done) throw new ArcfaceError('BAD_INPUT', 'train: the data ran out');
          const { batch, epoch, index } = next.value;
          at = { epoch, index };
          const n = batch.labels.length;
          if (batch.images.length !== n * h * w * c)
            throw new ArcfaceError(
              'BAD_SHAPE',
              `train: batch ${index} of epoch ${epoch} has ${batch.images.length} image values for ${n} labels of ${h}x${w}x${c}`,
            );
          // Checked here rather than left to the head's check inside the gradient tape: a throw
          // there leaks the tensors tfjs saved for the backward pass.
          const bad = batch.images.findIndex((v) => !Number.isFinite(v));
          if (bad >= 0)
            throw diverged(
              pos.step + 1,
              epoch,
              index,
              `image value ${bad} is ${batch.images[bad]}`,
              lastCheckpoint,
            );
          const seed = rng.nextUint32();
          if (o.gradients) {
            // Collected here and computed by the pool below, after the whole step's data.
            pending.push({ images: batch.images, labels: batch.labels, seed, lossIteration: null });
            places.push({ epoch, index });
            samples += n;
            continue;
          }
          let out: { loss: number; grads: tf.NamedTensorMap };
          try {
            out = microBatchGradients(
              model,
              head,
              frozen ? headVarList : varList,
              batch.images,
              batch.labels,
              [h, w, c],
              seed,
              !frozen,
            );
          } catch (e) {
            throw e instanceof ArcfaceError
              ? diverged(pos.step + 1, epoch, index, e.message, lastCheckpoint)
              : e;
          }
          const { loss } = out;
          addGradients(sums, out.grads, keyOf);
          if (!Number.isFinite(loss))
            throw diverged(pos.step + 1, epoch, index, `the loss is ${loss}`, lastCheckpoint);
          lossSum += loss;
          samples += n;
        }
        if (o.gradients) {
          // The same micro-batches, seeds and loss iterations, computed by the pool: each loss
          // is checked in order as above, so a divergence names the same batch.
          const first = iter ? iter.iteration : null;
          pending.forEach((m, k) => (m.lossIteration = first === null ? null : first + k));
          let r: GradientResult;
          try {
            r = await o.gradients.compute(params, state, pending, data.imageShape, frozen);
          } catch (e) {
            // A worker's ArcfaceError from a forward pass (bad labels...) names its micro-batch.
            const k = e instanceof ArcfaceError ? (e as { microBatch?: number }).microBatch : undefined;
            throw k !== undefined && places[k]
              ? diverged(pos.step + 1, places[k].epoch, places[k].index, (e as Error).message, lastCheckpoint)
              : e;
          }
          sums = r.grads;
          if (iter && r.lossIteration !== null) iter.setIteration(r.lossIteration);
          r.losses.forEach((loss, k) => {
            if (!Number.isFinite(loss))
              throw diverged(
                pos.step + 1,
                places[k].epoch,
                places[k].index,
                `the loss is ${loss}`,
                lastCheckpoint,
              );
            lossSum += loss;
          });
        }
        if (cfg.accumulate > 1) {
          const avg = new Map([...sums].map(([k, g]) => [k, tf.div(g, cfg.accumulate)] as const));
          tf.dispose([...sums.values()]);
          sums = avg;
        }
        const norm = globalNorm([...sums.values()]);
        if (!Number.isFinite(norm))
          throw diverged(pos.step + 1, at.epoch, at.index, `the gradient norm is ${norm}`, lastCheckpoint);
        if (cfg.clipNorm !== null) {
          const keys = clipped.filter((k) => sums.has(k)); // a frozen step has no backbone gradients
          const r = clipByGlobalNorm(
            keys.map((k) => sums.get(k)!),
            cfg.clipNorm,
          );
          if (r.scale !== 1) {
            keys.forEach((k, i) => {
              sums.get(k)!.dispose();
              sums.set(k, r.grads[i]);
            });
          }
        }
        const lr = lrAt(pos.step, {
          lr: cfg.lr,
          warmupSteps: cfg.warmupSteps,
          totalSteps: total,
          schedule: cfg.schedule,
        });
        sgd.step(frozen ? headParams : params, sums, lr);
        lastLoss = lossSum / cfg.accumulate;
        pos.step += 1;
        pos.samplesSeen += samples;
        pos.epoch = at.index + 1 >= data.batchesPerEpoch ? at.epoch + 1 : at.epoch;
        pos.batchInEpoch = at.index + 1 >= data.batchesPerEpoch ? 0 : at.index + 1;

        const now = Date.now();
        stepsThisSession += 1;
        const samplesPerSec = samples / Math.max(1e-3, (now - stepStart) / 1000);
        const secPerStep = (now - t0) / 1000 / stepsThisSession;
        if (pos.step % cfg.logEvery === 0 || pos.step === total)
          appendLog(dir.logPath, {
            type: 'step',
            step: pos.step,
            epoch: at.epoch,
            loss: lastLoss,
            lr,
            gradNorm: norm,
            samplesPerSec,
            time: new Date(now).toISOString(),
          });
        o.onProgress?.({
          epoch: at.epoch,
          step: pos.step,
          totalSteps: total,
          loss: lastLoss,
          lr,
          samplesPerSec,
          etaSec: (total - pos.step) * secPerStep,
        });
      } finally {
        tf.dispose([...sums.values()]);
      }
      if (pos.step < total) {
        if (cfg.validateEvery > 0 && pos.step % cfg.validateEvery === 0) validation = await runValidation();
        if (cfg.checkpointEvery > 0 && pos.step % cfg.checkpointEvery === 0 && !stopRequested)
          writeCheckpoint();
      }
    }
    if (stopRequested && pos.step < total) {
      writeCheckpoint();
      appendLog(dir.logPath, {
        type: 'stop',
        step: pos.step,
        reason: 'signal',
        time: new Date().toISOString(),
      });
      return {
        stopped: 'signal',
        step: pos.step,
        epoch: pos.epoch,
        totalSteps: total,
        loss: lastLoss,
        checkpoint: lastCheckpoint,
        validation,
      };
    }
    validation = (await runValidation()) ?? validation;
    writeCheckpoint();
    appendLog(dir.logPath, { type: 'stop', step: pos.step, reason: 'done', time: new Date().toISOString() });
    return {
      stopped: 'done',
      step: pos.step,
      epoch: pos.epoch,
      totalSteps: total,
      loss: lastLoss,
      checkpoint: lastCheckpoint,
      validation,
    };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    appendLog(dir.logPath, {
      type: 'stop',
      step: pos.step,
      reason: 'error',
      message,
      time: new Date().toISOString(),
    });
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (catchSignals) removeSignalHandlers();
    await batches.return(undefined);
    sgd.dispose();
  }
}

/** Adds a micro-batch's gradients (by variable name) into `sums` (by parameter key), freeing them. */
export function addGradients(
  sums: Map<string, tf.Tensor>,
  grads: tf.NamedTensorMap,
  keyOf: ReadonlyMap<string, string>,
): void {
  for (const [name, g] of Object.entries(grads)) {
    const key = keyOf.get(name)!;
    const old = sums.get(key);
    if (old) {
      sums.set(key, tf.add(old, g));
      tf.dispose([old, g]);
    } else sums.set(key, g);
  }
}

/**
 * A non-finite loss or gradient: stop before the update, so the weights and the last checkpoint
 * stay good. BAD_INPUT: the usual causes are bad data (NaN pixels) or a config that diverges.
 */
function diverged(
  step: number,
  epoch: number,
  batch: number,
  what: string,
  checkpoint: string,
): ArcfaceError {
  return new ArcfaceError(
    'BAD_INPUT',
    `training stopped at step ${step} (epoch ${epoch}, batch ${batch}): ${what}; the weights were not updated. ` +
      `Check that batch's images, or lower lr / raise warmupSteps. ` +
      (checkpoint ? `Last good checkpoint: ${checkpoint}` : 'No checkpoint was written yet.'),
  );
}
