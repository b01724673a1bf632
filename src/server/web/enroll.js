/* global document, FormData, URL */ // the browser's (ESLint's config knows Node's only)
/**
 * Enroll: a name and several photos into the gallery named at the top (created when missing; a
 * subject of the same name gets the new photos), and the gallery as a grid of subjects with their
 * crops. Deleting a subject asks for a second, explicit confirmation: it erases biometric data.
 */
import { ApiError, api, clearError, showError } from './api.js';
import { photoPicker } from './picker.js';
import { embedHere, enrollHere, privateOn } from './private.js';

const enc = encodeURIComponent;
let cropUrls = [];
// Each redraw takes a number; one overtaken by a newer redraw drops its result instead of showing it.
let generation = 0;

export function galleryName() {
  return document.getElementById('gallery').value.trim();
}

/**
 * Whether the gallery exists, from the list: asking for a gallery that is not there yet would be a
 * 404, which the browser logs as an error although nothing is wrong.
 */
export async function galleryExists(name) {
  const { galleries } = await api('/galleries');
  return galleries.some((g) => g.name === name);
}

/** Creates the gallery unless it exists; true when this call made it. */
export async function ensureGallery(name) {
  if (await galleryExists(name)) return false;
  try {
    await api('/galleries', { method: 'POST', json: { name } });
  } catch (err) {
    // Created meanwhile (another tab or client): it is there, which is what was wanted.
    if (err instanceof ApiError && err.status === 409) return false;
    throw err;
  }
  return true;
}

export function setupEnroll() {
  const form = document.getElementById('enroll-form');
  const nameInput = document.getElementById('enroll-name');
  const errorBox = document.getElementById('enroll-error');
  const status = document.getElementById('enroll-status');
  const picker = photoPicker(form.querySelector('[data-picker="enroll"]'));
  const button = form.querySelector('button[type="submit"]');

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(errorBox);
    const name = nameInput.value.trim();
    const gallery = galleryName();
    const photos = picker.files();
    if (!name) return fail(new Error('Enter the person’s name.'), nameInput);
    if (!photos.length) return fail(new Error('Choose at least one photo.'), picker.input);
    if (!document.getElementById('gallery').checkValidity())
      return fail(
        new Error('The gallery name takes 1 to 64 letters, digits, “_” or “-”.'),
        document.getElementById('gallery'),
      );
    button.disabled = true;
    status.textContent = `Enrolling ${photos.length} photo(s) of ${name}…`;
    const local = privateOn();
    const storeCrops = document.getElementById('enroll-thumbs').checked;
    try {
      // Private mode: the faces are embedded in this page first (a photo without one creates nothing);
      // only embeddings, and crops if chosen, are sent.
      const faces = local ? await embedHere(photos, storeCrops) : null;
      const created = await ensureGallery(gallery);
      const { subjects } = await api(`/galleries/${enc(gallery)}/subjects`);
      let subject = subjects.find((s) => s.name === name);
      if (!subject)
        subject = await api(`/galleries/${enc(gallery)}/subjects`, { method: 'POST', json: { name } });
      let r;
      if (local) r = await enrollHere(gallery, subject.id, faces);
      else {
        const body = new FormData();
        photos.forEach((f, i) => body.append('images', f, f.name || `photo-${i}.jpg`));
        r = await api(`/galleries/${enc(gallery)}/subjects/${subject.id}/faces`, {
          method: 'POST',
          form: body,
        });
      }
      status.textContent =
        `Enrolled ${r.faces.length} face(s) of ${name} in gallery “${gallery}”` +
        (created ? ' (new gallery)' : '') +
        (local
          ? `, from embeddings made on this device${storeCrops ? ' (thumbnails stored)' : ' (no photo or thumbnail sent)'}.`
          : ` — quality ${r.faces.map((f) => Number(f.quality?.score ?? 0).toFixed(2)).join(', ')}.`);
      picker.clear();
      nameInput.value = '';
      await refreshGrid();
    } catch (err) {
      status.textContent = '';
      showError(errorBox, err);
    } finally {
      button.disabled = false;
    }
  });

  function fail(err, focus) {
    showError(errorBox, err);
    focus.focus();
  }

  document.getElementById('gallery').addEventListener('change', () => refreshGrid());
}

