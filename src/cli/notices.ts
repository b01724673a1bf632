/** What the CLI says about a model when it loads one: licence and training-data terms, plainly. */
import type { ModelManifest } from '../models/manifest.js';

export function modelNotice(m: ModelManifest, detectorSpec?: string): string {
  if (/^unknown/.test(m.licence))
    return `model ${m.name}: licence and training data unknown (a user-supplied file; check its publisher's terms)${detectorSpec ? `; detector ${detectorSpec}` : ''}`;
  const terms = m.researchOnly
    ? 'NON-COMMERCIAL RESEARCH ONLY'
    : 'its licence allows commercial use; check the training data terms';
  const det = detectorSpec ? `; detector ${detectorSpec}` : '';
  const base = m.base
    ? `; fine-tuned from ${m.base.name} (${m.base.licence}; trained on ${m.base.trainingData})`
    : '';
  return `model ${m.name} (${m.licence}; trained on ${m.trainingData}${base}; ${terms})${det}`;
}
