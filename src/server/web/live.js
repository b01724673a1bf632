/* global createImageBitmap, document, FormData, MutationObserver, navigator, performance, setTimeout, window */ // the browser's
/**
 * Identify's live camera: the webcam's picture, a few frames a second identified, each face followed
 * across frames and named from the evidence of its last frames (FaceTracker, src/face/tracker.ts,
 * from the browser build at /lib/arcface.js), so a name does not flicker with a frame's misreading.
 *
 * Where a frame is identified: by default it goes to the server as a JPEG, to the photo route
 * (POST /galleries/:g/identify); in private mode (the page's switch, or setLivePrivate) the faces
 * are found and embedded on this device (FaceRecognizer) and only their embeddings go to
 * POST /galleries/:g/identify/embeddings. One frame is in flight at a time: the next is grabbed
 * when the answer is in, so a slow server or device drops frames rather than queueing them.
 */
import { api, ApiError, clearError, showError } from './api.js';
import { galleryExists, galleryName } from './enroll.js';
import { privateOn, recognizer as pageRecognizer } from './private.js';

/** A frame every 250 ms at most: 4 a second when the server or device keeps up. */
const PERIOD_MS = 250;
const enc = encodeURIComponent;

/** null: follow the page's private-mode switch (private.js). */
let forced = null;
const onDevice = () => forced ?? privateOn();
/** At most this many faces a frame, the largest (the API's cap on embeddings per call). */
const MAX_FACES = 20;
/** The session running now, or null; stop() ends it wherever its loop is waiting. */
let session = null;
let recognizer = null;

/** true: identify on this device, sending embeddings only; false: send frames; null: the page's switch. */
export function setLivePrivate(on) {
  forced = on === null ? null : Boolean(on);
}

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function setupLive() {
  $('live-start').addEventListener('click', start);
  $('live-stop').addEventListener('click', () => stop('Camera off.'));
  // The camera is never left on out of sight: leaving the Identify tab or the page stops it.
  new MutationObserver(() => {
    if ($('panel-identify').hidden && session) stop('Camera off.');
  }).observe($('panel-identify'), { attributes: true, attributeFilter: ['hidden'] });
  window.addEventListener('pagehide', () => session && stop('Camera off.'));
}

/** What a failed getUserMedia means to the person at the page. */
function cameraProblem(err) {
  const name = err?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError')
    return 'Camera access was denied. Allow this site to use the camera (the icon in the address bar), then press Start camera again.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError')
    return 'No camera was found on this device.';
  if (name === 'NotReadableError' || name === 'AbortError')
    return 'The camera could not be started: another application may be using it.';
  return `The camera could not be started (${name ?? 'error'}: ${err?.message ?? err}).`;
}

async function start() {
  const errorBox = $('live-error');
  const status = $('live-status');
  clearError(errorBox);
  if (session) return;
  const gallery = galleryName();
  // The mode is fixed for the session: a change of the switch stops it (loop()).
  const mine = { running: true, stream: null, frames: 0, since: 0, onDevice: onDevice() };
  session = mine;
  setButtons(true);
  try {
    if (!navigator.mediaDevices?.getUserMedia)
      throw new Error('This browser offers no camera to this page: cameras need https (or localhost).');
    if (!(await galleryExists(gallery)))
      throw new Error(`There is no gallery “${gallery}” yet: enroll someone into it first.`);
    status.textContent = 'Starting the camera…';
    try {
      mine.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    } catch (err) {
      throw new Error(cameraProblem(err));
    }
    if (!mine.running) return release(mine);
    const { FaceTracker } = await import('/lib/arcface.js');
    if (mine.onDevice && !recognizer) {
      status.textContent = 'Loading the face models onto this device…';
      // The page's one recogniser, shared with private-mode Verify, Enroll and Identify.
      recognizer = await pageRecognizer();
    }
    if (!mine.running) return release(mine);
    const video = $('live-video');
    video.srcObject = mine.stream;
    await video.play();
    $('live-stage').hidden = false;
    status.textContent = mine.onDevice
      ? 'Camera on: faces are identified on this device; only their embeddings go to the server.'
      : 'Camera on: frames go to the server to be identified.';
    await loop(mine, video, new FaceTracker(), gallery);
  } catch (err) {
    if (session !== mine) return; // stopped meanwhile: that message stands
    stop(''); // the alert says why
    showError(errorBox, err instanceof ApiError ? explain(err, mine) : err);
  }
}

function stop(message) {
  const s = session;
  session = null;
  if (s) {
    s.running = false;
    release(s);
  }
  const video = $('live-video');
  video.pause();
  video.srcObject = null;
  $('live-stage').hidden = true;
  $('live-boxes').replaceChildren();
  $('live-tracks').replaceChildren();
  $('live-rate').textContent = '';
  $('live-status').textContent = message;
  setButtons(false);
}

