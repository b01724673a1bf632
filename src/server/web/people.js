/* global document, FormData, URL */ // the browser's (ESLint's config knows Node's only)
/**
 * People: the unnamed people clustering found (clusters) and the named people of the gallery, each a
 * row of face crops. A cluster is named (it becomes a person, or joins the person whose external id
 * is given); chosen rows are merged into one; chosen faces are split off into a new cluster or moved
 * to someone else; "Not this person" takes one face out of its row, and out of a named person it
 * also stops identify from answering that person for the face's photo (the server records the
 * correction). "Add photos" sends photos to be clustered. Every edit redraws both lists.
 */
import { ApiError, api, clearError, showError } from './api.js';
import { ensureGallery, galleryExists, galleryName } from './enroll.js';
import { photoPicker } from './picker.js';

const enc = encodeURIComponent;
/** Rows shown per list at first and added by "Show more": each row costs a request per crop. */
const PAGE = 20;
/** Crops shown per row; the count says how many the row has. */
const CROPS = 12;
/** Photos per "Add photos" request: the server takes at most 20 images a request by default. */
const BATCH = 10;

let cropUrls = [];
// Each redraw takes a number; one overtaken by a newer redraw drops its result instead of showing it.
let generation = 0;
const shown = { clusters: PAGE, persons: PAGE };
/** The subjects drawn last, by id: what the merge button and the move lists act on. */
let drawn = new Map();
/** The row (subject id) to focus after the next redraw: the result of the edit just made. */
let focusAfter = null;

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

const title = (s) => (s.kind === 'cluster' ? `Unnamed #${s.id}` : s.name);
const plural = (n, word) =>
  word === 'person' && n !== 1 ? `${n} people` : `${n} ${word}${n === 1 ? '' : 's'}`;
const base = () => `/galleries/${enc(galleryName())}`;
const status = (text) => {
  document.getElementById('people-status').textContent = text;
};
const errorBox = () => document.getElementById('people-error');

export function setupPeople() {
  const form = document.getElementById('people-add-form');
  const picker = photoPicker(form.querySelector('[data-picker="people"]'));
  const button = form.querySelector('button[type="submit"]');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    addPhotos(picker, button);
  });
  const merge = document.getElementById('people-merge');
  merge.addEventListener('click', () => act(merge, mergeChosen));
  for (const list of ['clusters', 'persons'])
    document.getElementById(`${list}-more`).addEventListener('click', () => {
      shown[list] += PAGE;
      refreshPeople();
    });
  document.getElementById('gallery').addEventListener('change', () => {
    if (!document.getElementById('panel-people').hidden) refreshPeople();
  });
}

/**
 * Runs one edit: the button is disabled meanwhile and an error is shown as the API wrote it. The
 * lists are redrawn once the server was asked, failed or not (a half-done edit shows what the store
 * now holds); a choice refused before asking keeps what was chosen on the page. The edit's message
 * is shown (and announced) once the lists show its result.
 */
async function act(button, edit) {
  clearError(errorBox());
  status('');
  button.disabled = true;
  let asked = true;
  let message = '';
  try {
    message = await edit();
  } catch (err) {
    asked = err instanceof ApiError;
    showError(errorBox(), err);
  } finally {
    button.disabled = false;
  }
  if (asked) await refreshPeople();
  status(message);
}

// ---- edits -----------------------------------------------------------------------------------------

async function nameCluster(s, nameInput, extInput) {
  const name = nameInput.value.trim();
  const externalId = extInput.value.trim();
  if (!name) {
    nameInput.focus();
    throw new Error(`Enter a name for ${title(s)}.`);
  }
  const person = await api(`${base()}/clusters/${s.id}/name`, {
    method: 'POST',
    json: externalId ? { name, externalId } : { name },
  });
  focusAfter = person.id;
  return person.id === s.id
    ? `${title(s)} is now ${person.name}.`
    : `The faces of ${title(s)} joined ${person.name} (external id ${person.externalId}).`;
}

/** The chosen rows into one: a chosen named person, else the largest chosen cluster, keeps the faces. */
async function mergeChosen() {
  const chosen = [...document.querySelectorAll('#panel-people .pick-row:checked')]
    .map((c) => drawn.get(Number(c.value)))
    .filter(Boolean);
  if (chosen.length < 2) throw new Error('Select two or more rows to merge (the box before each name).');
  const persons = chosen.filter((s) => s.kind === 'person');
  if (persons.length > 1)
    throw new Error(
      `${persons.map(title).join(', ')} are each named, and a named person is never merged away: ` +
        'select one named person and the unnamed ones that are them.',
    );
  const into = persons[0] ?? [...chosen].sort((a, b) => b.faces - a.faces)[0];
  const from = chosen.filter((s) => s !== into);
  const r = await api(`${base()}/subjects/${into.id}/merge`, {
    method: 'POST',
    json: { clusters: from.map((s) => s.id) },
  });
  focusAfter = into.id;
  return `Merged ${from.map(title).join(', ')} into ${title(into)}: ${plural(r.subject.faces, 'face')}.`;
}