/** Redraws the grid of subjects of the current gallery, with each subject's crops. */
export async function refreshGrid() {
  const grid = document.getElementById('enroll-grid');
  const mine = ++generation;
  grid.setAttribute('aria-busy', 'true');
  try {
    await redraw(grid, mine);
  } finally {
    if (mine === generation) grid.setAttribute('aria-busy', 'false');
  }
}

async function redraw(grid, mine) {
  const errorBox = document.getElementById('enroll-error');
  const gallery = galleryName();
  document.getElementById('grid-title').textContent = `Gallery “${gallery}”`;
  let subjects = null;
  try {
    if (await galleryExists(gallery)) subjects = (await api(`/galleries/${enc(gallery)}/subjects`)).subjects;
  } catch (err) {
    if (mine !== generation) return;
    grid.replaceChildren();
    showError(errorBox, err);
    return;
  }
  if (!subjects) {
    if (mine === generation)
      grid.replaceChildren(para('No one enrolled yet: this gallery is created on the first enroll.'));
    return;
  }
  const urls = [];
  const cards = await Promise.all(subjects.map((s) => card(gallery, s, urls)));
  const stale = mine !== generation;
  for (const u of stale ? urls : cropUrls) URL.revokeObjectURL(u);
  if (stale) return;
  cropUrls = urls;
  if (!subjects.length) {
    grid.replaceChildren(para('No one enrolled yet.'));
    return;
  }
  const list = document.createElement('ul');
  list.className = 'subjects';
  list.append(...cards);
  grid.replaceChildren(list);
}

function para(text) {
  return Object.assign(document.createElement('p'), { className: 'status', textContent: text });
}

async function card(gallery, s, urls) {
  const li = document.createElement('li');
  li.className = 'subject';
  li.dataset.subject = String(s.id);
  const h = Object.assign(document.createElement('h4'), { textContent: s.name });
  const count = Object.assign(document.createElement('p'), {
    className: 'count',
    textContent: `${s.faces} face${s.faces === 1 ? '' : 's'}`,
  });
  const crops = document.createElement('div');
  crops.className = 'subject-crops';
  try {
    const { faces } = await api(`/galleries/${enc(gallery)}/subjects/${s.id}/faces`);
    // The crop route needs the key header, so crops come through fetch as blobs, not <img src>.
    for (const f of faces.filter((f) => f.hasCrop).slice(0, 8)) {
      const blob = await api(`/galleries/${enc(gallery)}/subjects/${s.id}/faces/${f.id}/crop`, {
        as: 'blob',
      });
      const url = URL.createObjectURL(blob);
      urls.push(url);
      crops.append(
        Object.assign(document.createElement('img'), {
          src: url,
          alt: `${s.name}, face ${f.id}`,
          width: 56,
          height: 56,
        }),
      );
    }
  } catch (err) {
    crops.append(para(`Crops unavailable: ${err.message}`));
  }
  const del = Object.assign(document.createElement('button'), {
    type: 'button',
    className: 'danger',
    textContent: 'Delete',
  });
  del.setAttribute('aria-label', `Delete ${s.name}`);
  const confirmBox = document.createElement('div');
  confirmBox.className = 'confirm';
  confirmBox.hidden = true;
  del.addEventListener('click', () => {
    const q = para(`Delete ${s.name} and all ${s.faces} face(s) for good?`);
    const yes = Object.assign(document.createElement('button'), {
      type: 'button',
      className: 'danger',
      textContent: `Yes, delete ${s.name}`,
    });
    const no = Object.assign(document.createElement('button'), {
      type: 'button',
      className: 'secondary',
      textContent: 'Cancel',
    });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        await api(`/galleries/${enc(gallery)}/subjects/${s.id}`, { method: 'DELETE', as: 'none' });
        await refreshGrid();
        document.getElementById('enroll-status').textContent = `Deleted ${s.name}.`;
        document.getElementById('enroll-name').focus();
      } catch (err) {
        showError(document.getElementById('enroll-error'), err);
        yes.disabled = false;
      }
    });
    no.addEventListener('click', () => {
      confirmBox.hidden = true;
      del.hidden = false;
      del.focus();
    });
    confirmBox.replaceChildren(q, yes, no);
    confirmBox.hidden = false;
    del.hidden = true;
    no.focus();
  });
  li.append(h, count, crops, del, confirmBox);
  return li;
}
