/* global document, File, navigator, URL */ // the browser's (ESLint's config knows Node's only)
/**
 * A photo picker for a `<div class="picker" data-picker="ID" data-label="..." [data-multiple]
 * [data-help="..."]>`: a labelled file input (the keyboard path), drag and drop onto the whole box,
 * and the webcam where the browser offers getUserMedia (a secure context: localhost or https).
 * Chosen photos show as thumbnails, each with a remove button.
 */

let seq = 0;

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

export function photoPicker(root) {
  const id = `pick-${root.dataset.picker}-${++seq}`;
  const multiple = 'multiple' in root.dataset;
  let files = [];
  const listeners = [];

  const input = el('input', { type: 'file', id, accept: 'image/*', multiple });
  input.setAttribute('aria-describedby', `${id}-help`);
  const help = el(
    'small',
    { id: `${id}-help` },
    root.dataset.help ??
      (multiple ? 'Choose or drop several photos of one person.' : 'Choose or drop a photo.'),
  );
  const thumbs = el('ul', { className: 'thumbs' });
  thumbs.setAttribute('aria-label', `${root.dataset.label}: chosen`);
  const camButton = el('button', { type: 'button', className: 'secondary', textContent: 'Use camera' });
  const cam = el('div', { className: 'camera', hidden: true });
  const fieldset = el(
    'fieldset',
    { className: 'drop' },
    el('legend', { textContent: root.dataset.label }),
    el('label', { htmlFor: id, textContent: multiple ? 'Photos' : 'Photo' }),
    input,
    help,
  );
  if (navigator.mediaDevices?.getUserMedia) fieldset.append(camButton);
  fieldset.append(cam, thumbs);
  root.replaceChildren(fieldset);

  const changed = () => {
    render();
    for (const f of listeners) f(files);
  };
  const add = (list) => {
    const images = [...list].filter((f) => f.type.startsWith('image/') || f.type === '');
    files = multiple ? [...files, ...images] : images.slice(0, 1);
    changed();
  };

  function render() {
    for (const img of thumbs.querySelectorAll('img')) URL.revokeObjectURL(img.src);
    thumbs.replaceChildren(
      ...files.map((f, i) => {
        const img = el('img', { src: URL.createObjectURL(f), alt: f.name || 'camera photo' });
        const remove = el('button', { type: 'button', className: 'icon', textContent: '×' });
        remove.setAttribute('aria-label', `Remove ${f.name || 'camera photo'}`);
        remove.addEventListener('click', () => {
          files = files.filter((_, j) => j !== i);
          input.value = '';
          changed();
          input.focus();
        });
        return el('li', {}, img, remove);
      }),
    );
  }

  input.addEventListener('change', () => {
    add(input.files ?? []);
    // A multiple picker adds up choices (the thumbnails list them), so its input starts empty again;
    // a single picker keeps showing the chosen file's name.
    if (multiple) input.value = '';
  });
  fieldset.addEventListener('dragover', (e) => {
    e.preventDefault();
    fieldset.classList.add('over');
  });
  fieldset.addEventListener('dragleave', () => fieldset.classList.remove('over'));
  fieldset.addEventListener('drop', (e) => {
    e.preventDefault();
    fieldset.classList.remove('over');
    add(e.dataTransfer?.files ?? []);
  });

  // Webcam: a live preview, then one frame to a JPEG file.
  let stream = null;
  const stop = () => {
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    cam.hidden = true;
    cam.replaceChildren();
    camButton.hidden = false;
  };
  camButton.addEventListener('click', async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user' } });
    } catch (err) {
      cam.hidden = false;
      cam.replaceChildren(el('p', { className: 'error', textContent: `Camera unavailable: ${err.message}` }));
      return;
    }
    const video = el('video', { autoplay: true, muted: true, playsInline: true, srcObject: stream });
    video.setAttribute('aria-label', 'Camera preview');
    const take = el('button', { type: 'button', className: 'primary', textContent: 'Take photo' });
    const cancel = el('button', { type: 'button', className: 'secondary', textContent: 'Close camera' });
    take.addEventListener('click', () => {
      const c = el('canvas', { width: video.videoWidth, height: video.videoHeight });
      c.getContext('2d').drawImage(video, 0, 0);
      c.toBlob(
        (blob) => {
          if (blob) add([new File([blob], `camera-${Date.now()}.jpg`, { type: 'image/jpeg' })]);
          if (!multiple) stop();
        },
        'image/jpeg',
        0.92,
      );
    });
    cancel.addEventListener('click', () => {
      stop();
      camButton.focus();
    });
    cam.replaceChildren(video, el('div', { className: 'row' }, take, cancel));
    cam.hidden = false;
    camButton.hidden = true;
    take.focus();
  });

  return {
    files: () => files,
    input,
    clear() {
      files = [];
      input.value = '';
      stop();
      changed();
    },
    onChange(f) {
      listeners.push(f);
    },
  };
}