async function splitOff(s, faces, one = false) {
  if (!faces.length) throw new Error(`Choose faces of ${title(s)} first (the box on each crop).`);
  const made = await api(`${base()}/subjects/${s.id}/split`, { method: 'POST', json: { faces } });
  focusAfter = made.id;
  const what = one
    ? `Face ${faces[0]} is not ${title(s)}`
    : `Split ${plural(faces.length, 'face')} off ${title(s)}`;
  return (
    `${what}: now ${title(made)}.` +
    (s.kind === 'person'
      ? ` Identify will not answer ${s.name} for ${one ? 'its photo' : 'their photos'}.`
      : '')
  );
}

async function moveChosen(s, faces, select) {
  if (!faces.length) throw new Error(`Choose faces of ${title(s)} first (the box on each crop).`);
  const to = drawn.get(Number(select.value));
  if (!to) throw new Error('Choose who the faces belong to.');
  // One face a request (the API moves one face); each move is its own edit, kept if a later one fails.
  for (const face of faces)
    await api(`${base()}/faces/${face}/move`, { method: 'POST', json: { subjectId: to.id } });
  focusAfter = to.id;
  return (
    `Moved ${plural(faces.length, 'face')} from ${title(s)} to ${title(to)}.` +
    (s.kind === 'person' ? ` Identify will not answer ${s.name} for their photos.` : '')
  );
}

async function addPhotos(picker, button) {
  const errors = errorBox();
  clearError(errors);
  const photos = picker.files();
  const gallery = galleryName();
  if (!photos.length) {
    showError(errors, new Error('Choose at least one photo.'));
    picker.input.focus();
    return;
  }
  if (!document.getElementById('gallery').checkValidity()) {
    showError(errors, new Error('The gallery name takes 1 to 64 letters, digits, “_” or “-”.'));
    document.getElementById('gallery').focus();
    return;
  }
  button.disabled = true;
  const faces = [];
  const failures = [];
  let sent = 0;
  let message = '';
  try {
    await ensureGallery(gallery);
    while (sent < photos.length) {
      const batch = photos.slice(sent, sent + BATCH);
      status(`Finding the people in photos ${sent + 1}–${sent + batch.length} of ${photos.length}…`);
      const body = new FormData();
      batch.forEach((f, i) => body.append('image', f, f.name || `photo-${sent + i}.jpg`));
      // A photo library has the odd broken file: keep the good photos, list the others.
      body.append('partial', 'true');
      const r = await api(`${base()}/cluster`, { method: 'POST', form: body });
      faces.push(...(r.faces ?? []));
      failures.push(...(r.failures ?? []));
      sent += batch.length;
    }
    // A singleton is stored as a one-face cluster (it has a subjectId): counted apart from people.
    const placed = faces.filter((f) => f.outcome === 'joined' || f.outcome === 'newCluster');
    const alone = faces.filter((f) => f.outcome === 'singleton').length;
    const poor = faces.filter((f) => f.outcome === 'lowQuality').length;
    message =
      `${plural(faces.length, 'face')} in ${plural(photos.length, 'photo')}: ` +
      `${placed.length} in ${plural(new Set(placed.map((f) => f.subjectId)).size, 'person')}` +
      `, ${alone} seen only once` +
      (poor ? `, ${poor} too unclear to keep` : '') +
      '.';
    if (failures.length)
      showError(
        errors,
        new ApiError(200, 'PARTIAL', `${plural(failures.length, 'photo')} could not be read`, failures),
      );
    picker.clear();
  } catch (err) {
    if (sent) message = `${plural(sent, 'photo')} of ${photos.length} were added before this error.`;
    showError(errors, err);
  } finally {
    button.disabled = false;
  }
  await refreshPeople();
  status(message);
}

// ---- drawing ---------------------------------------------------------------------------------------

/** Redraws both lists of the current gallery. */
export async function refreshPeople() {
  const box = document.getElementById('people-lists');
  const mine = ++generation;
  box.setAttribute('aria-busy', 'true');
  try {
    await redraw(mine);
  } finally {
    if (mine === generation) box.setAttribute('aria-busy', 'false');
  }
}

