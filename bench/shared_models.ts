/** The models in ../shared, with the pre-processing its README gives (for benches and tests). */
import { join } from 'node:path';
import type { PreprocessOverrides } from '../src/models/resolve.js';

export const SHARED = join(import.meta.dirname, '../../shared');
const R = join(SHARED, 'models/recognizers');
const D = join(SHARED, 'models/detectors');

export const SHARED_RECOGNISERS: Record<string, { path: string; preprocess: PreprocessOverrides }> = {
  'w600k-mbf-int8': { path: join(R, 'w600k-mbf-int8/w600k_mbf_int8.onnx'), preprocess: {} },
  'mobilefacenet-foamliu': {
    path: join(R, 'mobilefacenet-foamliu/mobilefacenet.onnx'),
    preprocess: { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] },
  },
  'mobilefacenet-paddle': {
    path: join(R, 'mobilefacenet-paddle/mobilefacenet.onnx'),
    preprocess: { color: 'bgr' },
  },
};

export const SHARED_DETECTORS: Record<string, string> = {
  faceapi: 'faceapi',
  yunet: `yunet:${join(D, 'yunet/face_detection_yunet_2023mar.onnx')}`,
  'scrfd-500m': `scrfd:${join(D, 'scrfd/scrfd_500m.onnx')}`,
  'scrfd-2.5g': `scrfd:${join(D, 'scrfd/scrfd_2.5g.onnx')}`,
  retinaface: `retinaface:${join(D, 'retinaface/retinaface_mnet025.onnx')}`,
};
