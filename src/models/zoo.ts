/**
 * The model zoo: plain manifests, as InsightFace keeps its model-pack configs, plus lookups.
 *
 * Hashes: the InsightFace archive and ONNX sha256/sizes are the values published by several
 * independent projects that pin the v0.7 release assets (and det_500m.onnx's equals the bytes of
 * ../shared/models/detectors/scrfd/scrfd_500m.onnx); YuNet's and the local-only models' were
 * computed from the files in ../shared. Accuracies are the publishers' own numbers.
 *
 * Thresholds: dlib-resnet-v1's and the local recognisers' were calibrated here by
 * tools/calibrate_far.ts on the calibration half of the CelebA subset in ../shared (never on the
 * project's test photos), with their FAR tables (far_tables.ts); the InsightFace packs' is the one
 * InsightFace's own recognition demo prints, as their thresholdsSource says (they cannot be run
 * offline, so they have no FAR table: identification falls back to their verify threshold).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArcfaceError } from '../errors.js';
import { OWN_PACKAGE, PACKAGE_ROOT } from './cache.js';
import { FAR_TABLES } from './far_tables.js';
import { validateManifest, type ModelManifest } from './manifest.js';

/** The package's own recogniser, trained here; its folder holds the recipe (README.md). */
export const BUNDLED_RECOGNISER = 'arcface-mbf-celeba';
/** dlib's public-domain recogniser, read from face-api's weights: the default (issue 11). */
export const DLIB_RECOGNISER = 'dlib-resnet-v1';
const BUNDLED_DIR = 'weights/arcface-mbf-celeba';

/**
 * The bundled model's manifest, written by tools/make_default_model.ts beside its ONNX (so the
 * measured numbers live with the weights they describe); absent in a checkout without weights.
 */
function bundled(): Record<string, unknown>[] {
  const path = join(PACKAGE_ROOT, BUNDLED_DIR, 'manifest.json');
  if (!existsSync(path)) return [];
  const m = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return [{ ...m, name: BUNDLED_RECOGNISER, builtin: `${OWN_PACKAGE}/${BUNDLED_DIR}` }];
}

const INSIGHTFACE = 'https://github.com/deepinsight/insightface/releases/download/v0.7';
const INSIGHTFACE_LICENCE =
  'InsightFace pretrained models: non-commercial research purposes only (code MIT; commercial use needs a licence from InsightFace)';
const INSIGHTFACE_ACCURACY =
  'InsightFace python-package README, "Recognition Accuracy" (github.com/deepinsight/insightface/tree/master/python-package); ijbc_e4 = IJB-C TAR at FAR 1e-4, mr_all = InsightFace MFR-ALL';
const SCRFD_ACCURACY = 'InsightFace model_zoo README, SCRFD table (WIDER FACE val AP, single scale, VGA)';
const WEBFACE600K =
  'WebFace600K (cleaned WebFace260M subset, InsightFace): released for non-commercial research only';
const WIDER_FACE = 'WIDER FACE (CUHK): licensed CC BY-NC-ND 4.0 (non-commercial)';
/** InsightFace's own 1:1 demo; this commit's copy is the one read. */
const INSIGHTFACE_DEMO =
  "InsightFace's recognition demo, deepinsight/insightface web-demos/src_recognition/main.py (commit " +
  'f8aa2c17e18044a86bbfa04be40e00cd2ff40a4f): with buffalo_l (SCRFD det_10g, w600k_r50.onnx, one crop, no ' +
  'flip) it prints "They ARE the same person" at cosine >= 0.28, "LIKELY TO be" from 0.2 to 0.28 and "NOT" ' +
  'below 0.2; verify = 0.28, the "ARE" line. Not calibrated here (the pack cannot be run offline); ' +
  'InsightFace publishes no FAR-keyed thresholds.';
