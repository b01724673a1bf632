/* global document, FormData */ // the browser's (ESLint's config knows Node's only)
/** Verify (1:1): two photos, their aligned crops side by side, similarity, angle and the verdict. */
import { api, clearError, rate, showError } from './api.js';
import { photoPicker } from './picker.js';
import { privateOn, verifyHere } from './private.js';

const fmt = (x, d = 3) => Number(x).toFixed(d);

export function setupVerify() {
  const form = document.getElementById('verify-form');
  const errorBox = document.getElementById('verify-error');
  const out = document.getElementById('verify-result');
  const a = photoPicker(form.querySelector('[data-picker="a"]'));
  const b = photoPicker(form.querySelector('[data-picker="b"]'));
  const button = form.querySelector('button[type="submit"]');

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(errorBox);
    const [fa] = a.files();
    const [fb] = b.files();
    if (!fa || !fb) {
      showError(errorBox, new Error('Choose two photos first.'));
      (fa ? b : a).input.focus();
      return;
    }
    const body = new FormData();
    body.append('a', fa, fa.name || 'a.jpg');
    body.append('b', fb, fb.name || 'b.jpg');
    body.append('crops', 'true');
    button.disabled = true;
    out.replaceChildren(Object.assign(document.createElement('p'), { textContent: 'Comparing…' }));
    try {
      // Private mode: compared in this page, nothing sent.
      render(
        out,
        privateOn() ? await verifyHere(fa, fb) : await api('/verify', { method: 'POST', form: body }),
      );
    } catch (err) {
      out.replaceChildren();
      showError(errorBox, err);
    } finally {
      button.disabled = false;
    }
  });
}

function render(out, v) {
  const crops = document.createElement('div');
  crops.className = 'crops';
  (v.crops ?? []).forEach((src, i) => {
    const fig = document.createElement('figure');
    const img = Object.assign(document.createElement('img'), {
      src,
      alt: `Aligned face from the ${i ? 'second' : 'first'} photo`,
      width: 112,
      height: 112,
    });
    const cap = Object.assign(document.createElement('figcaption'), { textContent: i ? 'Second' : 'First' });
    fig.append(img, cap);
    crops.append(fig);
  });
  const verdict = document.createElement('p');
  verdict.className = `verdict ${v.same ? 'same' : 'different'}`;
  verdict.dataset.testid = 'verify-verdict';
  verdict.textContent = v.same ? 'Same person' : 'Different people';
  const dl = document.createElement('dl');
  dl.className = 'numbers';
  for (const [k, val] of [
    ['Similarity (cosine)', fmt(v.similarity)],
    ...(v.far === null || v.far === undefined
      ? []
      : [['False-accept rate', `${rate(v.far)} of different people score this high`]]),
    ['Angle', `${fmt(v.angle, 1)}°`],
    ['Threshold', `${fmt(v.threshold)} (same when similarity ≥ threshold)`],
    ['Model', v.model],
  ]) {
    dl.append(
      Object.assign(document.createElement('dt'), { textContent: k }),
      Object.assign(document.createElement('dd'), { textContent: val }),
    );
  }
  out.replaceChildren(verdict, crops, dl);
}
