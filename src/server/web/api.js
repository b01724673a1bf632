/* global document, fetch, sessionStorage */ // the browser's (ESLint's config knows Node's only)
/**
 * Talking to the arcface HTTP API from the page: the key (sessionStorage, sent as x-api-key), JSON or
 * multipart bodies, and every failure turned into an ApiError carrying the API's
 * `{"error": {"code", "message", "failures"?}}` so the page can show it as written.
 */

const KEY = 'arcface.apiKey';

export function getKey() {
  return sessionStorage.getItem(KEY) ?? '';
}

export function setKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, code, message, failures = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.failures = failures;
  }
}

/**
 * One request. `json` sends a JSON body, `form` a FormData (multipart); `as` picks the answer's
 * form: 'json' (default), 'blob' or 'none'.
 */
export async function api(path, { method = 'GET', json, form, as = 'json' } = {}) {
  const headers = {};
  const key = getKey();
  if (key) headers['x-api-key'] = key;
  let body;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) body = form;
  let res;
  try {
    res = await fetch(path, { method, headers, body });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the server did not answer (${err.message}); is arcface serve running?`);
  }
  if (!res.ok) {
    let detail = null;
    try {
      detail = (await res.json()).error;
    } catch {
      // not the API's JSON: fall through to the status line
    }
    throw new ApiError(
      res.status,
      detail?.code ?? `HTTP_${res.status}`,
      detail?.message ?? `${res.status} ${res.statusText}`,
      detail?.failures ?? [],
    );
  }
  if (as === 'none' || res.status === 204) return null;
  return as === 'blob' ? res.blob() : res.json();
}

/** Plain-words advice for the codes a person at the page can act on. */
const HINTS = {
  UNAUTHORIZED: 'Enter an API key at the top of the page.',
  FORBIDDEN: 'This needs an admin key.',
  NO_FACE: 'Try a photo where the face is larger, frontal and well lit.',
  TOO_LARGE: 'Try a smaller image.',
  UNSUPPORTED_MEDIA: 'Use a JPEG, PNG or WebP photo.',
  NETWORK: '',
};

/** Shows an error in `box` (a role=alert element): the code, the message, each failed image, a hint. */
export function showError(box, err) {
  box.replaceChildren();
  const e = err instanceof ApiError ? err : new ApiError(0, 'ERROR', String(err?.message ?? err));
  const title = document.createElement('p');
  const code = document.createElement('strong');
  code.textContent = e.code;
  title.append(code, ` ${e.message}`);
  box.append(title);
  if (e.failures.length) {
    const ul = document.createElement('ul');
    for (const f of e.failures) {
      const li = document.createElement('li');
      li.textContent = `${f.image}: ${f.message}`;
      ul.append(li);
    }
    box.append(ul);
  }
  if (HINTS[e.code]) {
    const hint = document.createElement('p');
    hint.className = 'hint';
    hint.textContent = HINTS[e.code];
    box.append(hint);
  }
  box.hidden = false;
}

export function clearError(box) {
  box.hidden = true;
  box.replaceChildren();
}

/** A rate such as a FAR, as the CLI prints it (src/cli/format.ts): "2.1e-5", "0.42%", "<1e-7". */
export function rate(r) {
  if (r <= 0) return '0';
  if (r < 1e-7) return '<1e-7';
  if (r < 1e-3) return r.toExponential(1);
  return `${Number((r * 100).toPrecision(2))}%`;
}