async function redraw(mine) {
  const gallery = galleryName();
  const clustersBox = document.getElementById('clusters-list');
  const personsBox = document.getElementById('persons-list');
  const note = document.getElementById('clusters-note');
  let clusters;
  let persons;
  let singletons;
  try {
    if (!(await galleryExists(gallery))) {
      if (mine !== generation) return;
      drawn = new Map();
      note.textContent = '';
      document.getElementById('clusters-title').textContent = 'Unnamed people';
      document.getElementById('persons-title').textContent = 'Named people';
      clustersBox.replaceChildren(para(`No gallery “${gallery}” yet: add photos or enroll someone.`));
      personsBox.replaceChildren();
      showMore('clusters', 0);
      showMore('persons', 0);
      return;
    }
    // Singletons (one-face clusters) too: listed last, where a face seen once can be named or merged.
    clusters = (await api(`/galleries/${enc(gallery)}/clusters?singletons=true`)).clusters;
    singletons = clusters.filter((c) => c.faces === 1).length;
    persons = (await api(`/galleries/${enc(gallery)}/subjects`)).subjects;
  } catch (err) {
    if (mine === generation) showError(errorBox(), err);
    return;
  }
  // The largest first: the people who matter most to name, and the likeliest to be right.
  const bySize = (a, b) => b.faces - a.faces || a.id - b.id;
  clusters.sort(bySize);
  persons.sort(bySize);
  const all = [...persons, ...clusters];
  const urls = [];
  const rows = (list, n) => Promise.all(list.slice(0, n).map((s) => row(gallery, s, all, urls)));
  const [clusterRows, personRows] = await Promise.all([
    rows(clusters, shown.clusters),
    rows(persons, shown.persons),
  ]);
  const stale = mine !== generation;
  for (const u of stale ? urls : cropUrls) URL.revokeObjectURL(u);
  if (stale) return;
  cropUrls = urls;
  drawn = new Map(all.map((s) => [s.id, s]));
  document.getElementById('clusters-title').textContent = `Unnamed people (${clusters.length})`;
  document.getElementById('persons-title').textContent = `Named people (${persons.length})`;
  note.textContent =
    typeof singletons === 'number' && singletons > 0
      ? `${plural(singletons, 'face')} seen only once, listed last: name one, or merge it into a person.`
      : '';
  clustersBox.replaceChildren(
    clusters.length ? list(clusterRows) : para('No unnamed people: add photos to find them.'),
  );
  personsBox.replaceChildren(persons.length ? list(personRows) : para('No one is named yet.'));
  showMore('clusters', clusters.length - clusterRows.length);
  showMore('persons', persons.length - personRows.length);
  if (focusAfter !== null) {
    const target =
      document.querySelector(`#panel-people [data-subject="${focusAfter}"] h4`) ??
      document.getElementById('clusters-title');
    focusAfter = null;
    target.focus();
  }
}

function showMore(which, hidden) {
  const b = document.getElementById(`${which}-more`);
  b.hidden = hidden <= 0;
  b.textContent = `Show ${Math.min(hidden, PAGE)} more`;
}

function para(text) {
  return el('p', { className: 'status', textContent: text });
}

function list(rows) {
  return el('ul', { className: 'people' }, ...rows);
}

