/* global document, localStorage, crypto, createImageBitmap, fetch, ImageData */ // the browser's
/**
 * Private mode: "Process photos on this device". Photos are detected, aligned and embedded in the
 * page by arcface/browser (/lib/arcface.js, the server's own models and thresholds), so Verify sends
 * nothing at all, and Enroll and Identify send only embeddings and the model's name (the crops too
 * when the user ticks "also store face thumbnails"). Answers take the server routes' shapes, so the
 * tabs show them as they show the server's. The switch is kept in localStorage, off by default, and
 * disabled, with the reason, when the server does not publish its recogniser to browsers.
 */
import { ApiError, api } from './api.js';

const KEY = 'arcface.private';
const enc = encodeURIComponent;

/** The recogniser in the page, made once on first use (17 MB of models, then cached by the browser). */
let made = null;
let unavailable = null;

export function privateOn() {
  return !unavailable && localStorage.getItem(KEY) === 'on';
}

/** The page's FaceRecognizer (for other on-device modes too, e.g. a live camera). */
export async function recognizer() {
  made ??= import('/lib/arcface.js')
    .then(({ FaceRecognizer }) => FaceRecognizer.create())
    .catch((err) => {
      made = null; // a failed load is tried again next time
      throw err;
    });
  return made;
}

/** Why the server's recogniser cannot run in this page, or null when it can. */
async function whyUnavailable() {
  try {
    const res = await fetch('/lib/models/index.json');
    if (!res.ok) return `the server does not offer on-device recognition (HTTP ${res.status})`;
    const index = await res.json();
    if (index.published) return null;
    const refused = await fetch(`/lib/models/${enc(index.recognizer)}.json`);
    const detail = refused.ok ? null : (await refused.json().catch(() => null))?.error?.message;
    return detail ?? `model ${index.recognizer} is not published to browsers`;
  } catch (err) {
    return `the server's models cannot be read (${err.message})`;
  }
}

/** The header's switch: restores it, disables it with the reason, loads the models when turned on. */
export async function setupPrivate() {
  const box = document.getElementById('private-mode');
  const help = document.getElementById('private-help');
  const thumbs = document.getElementById('enroll-thumbs-field');
  const show = () => {
    const on = privateOn();
    box.checked = on;
    thumbs.hidden = !on;
    document.body.classList.toggle('private', on);
  };
  box.checked = localStorage.getItem(KEY) === 'on';
  show();
  box.addEventListener('change', () => {
    localStorage.setItem(KEY, box.checked ? 'on' : 'off');
    show();
    if (box.checked) load();
    else help.textContent = OFF_HELP;
  });
  unavailable = await whyUnavailable();
  if (unavailable) {
    box.disabled = true;
    box.checked = false;
    show();
    help.textContent = `Unavailable: ${unavailable}. Photos are sent to this server.`;
    return;
  }
  if (privateOn()) load();

  async function load() {
    help.textContent = 'Loading the models into this page…';
    try {
      const rec = await recognizer();
      if (!box.checked) return;
      help.textContent =
        `On: photos stay on this device (${rec.manifest.name} in the page); ` +
        'enroll and identify send only embeddings.';
    } catch (err) {
      help.textContent = `The models could not be loaded here: ${err.message}`;
    }
  }
}

const OFF_HELP = 'Off: photos are sent to this server to be recognised.';

/** A library error as the page shows API errors: NO_FACE, UNSUPPORTED_MEDIA, or its own code. */
function pageError(err) {
  if (err instanceof ApiError) return err;
  const message = String(err?.message ?? err);
  if (err?.name === 'NoFaceError') return new ApiError(0, 'NO_FACE', message);
  if (/not a readable image|empty file/.test(message)) return new ApiError(0, 'UNSUPPORTED_MEDIA', message);
  return new ApiError(0, err?.code ?? 'ERROR', message);
}

async function here(work) {
  try {
    return await work(await recognizer());
  } catch (err) {
    throw pageError(err);
  }
}

/** An RGB crop as a PNG data URL (what the server's verify answers with crops, and stores). */
function pngUrl(rgb) {
  const rgba = new Uint8ClampedArray(rgb.width * rgb.height * 4);
  for (let i = 0, j = 0; i < rgb.data.length; i += 3, j += 4) {
    rgba[j] = rgb.data[i];
    rgba[j + 1] = rgb.data[i + 1];
    rgba[j + 2] = rgb.data[i + 2];
    rgba[j + 3] = 255;
  }
  const canvas = Object.assign(document.createElement('canvas'), { width: rgb.width, height: rgb.height });
  canvas.getContext('2d').putImageData(new ImageData(rgba, rgb.width, rgb.height), 0, 0);
  return canvas.toDataURL('image/png');
}