/** The ArcFace convention (InsightFace's arcface_onnx.py): 112x112 RGB, (x - 127.5) / 127.5, NCHW. */
export const INSIGHTFACE_INPUT = {
  width: 112,
  height: 112,
  layout: 'nchw',
  color: 'rgb',
  mean: [127.5, 127.5, 127.5],
  std: [127.5, 127.5, 127.5],
} as const;

/** SCRFD's pre-processing (InsightFace scrfd.py): RGB, (x - 127.5) / 128, 640x640 letterbox. */
const SCRFD_INPUT = {
  width: 640,
  height: 640,
  layout: 'nchw',
  color: 'rgb',
  mean: [127.5, 127.5, 127.5],
  std: [128, 128, 128],
} as const;

const RAW: Record<string, unknown>[] = [
  {
    // dlib's face recogniser as ported to TensorFlow.js by face-api.js: the weights ship inside the
    // npm dependency, so nothing is downloaded; src/convert/dlib_resnet.ts builds the ONNX graph
    // from them in memory. Pre-processing from face-api's FaceRecognitionNet.ts: RGB, minus the
    // mean RGB (122.782, 117.001, 104.298), divided by 255, 150x150.
    name: DLIB_RECOGNISER,
    task: 'recognition',
    file: 'face_recognition_model-weights_manifest.json',
    builtin: '@vladmandic/face-api/model',
    format: 'tfjs',
    architecture: 'dlib-resnet-v1',
    alignment: { template: 'dlib', padding: 0.25 },
    input: {
      width: 150,
      height: 150,
      layout: 'nchw',
      color: 'rgb',
      mean: [122.782, 117.001, 104.298],
      std: [255, 255, 255],
    },
    output: { dim: 128 },
    flip: true,
    licence:
      "public domain: dlib's model repository (davisking/dlib-models) releases dlib_face_recognition_resnet_model_v1 into the public domain; ported to tfjs by face-api.js, shipped in @vladmandic/face-api (MIT)",
    trainingData:
      "about 3 million faces of 7,485 identities (FaceScrub, the VGG Face dataset and images scraped from the internet, per dlib-models README); FaceScrub and VGG Face were published for non-commercial research, while the model's author releases the trained weights into the public domain; whether that reaches a commercial product is for your lawyer, as with every face model",
    researchOnly: false,
    accuracy: { lfw: 0.99383 },
    accuracySource: "dlib-models README (dlib's own LFW protocol, mean of 10 folds)",
    thresholds: { verify: 0.9075, '1e-2': 0.9116, '1e-3': 0.92939 },
    thresholdsSource:
      'calibrated here by `node --import tsx tools/calibrate_far.ts --model dlib-resnet-v1 --detector faceapi --seed 1` (2026-12-02) on the calibration half of the CelebA subset in ../shared (149 identities, 2385 in-the-wild photos, research only; the other 149 identities are held out for bench/celeba_open_set.ts; never the project\'s test photos), detector faceapi, flip-sum on, 7 photos without a face embedded from a centre crop. verify = the max-accuracy threshold on all 22201 genuine pairs + as many seeded impostor pairs (accuracy there 96.51%, FAR 1.51%; 10-fold 96.42% \u00b1 0.15%); "1e-2"/"1e-3" and impostorFar from all 2,820,719 different-person pairs (measured down to FAR 3.5e-6, extrapolated below). Identification thresholds follow the gallery size: FPIR 1% over the enrolled faces (src/eval/far.ts).',
    impostorFar: FAR_TABLES[DLIB_RECOGNISER],
    description: "dlib's ResNet face recogniser (29 conv layers, 128-d, 150x150 dlib chip), public domain",
  },
  ...bundled(),
  {
    name: 'buffalo_l',
    task: 'recognition',
    file: 'w600k_r50.onnx',
    source: {
      url: `${INSIGHTFACE}/buffalo_l.zip`,
      sha256: '80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f',
      size: 288621354,
      archive: 'zip',
      member: 'w600k_r50.onnx',
    },
    sha256: '4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43',
    size: 174383860,
    input: INSIGHTFACE_INPUT,
    output: { dim: 512 },
    // As InsightFace's FaceAnalysis (and the demo the 0.28 threshold comes from): no flip.
    flip: false,
    licence: INSIGHTFACE_LICENCE,
    trainingData: WEBFACE600K,
    researchOnly: true,
    accuracy: { lfw: 0.9983, cfp_fp: 0.9933, agedb_30: 0.9823, ijbc_e4: 0.9725, mr_all: 0.9125 },
    accuracySource: INSIGHTFACE_ACCURACY,
    thresholds: { verify: 0.28 },
    thresholdsSource: INSIGHTFACE_DEMO,
    description: 'ArcFace ResNet-50 on WebFace600K (InsightFace buffalo_l, the Python package default)',
  },
  {
    name: 'buffalo_s',
    task: 'recognition',
    file: 'w600k_mbf.onnx',
    source: {
      url: `${INSIGHTFACE}/buffalo_s.zip`,
      sha256: 'd85a87f503f691807cd8bb97128bdf7a0660326cd9cd02657127fa978bab8b5e',
      size: 127607557,
      archive: 'zip',
      member: 'w600k_mbf.onnx',
    },
    sha256: '9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f',
    size: 13616099,
    input: INSIGHTFACE_INPUT,
    output: { dim: 512 },
    // As InsightFace's FaceAnalysis (and the demo the 0.28 threshold comes from): no flip.
    flip: false,
    licence: INSIGHTFACE_LICENCE,
    trainingData: WEBFACE600K,
    researchOnly: true,
    accuracy: { lfw: 0.997, cfp_fp: 0.98, agedb_30: 0.9658, ijbc_e4: 0.9502, mr_all: 0.7187 },
    accuracySource: INSIGHTFACE_ACCURACY,
    thresholds: { verify: 0.28 },
    thresholdsSource: `${INSIGHTFACE_DEMO} That demo runs buffalo_l's ResNet-50, not this MobileFaceNet: for the same network quantised to int8 (w600k-mbf-int8) tools/calibrate_zoo.ts measured a max-accuracy threshold of 0.2094 on CelebA pairs (faceapi, flip-sum), and 0.28 there accepted 88.6% of the 2,745 genuine pairs at FAR 6.2e-4 (17 of 27,450 impostor pairs, --impostor-ratio 10 --at 0.28), a stricter operating point than its max-accuracy one.`,
    description: 'ArcFace MobileFaceNet on WebFace600K (InsightFace buffalo_s)',
  },
  {
    // The Python package fetches packs from the same v0.7 release (utils/storage.py's BASE_REPO_URL);
    // this archive wraps its files in an antelopev2/ folder.
    name: 'antelopev2',
    task: 'recognition',
    file: 'glintr100.onnx',
    source: {
      url: `${INSIGHTFACE}/antelopev2.zip`,
      sha256: '8e182f14fc6e80b3bfa375b33eb6cff7ee05d8ef7633e738d1c89021dcf0c5c5',
      size: 360662982,
      archive: 'zip',
      member: 'antelopev2/glintr100.onnx',
    },
    sha256: '4ab1d6435d639628a6f3e5008dd4f929edf4c4124b1a7169e1048f9fef534cdf',
    size: 260665334,
    input: INSIGHTFACE_INPUT,
    output: { dim: 512 },
    // As InsightFace's FaceAnalysis (and the demo the 0.28 threshold comes from): no flip.
    flip: false,
    licence: INSIGHTFACE_LICENCE,
    trainingData: 'Glint360K (DeepGlint/InsightFace, 360k ids): released for non-commercial research only',
    researchOnly: true,
    thresholds: { verify: 0.28 },
    thresholdsSource: `${INSIGHTFACE_DEMO} That demo runs buffalo_l's WebFace600K ResNet-50; it is carried over untested to this Glint360K ResNet-100 (same loss, template and normalisation).`,
    description: 'ArcFace ResNet-100 on Glint360K (InsightFace antelopev2)',
  },
  {
    name: 'mobilefacenet-foamliu',
    task: 'recognition',
    file: 'mobilefacenet.onnx',
    sha256: '85cdeb7368ed6a1e9cbaaa6f283c6b2439f1fa533c17450bfdc7f357d285d5d1',
    size: 3998450,
    // ImageNet normalisation in 0..255 units: (x/255 - 0.485) / 0.229 = (x - 123.675) / 58.395, ...
    input: {
      width: 112,
      height: 112,
      layout: 'nchw',
      color: 'rgb',
      mean: [123.675, 116.28, 103.53],
      std: [58.395, 57.12, 57.375],
    },
    output: { dim: 128 },
    flip: true,
    licence: 'code Apache-2.0 (foamliu/MobileFaceNet); no separate licence for the weights',
    trainingData: 'refined MS-Celeb-1M (MS1M, 85k ids): withdrawn by Microsoft, non-commercial research only',
    researchOnly: true,
    accuracy: { lfw: 0.9948 },
    accuracySource: 'foamliu/MobileFaceNet README (the authors’ claim)',
    thresholds: { verify: 0.2583, '1e-2': 0.25744, '1e-3': 0.35078 },
    thresholdsSource:
      'calibrated here by `node --import tsx tools/calibrate_far.ts --model ../shared/models/recognizers/mobilefacenet-foamliu/mobilefacenet.onnx --detector faceapi --seed 1` (2026-12-02) on the calibration half of the CelebA subset in ../shared (149 identities, 2385 in-the-wild photos, research only; the other 149 identities are held out for bench/celeba_open_set.ts; never the project\'s test photos), detector faceapi, flip-sum on, 7 photos without a face embedded from a centre crop. verify = the max-accuracy threshold on all 22201 genuine pairs + as many seeded impostor pairs (accuracy there 96.04%, FAR 0.97%; 10-fold 96.01% ± 0.31%); "1e-2"/"1e-3" and impostorFar from all 2,820,719 different-person pairs (measured down to FAR 3.5e-6, extrapolated below). Identification thresholds follow the gallery size: FPIR 1% over the enrolled faces (src/eval/far.ts).',
    impostorFar: FAR_TABLES['mobilefacenet-foamliu'],
    description: 'MobileFaceNet trained with ArcFace (foamliu), 128-d',
    provenance:
      'local-only: an ONNX export from foamliu/MobileFaceNet with no known download URL; place it by hand or load it by path',
  },
  {
    name: 'mobilefacenet-paddle',
    task: 'recognition',
    file: 'mobilefacenet.onnx',
    sha256: '6ced4e0c36abba9dd24b48d725f7dbb94089f75b3d3445d3d67b85157cb64743',
    size: 4001322,
    input: { ...INSIGHTFACE_INPUT, color: 'bgr' },
    output: { dim: 128 },
    flip: true,
    licence: 'unclear (no licence file where found); treat as research only',
    trainingData: 'emore (MS1M-ArcFace, 85k ids): non-commercial research only',
    researchOnly: true,
    thresholds: { verify: 0.2615, '1e-2': 0.23998, '1e-3': 0.32512 },
    thresholdsSource:
      'calibrated here by `node --import tsx tools/calibrate_far.ts --model ../shared/models/recognizers/mobilefacenet-paddle/mobilefacenet.onnx --detector faceapi --seed 1` (2026-12-02) on the calibration half of the CelebA subset in ../shared (149 identities, 2385 in-the-wild photos, research only; the other 149 identities are held out for bench/celeba_open_set.ts; never the project\'s test photos), detector faceapi, flip-sum on, 7 photos without a face embedded from a centre crop. verify = the max-accuracy threshold on all 22201 genuine pairs + as many seeded impostor pairs (accuracy there 96.55%, FAR 0.63%; 10-fold 96.51% ± 0.20%); "1e-2"/"1e-3" and impostorFar from all 2,820,719 different-person pairs (measured down to FAR 3.5e-6, extrapolated below). Identification thresholds follow the gallery size: FPIR 1% over the enrolled faces (src/eval/far.ts).',
    impostorFar: FAR_TABLES['mobilefacenet-paddle'],
    description:
      'MobileFaceNet, ArcFace m=0.2 s=30 (probably yeyupiaoling/PaddlePaddle-MobileFaceNets), 128-d, BGR',
    provenance:
      'local-only: origin not certain and no known download URL; place it by hand or load it by path',
  },
  {
    name: 'w600k-mbf-int8',
    task: 'recognition',
    file: 'w600k_mbf_int8.onnx',
    sha256: '7caa7fb0ad6c37b33e6c59f6411084b487aaabd596bba645d2cce391a5871120',
    size: 3514509,
    input: INSIGHTFACE_INPUT,
    output: { dim: 512 },
    flip: true,
    licence: INSIGHTFACE_LICENCE,
    trainingData: WEBFACE600K,
    researchOnly: true,
    thresholds: { verify: 0.202, '1e-2': 0.18163, '1e-3': 0.25231 },
    thresholdsSource:
      'calibrated here by `node --import tsx tools/calibrate_far.ts --model ../shared/models/recognizers/w600k-mbf-int8/w600k_mbf_int8.onnx --detector faceapi --seed 1` (2026-12-02) on the calibration half of the CelebA subset in ../shared (149 identities, 2385 in-the-wild photos, research only; the other 149 identities are held out for bench/celeba_open_set.ts; never the project\'s test photos), detector faceapi, flip-sum on, 7 photos without a face embedded from a centre crop. verify = the max-accuracy threshold on all 22201 genuine pairs + as many seeded impostor pairs (accuracy there 96.89%, FAR 0.54%; 10-fold 96.86% ± 0.18%); "1e-2"/"1e-3" and impostorFar from all 2,820,719 different-person pairs (measured down to FAR 3.5e-6, extrapolated below). Identification thresholds follow the gallery size: FPIR 1% over the enrolled faces (src/eval/far.ts).',
    impostorFar: FAR_TABLES['w600k-mbf-int8'],
    description: 'InsightFace w600k_mbf (buffalo_s) dynamically quantised to int8 by a third party',
    provenance:
      'local-only: a third-party quantisation with no known download URL; place it by hand or load it by path',
  },
  {
    name: 'yunet-2023mar',
    task: 'detection',
    detector: 'yunet',
    file: 'face_detection_yunet_2023mar.onnx',
    source: {
      url: 'https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx',
      sha256: '8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4',
      size: 232589,
    },
    sha256: '8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4',
    size: 232589,
    input: { width: 640, height: 640, layout: 'nchw', color: 'bgr', mean: [0, 0, 0], std: [1, 1, 1] },
    flip: false,
    licence: 'MIT (OpenCV Zoo; trained with libfacedetection.train, Apache-2.0)',
    trainingData: WIDER_FACE,
    researchOnly: false,
    description: 'YuNet face detector with 5 landmarks, fixed 640x640 input',
  },
  {
    name: 'scrfd-10g',
    task: 'detection',
    detector: 'scrfd',
    file: 'det_10g.onnx',
    source: {
      url: `${INSIGHTFACE}/buffalo_l.zip`,
      sha256: '80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f',
      size: 288621354,
      archive: 'zip',
      member: 'det_10g.onnx',
    },
    sha256: '5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91',
    size: 16923827,
    input: SCRFD_INPUT,
    flip: false,
    licence: INSIGHTFACE_LICENCE,
    trainingData: WIDER_FACE,
    researchOnly: true,
    accuracy: { widerface_easy: 0.954, widerface_medium: 0.9401, widerface_hard: 0.828 },
    accuracySource: `${SCRFD_ACCURACY}, row SCRFD_10G_KPS`,
    description: 'SCRFD-10GF with 5 landmarks (det_10g.onnx from buffalo_l)',
  },
  {
    name: 'scrfd-500m',
    task: 'detection',
    detector: 'scrfd',
    file: 'det_500m.onnx',
    source: {
      url: `${INSIGHTFACE}/buffalo_s.zip`,
      sha256: 'd85a87f503f691807cd8bb97128bdf7a0660326cd9cd02657127fa978bab8b5e',
      size: 127607557,
      archive: 'zip',
      member: 'det_500m.onnx',
    },
    sha256: '5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a',
    size: 2524817,
    input: SCRFD_INPUT,
    flip: false,
    licence: INSIGHTFACE_LICENCE,
    trainingData: WIDER_FACE,
    researchOnly: true,
    accuracy: { widerface_easy: 0.9097, widerface_medium: 0.8844, widerface_hard: 0.6949 },
    accuracySource: `${SCRFD_ACCURACY}, row SCRFD_500M_KPS`,
    description: 'SCRFD-500MF with 5 landmarks (det_500m.onnx from buffalo_s)',
  },
  {
    name: 'retinaface-mnet025',
    task: 'detection',
    detector: 'retinaface',
    file: 'retinaface_mnet025.onnx',
    sha256: 'e0e19bad8494b3f7a7edb39a90194ff055923e13a3453569a454386f857fe538',
    size: 1729306,
    input: {
      width: 640,
      height: 640,
      layout: 'nchw',
      color: 'bgr',
      mean: [104, 117, 123],
      std: [1, 1, 1],
    },
    flip: false,
    licence: 'MIT (biubug6/Pytorch_Retinaface, code and released weights)',
    trainingData: WIDER_FACE,
    researchOnly: false,
    description: 'RetinaFace MobileNet-0.25 with 5 landmarks (Pytorch_Retinaface export), fixed 640x640',
    provenance:
      'local-only: the project publishes PyTorch weights, not this ONNX export; place it by hand or load it by path',
  },
  {
    // face-api's nets, converted in memory to ONNX graphs (src/convert/faceapi_*.ts) and run on
    // onnxruntime by src/face/detectors/faceapi_onnx.ts; the graphs take RGB 0..255 and normalise
    // themselves as face-api does ((x - 127.5) / 127.5 for the SSD, below).
    name: 'faceapi-ssd',
    task: 'detection',
    detector: 'faceapi',
    file: 'ssd_mobilenetv1_model.bin',
    builtin: '@vladmandic/face-api/model',
    input: {
      width: 512,
      height: 512,
      layout: 'nchw',
      color: 'rgb',
      mean: [127.5, 127.5, 127.5],
      std: [127.5, 127.5, 127.5],
    },
    flip: false,
    licence: 'MIT (@vladmandic/face-api, after face-api.js)',
    trainingData:
      "WIDER FACE (CUHK; CC BY-NC-ND 4.0) for the face detector, whose weights are yeephycho/tensorflow-face-detection's, and ~35k face images labeled with 68 face landmark points (not named) for the landmark net; both per face-api.js's TUTORIAL.md",
    researchOnly: false,
    description:
      "face-api's SSD MobileNet V1 face detector + 68-point landmark net, from the weights inside @vladmandic/face-api (no download), on onnxruntime",
  },
];

/** Every zoo manifest, validated once at import (a broken entry fails loudly, in every test). */
export const ZOO: readonly ModelManifest[] = RAW.map((m) => validateManifest(m, `zoo entry "${m.name}"`));

export function findModel(name: string): ModelManifest | undefined {
  return ZOO.find((m) => m.name === name);
}

/** The zoo entry or a NOT_FOUND error listing the names. */
export function getModel(name: string): ModelManifest {
  const m = findModel(name);
  if (!m)
    throw new ArcfaceError(
      'NOT_FOUND',
      `unknown model "${name}" (zoo models: ${ZOO.map((z) => z.name).join(', ')}; or give a path to an .onnx or manifest .json)`,
    );
  return m;
}

export function recognisers(): ModelManifest[] {
  return ZOO.filter((m) => m.task === 'recognition');
}

export function detectors(): ModelManifest[] {
  return ZOO.filter((m) => m.task === 'detection');
}