/** A row: the select box, the name, the crops (each with its choose box and "Not this person"), the edits. */
async function row(gallery, s, all, urls) {
  const who = title(s);
  const key = `p${s.id}`;
  const li = el('li', { className: `person-row ${s.kind}` });
  li.dataset.subject = String(s.id);
  li.dataset.kind = s.kind;

  const pick = el('input', { type: 'checkbox', className: 'pick-row', value: String(s.id) });
  pick.setAttribute('aria-label', `Select ${who} to merge`);
  pick.addEventListener('change', () => li.classList.toggle('chosen', pick.checked));
  const head = el(
    'div',
    { className: 'row-head' },
    pick,
    el('h4', { id: `${key}-title`, tabIndex: -1, textContent: who }),
    el('span', { className: 'count', textContent: plural(s.faces, 'face') }),
  );

  const tiles = el('ul', { className: 'face-tiles' });
  tiles.setAttribute('aria-label', `Faces of ${who}`);
  let faces = [];
  try {
    faces = (await api(`/galleries/${enc(gallery)}/subjects/${s.id}/faces`)).faces;
    for (const f of faces.slice(0, CROPS)) tiles.append(await tile(gallery, s, f, faces.length, urls));
  } catch (err) {
    tiles.append(el('li', {}, para(`Crops unavailable: ${err.message}`)));
  }
  if (faces.length > CROPS)
    tiles.append(
      el('li', { className: 'status more-faces', textContent: `and ${faces.length - CROPS} more` }),
    );

  const chosenFaces = () => [...tiles.querySelectorAll('.pick-face:checked')].map((c) => Number(c.value));
  const split = el('button', { type: 'button', className: 'secondary', textContent: 'Split off chosen' });
  split.setAttribute('aria-label', `Split off chosen faces of ${who}`);
  split.addEventListener('click', () => act(split, () => splitOff(s, chosenFaces())));

  const moveId = `${key}-move`;
  const select = el('select', { id: moveId });
  const others = all.filter((o) => o.id !== s.id);
  for (const [label, kind] of [
    ['Named', 'person'],
    ['Unnamed', 'cluster'],
  ]) {
    const group = others.filter((o) => o.kind === kind);
    if (group.length)
      select.append(
        el(
          'optgroup',
          { label },
          ...group.map((o) => el('option', { value: String(o.id), textContent: title(o) })),
        ),
      );
  }
  const move = el('button', { type: 'button', className: 'secondary', textContent: 'Move' });
  move.setAttribute('aria-label', `Move chosen faces of ${who}`);
  move.addEventListener('click', () => act(move, () => moveChosen(s, chosenFaces(), select)));
  select.disabled = move.disabled = others.length === 0;
  const moveField = el(
    'div',
    { className: 'field' },
    el('label', { htmlFor: moveId, textContent: 'Move chosen faces to' }),
    el('div', { className: 'row' }, select, move),
  );
  const edits = el('div', { className: 'row-actions' }, split, moveField);

  li.append(head, tiles);
  if (s.kind === 'cluster') li.append(nameForm(s, key));
  li.append(edits);
  return li;
}

/** Naming a cluster: a name, and optionally an external id (a person's own, or one to join). */
function nameForm(s, key) {
  const who = title(s);
  const name = el('input', { id: `${key}-name`, required: true, maxLength: 200, autocomplete: 'off' });
  name.setAttribute('aria-label', `Name this person: ${who}`);
  const ext = el('input', { id: `${key}-ext`, maxLength: 200, autocomplete: 'off' });
  ext.setAttribute('aria-label', `External id for ${who} (optional)`);
  ext.setAttribute('aria-describedby', `${key}-ext-help`);
  const button = el('button', { type: 'submit', className: 'primary', textContent: 'Name' });
  button.setAttribute('aria-label', `Name ${who}`);
  const form = el(
    'form',
    { className: 'row-actions name-form', noValidate: true },
    el(
      'div',
      { className: 'field' },
      el('label', { htmlFor: name.id, textContent: 'Name this person' }),
      name,
    ),
    el(
      'div',
      { className: 'field' },
      el('label', { htmlFor: ext.id, textContent: 'External id (optional)' }),
      ext,
    ),
    button,
    // Below the row, so the fields and the button line up on their inputs.
    el('small', {
      id: `${key}-ext-help`,
      className: 'help-line',
      textContent: "A named person's external id adds these faces to them instead.",
    }),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(button, () => nameCluster(s, name, ext));
  });
  return form;
}

async function tile(gallery, s, f, count, urls) {
  const who = title(s);
  const choose = el('input', { type: 'checkbox', className: 'pick-face', value: String(f.id) });
  choose.setAttribute('aria-label', `Choose face ${f.id} of ${who}`);
  let picture;
  if (f.hasCrop) {
    // The crop route needs the key header, so crops come through fetch as blobs, not <img src>.
    const blob = await api(`/galleries/${enc(gallery)}/subjects/${s.id}/faces/${f.id}/crop`, { as: 'blob' });
    const url = URL.createObjectURL(blob);
    urls.push(url);
    picture = el('img', { src: url, alt: `${who}, face ${f.id}`, width: 72, height: 72 });
  } else picture = el('span', { className: 'no-crop', textContent: `face ${f.id}, no crop` });
  const li = el('li', { className: 'face-tile' }, el('label', {}, choose, picture));
  li.dataset.face = String(f.id);
  // Out of a cluster's only face nothing would be left: that face has no such button.
  if (s.kind === 'person' || count > 1) {
    const not = el('button', { type: 'button', className: 'not-this', textContent: 'Not this person' });
    not.setAttribute('aria-label', `Not this person: face ${f.id} is not ${who}`);
    not.addEventListener('click', () => act(not, () => splitOff(s, [f.id], true)));
    li.append(not);
  }
  return li;
}
