/**
 * face-api's three nets (SSD MobileNet V1, tiny face detector, 68-point landmarks) as sessions of
 * any onnxruntime (runtime/ort_api.ts): the graphs come from `graph` (built in memory from the
 * weights in Node, faceapi_nets.ts; fetched from the server in the browser). Each net is opened on
 * first use, so a detector that never falls back to the SSD never pays its ~1 s build.
 */
import { ArcfaceError, badInput } from '../../errors.js';
import { LANDMARK_INPUT_SIZE } from '../../convert/faceapi_landmark68.js';
import { SSD_INPUT_SIZE } from '../../convert/faceapi_ssd.js';
import type { OrtApi, OrtSession, OrtTensor } from '../../runtime/ort_api.js';

export type FaceApiNet = 'ssd' | 'tiny' | 'landmarks';

/** The weights each net is built from (`NAME-weights_manifest.json` in face-api's `model/`). */
export const FACEAPI_WEIGHTS: Record<FaceApiNet, string> = {
  ssd: 'ssd_mobilenetv1_model',
  tiny: 'tiny_face_detector_model',
  landmarks: 'face_landmark_68_model',
};

/** The sessions, opened lazily and shared by any number of detector configurations. */
export class FaceApiSessions {
  private readonly sessions = new Map<FaceApiNet, Promise<OrtSession>>();
  private released = false;

  constructor(
    private readonly ort: OrtApi,
    /** The ONNX bytes of a net. */
    private readonly graph: (net: FaceApiNet) => Promise<Uint8Array>,
    private readonly opts: { threads?: number } = {},
  ) {}

  session(net: FaceApiNet): Promise<OrtSession> {
    if (this.released) throw new ArcfaceError('BAD_CONFIG', 'faceapi detector used after dispose()');
    let s = this.sessions.get(net);
    if (!s) {
      s = this.graph(net).then((bytes) =>
        this.ort.open(
          { bytes, name: `face-api ${net} (built from ${FACEAPI_WEIGHTS[net]})` },
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

  private async run(net: FaceApiNet, blob: Float32Array, dims: number[]): Promise<Record<string, OrtTensor>> {
    const session = await this.session(net);
    const input = new this.ort.Tensor('float32', blob, dims);
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
