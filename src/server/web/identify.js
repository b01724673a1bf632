/* global document, FormData, URL */ // the browser's (ESLint's config knows Node's only)
/**
 * Identify (open set): a photo with a box on every face, each named or "unknown" with its score.
 * Boxes are absolutely positioned over the image in percent of the decoded image's size (the API's
 * width and height), so they follow the image at any screen width.
 */
import { api, clearError, rate, showError } from './api.js';
import { galleryExists, galleryName } from './enroll.js';
import { setupLive } from './live.js';
import { photoPicker } from './picker.js';
import { identifyHere, privateOn } from './private.js';

let shownUrl = null;

export function setupIdentify() {
  const form = document.getElementById('identify-form');
  const errorBox = document.getElementById('identify-error');
  const out = document.getElementById('identify-result');
  const picker = photoPicker(form.querySelector('[data-picker="identify"]'));
  const button = form.querySelector('button[type="submit"]');

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(errorBox);
    const [photo] = picker.files();
    if (!photo) {
      showError(errorBox, new Error('Choose a photo first.'));
      picker.input.focus();
      return;
    }
    const gallery = galleryName();
    const body = new FormData();
    body.append('image', photo, photo.name || 'photo.jpg');
    button.disabled = true;
    out.replaceChildren(Object.assign(document.createElement('p'), { textContent: 'Identifying…' }));
    try {
      if (!(await galleryExists(gallery)))
        throw new Error(`There is no gallery “${gallery}” yet: enroll someone into it first.`);
      // Private mode: the faces are embedded in this page and only their embeddings sent.
      const r = privateOn()
        ? await identifyHere(gallery, photo)
        : await api(`/galleries/${encodeURIComponent(gallery)}/identify`, { method: 'POST', form: body });
      render(out, photo, r);
    } catch (err) {
      out.replaceChildren();
      showError(errorBox, err);
    } finally {
      button.disabled = false;
    }
  });
  setupLive();
}

const pct = (v, total) => `${((100 * v) / total).toFixed(3)}%`;

function render(out, photo, r) {
  if (shownUrl) URL.revokeObjectURL(shownUrl);
  shownUrl = URL.createObjectURL(photo);
  const stage = document.createElement('div');
  stage.className = 'stage';
  const img = Object.assign(document.createElement('img'), {
    src: shownUrl,
    alt: `The photo, ${r.faces.length} face(s) marked`,
  });
  stage.append(img);
  const list = document.createElement('ol');
  list.className = 'faces';
  r.faces.forEach((f, i) => {
    const who = f.subject ? f.subject.name : 'unknown';
    const score = f.score === null ? 'empty gallery' : Number(f.score).toFixed(3);
    const box = document.createElement('div');
    box.className = `box ${f.subject ? 'known' : 'unknown'}`;
    // CSSOM properties, not a style attribute: the page's CSP allows no inline styles.
    box.style.left = pct(f.box.x1, r.width);
    box.style.top = pct(f.box.y1, r.height);
    box.style.width = pct(f.box.x2 - f.box.x1, r.width);
    box.style.height = pct(f.box.y2 - f.box.y1, r.height);
    box.setAttribute('aria-hidden', 'true');
    const tag = Object.assign(document.createElement('span'), { textContent: `${i + 1}. ${who}` });
    box.append(tag);
    stage.append(box);
    const li = document.createElement('li');
    li.className = f.subject ? 'known' : 'unknown';
    li.dataset.name = who;
    const name = Object.assign(document.createElement('strong'), { textContent: who });
    li.append(name, ` — score ${score}`);
    if (f.far !== null && f.far !== undefined) li.append(` (FAR ${rate(f.far)})`);
    if (f.candidates?.length > 1) {
      const runner = f.candidates.find((c) => c.subjectId !== f.subject?.subjectId);
      if (runner) li.append(`; next: ${runner.name} ${Number(runner.score).toFixed(3)}`);
    }
    if (f.quality) li.append(qualityNote(f));
    list.append(li);
  });
  const summary = Object.assign(document.createElement('p'), {
    className: 'status',
    textContent:
      `${r.faces.length} face(s) in gallery “${r.gallery}”` +
      (r.facesFound > r.faces.length
        ? ` (${r.facesFound} found, the largest ${r.faces.length} identified)`
        : '') +
      `; named when the score ≥ ${Number(r.threshold).toFixed(3)}` +
      (r.thresholdRule === 'fpir'
        ? `, the score a stranger reaches with probability ${rate(r.fpirTarget)} against the ${r.enrolled} enrolled face(s).`
        : '.'),
  });
  if (!r.faces.length) summary.textContent = 'No face found in this photo.';
  out.replaceChildren(summary, stage, list);
}

/** "· quality 0.87", or "· low quality 0.21 (sharpness)": the answer stands, less to be trusted. */
function qualityNote(f) {
  const q = Object.assign(document.createElement('small'), { className: 'quality' });
  const score = Number(f.quality.score).toFixed(2);
  q.textContent = f.lowQuality ? ` · low quality ${score} (${f.lowQualityMeasure})` : ` · quality ${score}`;
  if (f.lowQuality) q.classList.add('low');
  return q;
}