/** The largest face of each photo, aligned; every photo without one listed, as the server lists them. */
async function crops(rec, photos) {
  const out = [];
  const failures = [];
  for (const [i, p] of photos.entries()) {
    try {
      out.push(await rec.crop(p));
    } catch (err) {
      const e = pageError(err);
      const image = p.name || `photo ${i + 1}`;
      // The library's message names the file already.
      const message = e.message.startsWith(`${image}: `) ? e.message.slice(image.length + 2) : e.message;
      failures.push({ image, code: e.code, message });
    }
  }
  return { out, failures };
}

/** Verify wholly in the page: the /verify answer (with crops), and nothing sent anywhere. */
export function verifyHere(a, b) {
  return here(async (rec) => {
    const threshold = rec.threshold;
    if (threshold === undefined)
      throw new ApiError(
        0,
        'BAD_CONFIG',
        `no verification threshold is known for model ${rec.manifest.name}`,
      );
    const [ca, cb] = [await rec.crop(a), await rec.crop(b)];
    const [ea, eb] = await rec.embedCrops([ca.image, cb.image]);
    const { cosine, angleDegrees } = await import('/lib/arcface.js');
    const similarity = cosine(ea, eb);
    return {
      similarity,
      far: rec.far(similarity),
      angle: angleDegrees(similarity),
      threshold,
      same: similarity >= threshold,
      model: rec.manifest.name,
      crops: [pngUrl(ca.image), pngUrl(cb.image)],
    };
  });
}

/**
 * Enroll from the page, step one, before anything is created on the server: each photo's largest
 * face embedded here (with its crop only when `storeCrops`); any photo without a face refuses the
 * whole call, as the server's enroll does.
 */
export function embedHere(photos, storeCrops) {
  return here(async (rec) => {
    const { out, failures } = await crops(rec, photos);
    if (failures.length)
      throw new ApiError(
        0,
        failures.every((f) => f.code === 'NO_FACE') ? 'NO_FACE' : failures[0].code,
        `nothing enrolled, ${failures.length} of ${photos.length} photo(s) failed on this device`,
        failures,
      );
    const embeddings = (await rec.embedCrops(out.map((c) => c.image))).map((e) => Array.from(e));
    const json = { model: rec.manifest.name, embeddings };
    if (storeCrops) json.crops = out.map((c) => pngUrl(c.image));
    return json;
  });
}

/** Step two: the embeddings (and crops) `embedHere` made, to the subject. */
export function enrollHere(gallery, subjectId, json) {
  return api(`/galleries/${enc(gallery)}/subjects/${subjectId}/embeddings`, { method: 'POST', json });
}

const area = (f) => (f.box.x2 - f.box.x1) * (f.box.y2 - f.box.y1);

/** sha256 of the photo's bytes (computed here, sent instead of it): corrections of the photo apply. */
async function sha256(file) {
  if (!crypto.subtle) return undefined; // not a secure context
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Identify from the page: every face embedded here, only the embeddings sent; the /identify answer. */
export function identifyHere(gallery, photo, maxFaces = 20) {
  return here(async (rec) => {
    const bitmap = await createImageBitmap(photo, { imageOrientation: 'from-image' }).catch(() => null);
    const all = await rec.embedAll(photo);
    const size = { width: bitmap?.width ?? 1, height: bitmap?.height ?? 1 };
    bitmap?.close();
    const faces = [...all].sort((x, y) => area(y.face) - area(x.face)).slice(0, maxFaces);
    if (!faces.length) return { gallery, faces: [], facesFound: 0, ...size };
    const json = {
      model: rec.manifest.name,
      embeddings: faces.map((f) => Array.from(f.embedding)),
      boxes: faces.map((f) => f.face.box),
    };
    const imageSha256 = await sha256(photo);
    if (imageSha256) json.imageSha256 = imageSha256;
    const r = await api(`/galleries/${enc(gallery)}/identify/embeddings`, { method: 'POST', json });
    return { ...r, ...size, facesFound: all.length };
  });
}