function release(s) {
  for (const t of s.stream?.getTracks() ?? []) t.stop();
  s.stream = null;
}

function setButtons(on) {
  $('live-start').disabled = on;
  $('live-stop').disabled = !on;
}

/** A missing embeddings route is a server older than private mode: said so, with the way out. */
function explain(err, mine) {
  if (err.status === 404 && mine.onDevice)
    return new ApiError(
      404,
      err.code,
      `This server cannot identify by embeddings (POST /galleries/:gallery/identify/embeddings answered 404: ${err.message}). ` +
        'Update arcface on the server, or turn private mode off to send camera frames instead.',
    );
  return err;
}

async function loop(mine, video, tracker, gallery) {
  mine.since = performance.now();
  while (mine.running) {
    if (onDevice() !== mine.onDevice) return stop('Stopped: private mode changed. Start the camera again.');
    const t0 = performance.now();
    if (!video.videoWidth) {
      await sleep(PERIOD_MS); // no picture yet
      continue;
    }
    const frame = await (mine.onDevice ? onThisDevice(video, gallery) : onServer(video, gallery));
    if (!mine.running) return; // stopped while this frame was out: its answer is dropped
    draw(tracker.update(frame.faces), frame.width, frame.height);
    mine.frames++;
    const secs = (performance.now() - mine.since) / 1000;
    $('live-rate').textContent = `${(mine.frames / secs).toFixed(1)} frames a second`;
    await sleep(PERIOD_MS - (performance.now() - t0));
  }
}

/** The frame as a JPEG to the photo route; the boxes come back in the frame's pixels. */
async function onServer(video, gallery) {
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const jpeg = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
  const form = new FormData();
  form.append('image', jpeg, 'frame.jpg');
  const r = await api(`/galleries/${enc(gallery)}/identify`, { method: 'POST', form });
  return { width: r.width, height: r.height, faces: r.faces.map((f) => ({ box: f.box, subject: match(f) })) };
}

/** Faces found and embedded here; only the embeddings (and the model's name) are sent. */
async function onThisDevice(video, gallery) {
  const bitmap = await createImageBitmap(video);
  const { width, height } = bitmap;
  let found;
  try {
    found = await recognizer.embedAll(bitmap);
  } finally {
    bitmap.close();
  }
  found = found.sort((a, b) => area(b.face.box) - area(a.face.box)).slice(0, MAX_FACES);
  if (!found.length) return { width, height, faces: [] };
  const r = await api(`/galleries/${enc(gallery)}/identify/embeddings`, {
    method: 'POST',
    json: { model: recognizer.manifest.name, embeddings: found.map((f) => Array.from(f.embedding)) },
  });
  // The answer lists one result per embedding sent, in order.
  return { width, height, faces: found.map((f, i) => ({ box: f.face.box, subject: match(r.faces?.[i]) })) };
}

const area = (b) => (b.x2 - b.x1) * (b.y2 - b.y1);
const match = (f) => (f?.subject ? { id: f.subject.subjectId, name: f.subject.name } : null);

const pct = (v, total) => `${((100 * v) / total).toFixed(3)}%`;
const shown = (t) => (t.state === 'named' ? t.subject.name : t.state === 'unknown' ? 'unknown' : '…');

/** Boxes over the video for faces in this frame; a list of every live track, touched only on change. */
function draw(tracks, width, height) {
  const boxes = tracks
    .filter((t) => t.missed === 0)
    .map((t) => {
      const box = document.createElement('div');
      box.className = `box ${t.state === 'named' ? 'known' : 'unknown'}`;
      // CSSOM properties, not a style attribute: the page's CSP allows no inline styles.
      box.style.left = pct(t.box.x1, width);
      box.style.top = pct(t.box.y1, height);
      box.style.width = pct(t.box.x2 - t.box.x1, width);
      box.style.height = pct(t.box.y2 - t.box.y1, height);
      box.append(Object.assign(document.createElement('span'), { textContent: `${t.id}. ${shown(t)}` }));
      return box;
    });
  $('live-boxes').replaceChildren(...boxes);
  // The list is an aria-live region: rewriting it every frame would make a screen reader repeat it.
  const list = $('live-tracks');
  const items = new Map([...list.children].map((li) => [li.dataset.track, li]));
  for (const t of tracks) {
    const text = `Face ${t.id}: ${shown(t)}`;
    let li = items.get(String(t.id));
    items.delete(String(t.id));
    if (!li) {
      li = document.createElement('li');
      li.dataset.track = String(t.id);
      list.append(li);
    }
    if (li.textContent !== text) {
      li.textContent = text;
      li.dataset.name = t.state === 'named' ? t.subject.name : t.state;
      li.className = t.state === 'named' ? 'known' : 'unknown';
    }
  }
  for (const li of items.values()) li.remove();
}
