import { parseArgs } from 'node:util';
import { badInput } from '../../errors.js';
import { readBin } from '../../eval/bin.js';
import { readPairs } from '../../eval/pairs.js';
import { evaluateVerification, type VerificationResult } from '../../eval/verification.js';
import { angleDistributionSvg } from '../../plot/angles.js';
import { writePlot } from '../../plot/png.js';
import { rocSvg } from '../../plot/roc.js';
import { scoreBin, scorePairs, type PairScores } from '../../pipeline/evaluate.js';
import { UsageError, parseNumber, type Command } from '../command.js';
import { modelNotice } from '../notices.js';
import { Progress } from '../progress.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';
import { clusteringRun, clusteringUsage } from './eval_clustering.js';
import { identificationRun, identificationUsage } from './eval_identification.js';

const verificationUsage = `arcface eval verification (--pairs FILE --root DIR | --bin FILE.bin) [options]

  --pairs FILE         LFW pairs.txt (folds x pairs header; "name n1 n2" / "name1 n1 name2 n2")
                       or CSV img1,img2,same (also deepface's file_x,file_y,Decision)
  --root DIR           folder the pairs' image paths are relative to (LFW: ROOT/name/name_0001.jpg)
  --bin FILE           an InsightFace validation set (lfw.bin, cfp_fp.bin, agedb_30.bin): aligned crops
  --aligned            the images are already aligned 112x112 crops (skip detection)
  --folds K            cross-validation folds, in file order (default 10, as InsightFace)
  --thresholds insightface|exact   threshold search: InsightFace's grid (default) or every midpoint
  --plot FILE          ROC curve (log FAR axis) as .svg or .png
  --angles FILE        genuine/impostor angle distributions as .svg or .png

${recognitionUsage}

Protocol as InsightFace eval/verification.py: the threshold maximising accuracy on K-1 folds is applied
to the K-th; accuracy is the mean (and std) over folds. Also AUC, EER and TAR at FAR 1e-1..1e-4.
Images with no detected face are embedded from a centre crop and counted in noFace.`;

/**
 * TAR@FAR as InsightFace's calculate_val (per fold, threshold interpolated on the training folds),
 * or, where a test fold holds no pair of one class (pair lists sorted by class, as deepface's are)
 * and that mean is undefined, on the ROC of all pairs; `tarAtFarMethod` says which.
 */
function reportedTar(r: VerificationResult): {
  tar: Record<string, number>;
  method: Record<string, 'folds' | 'roc'>;
} {
  const tar: Record<string, number> = {};
  const method: Record<string, 'folds' | 'roc'> = {};
  for (const [k, v] of Object.entries(r.tarAtFar)) {
    const folds = Number.isFinite(v.tar);
    tar[k] = folds ? v.tar : r.rocTarAtFar[k]!.tar;
    method[k] = folds ? 'folds' : 'roc';
  }
  return { tar, method };
}

export function verificationJson(model: string, r: VerificationResult, s: PairScores) {
  return {
    model,
    pairs: s.scores.length,
    images: s.images,
    accuracy: r.accuracy,
    std: r.std,
    auc: r.auc,
    eer: r.eer,
    bestThreshold: r.bestThreshold,
    tarAtFar: reportedTar(r).tar,
    tarAtFarMethod: reportedTar(r).method,
    tarAtFarStd: Object.fromEntries(
      Object.entries(r.tarAtFar).map(([k, v]) => [k, Number.isFinite(v.std) ? v.std : null]),
    ),
    rocTarAtFar: Object.fromEntries(Object.entries(r.rocTarAtFar).map(([k, v]) => [k, v.tar])),
    foldAccuracies: r.foldAccuracies,
    noFace: s.noFace.length,
    noFaceFiles: s.noFace,
    skippedPairs: s.skippedPairs,
    failures: s.failures,
  };
}

export function verificationText(model: string, r: VerificationResult, s: PairScores): string {
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const lines = [
    `model ${model}: ${s.scores.length} pairs, ${s.images} images`,
    `accuracy ${pct(r.accuracy)} ± ${pct(r.std)} (${r.foldAccuracies.length}-fold)`,
    `AUC ${r.auc.toFixed(4)}  EER ${pct(r.eer)}  best threshold ${r.bestThreshold.toFixed(4)}`,
    `TAR@FAR ${Object.entries(reportedTar(r).tar)
      .map(([k, v]) => `${k}: ${pct(v)}`)
      .join('  ')}`,
  ];
  if (Object.values(reportedTar(r).method).includes('roc'))
    lines.push('(some test folds hold only one class, so TAR@FAR is taken on the ROC of all pairs)');
  if (s.noFace.length)
    lines.push(`${s.noFace.length} image(s) had no detected face and were embedded from a centre crop`);
  if (s.skippedPairs) lines.push(`${s.skippedPairs} pair(s) left out: an image could not be read`);
  return lines.join('\n') + '\n';
}

