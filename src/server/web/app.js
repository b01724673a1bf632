/* global document, history, location */ // the browser's (ESLint's config knows Node's only)
/** The page's entry: tabs, the API key and gallery fields, and the model's notice in the footer. */
import { api, getKey, setKey } from './api.js';
import { refreshGrid, setupEnroll } from './enroll.js';
import { setupIdentify } from './identify.js';
import { refreshPeople, setupPeople } from './people.js';
import { setupPrivate } from './private.js';
import { setupVerify } from './verify.js';

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab, focus = false) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute('aria-controls')).hidden = !on;
    }
    if (focus) tab.focus();
    if (tab.id === 'tab-enroll') refreshGrid();
    if (tab.id === 'tab-people') refreshPeople();
    history.replaceState(null, '', `#${tab.id.slice(4)}`);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => select(tab));
    // The ARIA tabs pattern: arrows, Home and End move between tabs; Tab goes into the panel.
    tab.addEventListener('keydown', (e) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      select(tabs[(to + tabs.length) % tabs.length], true);
    });
  });
  const start = tabs.find((t) => `#${t.id.slice(4)}` === location.hash) ?? tabs[0];
  select(start);
}

function setupSettings() {
  const key = document.getElementById('api-key');
  key.value = getKey();
  key.addEventListener('change', () => {
    setKey(key.value.trim());
    showModel();
    if (!document.getElementById('panel-enroll').hidden) refreshGrid();
    if (!document.getElementById('panel-people').hidden) refreshPeople();
  });
  document.getElementById('settings').addEventListener('submit', (e) => e.preventDefault());
}

/** The recogniser's licence and research-only notice, from GET /models. */
async function showModel() {
  const footer = document.getElementById('model-info');
  const p = (text, cls) =>
    Object.assign(document.createElement('p'), { textContent: text, className: cls ?? '' });
  try {
    const { recognizer: m, detector } = await api('/models');
    const parts = [p(`Model: ${m.name} (${m.dim}-d embeddings); detector: ${detector.spec}.`)];
    if (m.researchOnly)
      parts.push(p('Research use only: this model may not be used commercially.', 'notice'));
    parts.push(p(`Licence: ${m.licence}.`));
    if (m.trainingData) parts.push(p(`Training data: ${m.trainingData}.`));
    if (m.base)
      parts.push(p(`Fine-tuned from ${m.base.name}: ${m.base.licence}; trained on ${m.base.trainingData}.`));
    parts.push(
      p('Enrolled faces are biometric data: deleting a person erases their faces and crops for good.'),
    );
    footer.replaceChildren(...parts);
  } catch (err) {
    footer.replaceChildren(
      p(
        err.code === 'UNAUTHORIZED'
          ? 'Enter an API key to see the model, its licence and its terms of use.'
          : `Model information unavailable: ${err.message}`,
      ),
    );
  }
}

setupTabs();
setupSettings();
setupPrivate();
setupVerify();
setupEnroll();
setupIdentify();
setupPeople();
showModel();
