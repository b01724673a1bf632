/**
 * face-api's three nets (SSD MobileNet V1, tiny face detector, 68-point landmarks) as onnxruntime
 * sessions, built in memory from the weights inside the installed @vladmandic/face-api (MIT): no
 * file is written and nothing is downloaded. Each net is built on first use, so a detector that
 * never falls back to the SSD never pays its ~1 s build.
 */
import { ArcfaceError, badInput } from '../../errors.js';
import { buildLandmark68, LANDMARK_INPUT_SIZE } from '../../convert/faceapi_landmark68.js';
import { buildSsdMobilenetV1, SSD_INPUT_SIZE } from '../../convert/faceapi_ssd.js';
import { buildTinyFaceDetector } from '../../convert/faceapi_tiny.js';
import { readTfjsWeights, type TfjsWeight } from '../../convert/tfjs_weights.js';
import { openSession, ort } from '../../runtime/onnx.js';
import { faceApiModelDir } from './faceapi_dir.js';

export type FaceApiNet = 'ssd' | 'tiny' | 'landmarks';

const BUILD: Record<FaceApiNet, [string, (w: Map<string, TfjsWeight>) => Uint8Array]> = {
  ssd: ['ssd_mobilenetv1_model', buildSsdMobilenetV1],
  tiny: ['tiny_face_detector_model', buildTinyFaceDetector],
  landmarks: ['face_landmark_68_model', buildLandmark68],
};

/** Build face-api's `net` as ONNX bytes from the weights in `dir` (default: the installed package). */
export async function faceApiOnnx(net: FaceApiNet, dir = faceApiModelDir()): Promise<Uint8Array> {
  const [name, build] = BUILD[net];
  return build(await readTfjsWeights(dir, name));
}

export interface FaceApiNetsOptions {
  /** onnxruntime intra-op threads; default: onnxruntime's choice. */
  threads?: number;
  /** Weights directory; default: the installed @vladmandic/face-api's `model/`. */
  dir?: string;
}

/** The sessions, opened lazily and shared by any number of detector configurations. */
export class FaceApiNets {
  private readonly sessions = new Map<FaceApiNet, Promise<ort.InferenceSession>>();
  private released = false;

  constructor(private readonly opts: FaceApiNetsOptions = {}) {}

  session(net: FaceApiNet): Promise<ort.InferenceSession> {
    if (this.released) throw new ArcfaceError('BAD_CONFIG', 'faceapi detector used after dispose()');
    let s = this.sessions.get(net);
    if (!s) {
      s = faceApiOnnx(net, this.opts.dir).then((bytes) =>
        openSession(
          { bytes, name: `face-api ${net} (built from ${BUILD[net][0]})` },
          { threads: this.opts.threads },
        ),
      );
      this.sessions.set(net, s);
      s.catch(() => this.sessions.delete(net)); // a failed build can be retried
    }
    return s;
  }

  /** SSD on a [1, 3, 512, 512] RGB 0..255 blob: relative (ymin, xmin, ymax, xmax) boxes and scores. */
  async ssd(blob: Float32Array): Promise<{ boxes: Float32Array; scores: Float32Array }> {
    const out = await this.run('ssd', blob, [1, 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE]);
    return { boxes: out.boxes.data as Float32Array, scores: out.scores.data as Float32Array };
  }

  /** Tiny detector on a [1, 3, H, W] blob (multiples of 32): the [25, H/32, W/32] grid. */
  async tiny(blob: Float32Array, width: number, height: number): Promise<Float32Array> {
    if (width % 32 || height % 32)
      throw badInput(`tiny face detector: ${width}x${height} is not a multiple of 32`);
    return (await this.run('tiny', blob, [1, 3, height, width])).grid.data as Float32Array;
  }

  /** Landmarks for `n` [3, 112, 112] crops: [n, 136] fractions of each crop's side. */
  async landmarks(blob: Float32Array, n: number): Promise<Float32Array> {
    const s = LANDMARK_INPUT_SIZE;
    return (await this.run('landmarks', blob, [n, 3, s, s])).landmarks.data as Float32Array;
  }

  private async run(
    net: FaceApiNet,
    blob: Float32Array,
    dims: number[],
  ): Promise<Record<string, ort.Tensor>> {
    const session = await this.session(net);
    const input = new ort.Tensor('float32', blob, dims);
    try {
      return await session.run({ [session.inputNames[0]]: input });
    } catch (err) {
      const msg = String((err as Error)?.message ?? err).split('\n')[0];
      throw badInput(`face-api ${net}: inference on a [${dims}] input failed (${msg})`);
    } finally {
      input.dispose();
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const open = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of open) await s.then((x) => x.release()).catch(() => undefined);
  }
}