async function verificationRun(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...recognitionOptions,
      pairs: { type: 'string' },
      root: { type: 'string' },
      bin: { type: 'string' },
      aligned: { type: 'boolean' },
      folds: { type: 'string' },
      thresholds: { type: 'string' },
      plot: { type: 'string' },
      angles: { type: 'string' },
    },
    strict: true,
  });
  if (!values.bin && !values.pairs) throw new UsageError('give --pairs FILE (with --root DIR) or --bin FILE');
  if (values.bin && values.pairs) throw new UsageError('give either --pairs or --bin, not both');
  const folds = parseNumber(values.folds, 'folds', (v) => Number.isInteger(v) && v >= 2) ?? 10;
  const thresholds = values.thresholds ?? 'insightface';
  if (thresholds !== 'insightface' && thresholds !== 'exact')
    throw new UsageError(`bad value for --thresholds: "${thresholds}" (insightface or exact)`);
  for (const f of [values.plot, values.angles])
    if (f !== undefined && !/\.(svg|png)$/i.test(f)) throw new UsageError(`plots are .svg or .png: "${f}"`);
  const rec = await recognizerFromArgs(values);
  try {
    process.stderr.write(
      `${modelNotice(rec.manifest, values.aligned || values.bin ? undefined : rec.detectorSpec)}\n`,
    );
    let s: PairScores;
    if (values.bin) {
      const bin = await readBin(values.bin);
      const progress = new Progress({ label: 'embed', total: bin.images.length, unit: 'img' });
      let last = 0;
      s = await scoreBin(rec, bin, {
        onProgress: (done) => {
          progress.tick(done - last);
          last = done;
        },
      });
      progress.finish();
    } else {
      const { pairs } = await readPairs(values.pairs!, values.root ?? '.');
      const total = new Set(pairs.flatMap((p) => [p.a, p.b])).size;
      const progress = new Progress({ label: 'embed', total, unit: 'img' });
      s = await scorePairs(rec, pairs, { aligned: values.aligned, onProgress: () => progress.tick() });
      progress.finish();
    }
    if (s.failures.length > 0 && s.skippedPairs > s.scores.length)
      throw badInput(
        `${s.skippedPairs} of ${s.skippedPairs + s.scores.length} pairs have an unreadable image ` +
          `(${s.failures.length} images), e.g. ${s.failures[0]!.error}; are the paths relative to --root?`,
      );
    const r = evaluateVerification(s.scores, s.same, { folds, thresholds });
    const name = rec.manifest.name;
    if (values.plot) await writePlot(values.plot, rocSvg([{ name, roc: r.roc }]));
    if (values.angles) {
      const genuine = s.scores.filter((_, i) => s.same[i]);
      const impostor = s.scores.filter((_, i) => !s.same[i]);
      await writePlot(
        values.angles,
        angleDistributionSvg({ genuine, impostor }, { threshold: r.bestThreshold, title: name }),
      );
    }
    if (values.json) process.stdout.write(JSON.stringify(verificationJson(name, r, s)) + '\n');
    else process.stdout.write(verificationText(name, r, s));
    for (const f of s.failures) process.stderr.write(`skipped: ${f.error}\n`);
    return 0;
  } finally {
    await rec.dispose();
  }
}

export const evalCommand: Command = {
  name: 'eval',
  summary:
    'evaluation protocols: LFW-style 10-fold verification, .bin sets, identification (CMC, DIR@FPIR), clustering',
  usage: `arcface eval verification|identification|clustering [options]   (arcface eval SUBCOMMAND --help)

${verificationUsage}

${identificationUsage}

${clusteringUsage}`,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'verification') return verificationRun(rest);
    if (sub === 'identification') return identificationRun(rest);
    if (sub === 'clustering') return clusteringRun(rest);
    throw new UsageError(
      sub
        ? `unknown evaluation "${sub}" (verification, identification or clustering)`
        : 'give verification, identification or clustering',
    );
  },
};
