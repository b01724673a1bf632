/**
 * `arcface gallery list | show | remove | export | import | reindex | not | corrections`: galleries
 * in a store, no model needed (but reindex, and `not` with a photo, which detects its faces).
 */
import { parseArgs } from 'node:util';
import { ArcfaceError } from '../../errors.js';
import { openStore, parseId, type GalleryStore, type PhotoBox, type Subject } from '../../gallery/index.js';
import { exportGallery, importGallery } from '../../service/portable.js';
import { RecognitionService } from '../../service/service.js';
import { checkGalleryName } from '../../service/names.js';
import { UsageError, type Command } from '../command.js';
import { modelNotice } from '../notices.js';
import { recognitionOptions, recognizerFromArgs } from '../recognition_options.js';
import { searchOptions, searchUsage, storeOptionsFromArgs } from '../store_options.js';

/** A subject by external id (what `arcface enroll` names it), else by numeric id. */
export async function findSubjectArg(store: GalleryStore, gallery: string, arg: string): Promise<Subject> {
  const byExternal = await store.findSubject(gallery, arg);
  if (byExternal) return byExternal;
  const id = parseId(arg);
  const byId = id === null ? null : await store.getSubject(gallery, id);
  if (byId) return byId;
  throw new ArcfaceError('NOT_FOUND', `gallery '${gallery}' has no subject '${arg}'`);
}

async function galleryOrThrow(store: GalleryStore, name: string) {
  checkGalleryName(name);
  const g = await store.getGallery(name);
  if (!g) throw new ArcfaceError('NOT_FOUND', `no gallery '${name}' in ${store.location}`);
  return g;
}

/** `--box X1,Y1,X2,Y2` in pixels, as identify --json prints a face's box. */
function parseBox(text: string): PhotoBox {
  const v = text.split(',').map(Number);
  if (v.length !== 4 || !v.every(Number.isFinite) || !(v[2]! > v[0]! && v[3]! > v[1]!))
    throw new UsageError(`--box ${text}: give X1,Y1,X2,Y2 in pixels with X2 > X1 and Y2 > Y1`);
  return { x1: v[0]!, y1: v[1]!, x2: v[2]!, y2: v[3]! };
}

export const galleryCommand: Command = {
  name: 'gallery',
  summary: 'list, show, remove, export, import or reindex enrolled galleries; "not this person"',
  usage: `arcface gallery list [--json]
       arcface gallery show GALLERY [--json]
       arcface gallery remove GALLERY [SUBJECT]   delete a gallery, or one subject (its external id or id)
       arcface gallery export GALLERY FILE        write a portable JSON-lines file (embeddings and crops)
       arcface gallery import FILE [--as NAME]    read one into a new gallery (any store)
       arcface gallery reindex GALLERY -m MODEL   re-embed the stored crops with another model
       arcface gallery not GALLERY SUBJECT PHOTO [--box X1,Y1,X2,Y2] [-m MODEL]
                                                  the photo's face (its largest, or the one at the box)
                                                  is not SUBJECT: identify never answers it for that face
       arcface gallery not GALLERY SUBJECT --face ID   the same for a stored face (by its id)
       arcface gallery corrections GALLERY [--remove ID] [--json]   list the corrections, or remove one

${searchUsage}
  --json               machine-readable output on stdout

Deleting removes embeddings and face crops for good (biometric data: no soft delete).
Exit status: 0 done, 2 bad input or nothing of that name.`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...searchOptions,
        ...recognitionOptions,
        as: { type: 'string' },
        box: { type: 'string' },
        face: { type: 'string' },
        remove: { type: 'string' },
      },
      strict: true,
    });
    const [action, ...args] = positionals;
    const need = (n: number, what: string) => {
      if (args.length !== n) throw new UsageError(`gallery ${action}: give ${what}`);
    };
    const out = (s: string) => process.stdout.write(s + '\n');
    const store = await openStore(values.store, storeOptionsFromArgs(values));
    try {
      switch (action) {
        case 'list': {
          need(0, 'no arguments');
          const list = await store.listGalleries();
          if (values.json) out(JSON.stringify({ store: store.location, galleries: list }));
          else if (!list.length) out(`no galleries in ${store.location}`);
          else
            for (const g of list)
              out(`${g.name}\t${g.subjects} subject(s)\t${g.faces} face(s)\tmodel ${g.model} (${g.dim}-d)`);
          return 0;
        }
        case 'show': {
          need(1, 'GALLERY');
          const g = await galleryOrThrow(store, args[0]!);
          const subjects = await store.listSubjects(g.name);
          if (values.json) out(JSON.stringify({ gallery: g, subjects }));
          else {
            out(
              `${g.name}: model ${g.model} (${g.dim}-d), created ${g.createdAt}, ${g.subjects} subject(s), ${g.faces} face(s)`,
            );
            for (const s of subjects) out(`  ${s.id}\t${s.externalId}\t${s.name}\t${s.faces} face(s)`);
          }
          return 0;
        }
        case 'remove': {
          if (args.length !== 1 && args.length !== 2)
            throw new UsageError('gallery remove: give GALLERY [SUBJECT]');
          const g = await galleryOrThrow(store, args[0]!);
          if (args.length === 1) {
            await store.deleteGallery(g.name);
            out(
              `removed gallery ${g.name}: ${g.subjects} subject(s) and ${g.faces} face(s) deleted for good`,
            );
          } else {
            const s = await findSubjectArg(store, g.name, args[1]!);
            await store.deleteSubject(g.name, s.id);
            out(
              `removed subject ${s.externalId} (${s.name}) of ${g.name}: ${s.faces} face(s) deleted for good`,
            );
          }
          const purge = store.purgeStatus?.();
          if (purge && !purge.purged) process.stderr.write(`arcface: warning: ${purge.reason}\n`);
          return 0;
        }
        case 'export': {
          need(2, 'GALLERY FILE');
          await galleryOrThrow(store, args[0]!);
          const r = await exportGallery(store, args[0]!, args[1]!);
          out(`exported ${args[0]}: ${r.subjects} subject(s), ${r.faces} face(s) to ${args[1]}`);
          return 0;
        }
        case 'import': {
          need(1, 'FILE');
          const r = await importGallery(store, args[0]!, { as: values.as });
          out(
            `imported ${r.gallery.name} into ${store.location}: ${r.subjects} subject(s), ${r.faces} face(s), model ${r.gallery.model}`,
          );
          return 0;
        }
        case 'reindex': {
          need(1, 'GALLERY');
          if (!values.model) throw new UsageError('gallery reindex: give the new model with -m MODEL');
          await galleryOrThrow(store, args[0]!);
          const rec = await recognizerFromArgs(values);
          try {
            process.stderr.write(`${modelNotice(rec.manifest)}\n`);
            const r = await new RecognitionService(store, rec).reindex(args[0]!, rec);
            out(`reindexed ${args[0]}: ${r.faces} face(s) re-embedded with ${r.model}`);
          } finally {
            await rec.dispose();
          }
          return 0;
        }
        case 'not': {
          if (args.length !== (values.face === undefined ? 3 : 2))
            throw new UsageError('gallery not: give GALLERY SUBJECT PHOTO, or GALLERY SUBJECT --face ID');
          const g = await galleryOrThrow(store, args[0]!);
          const s = await findSubjectArg(store, g.name, args[1]!);
          let made;
          if (values.face !== undefined) {
            const faceId = parseId(values.face);
            if (faceId === null) throw new UsageError(`gallery not: --face ${values.face} is not a face id`);
            made = await store.addCorrection(g.name, { subjectId: s.id, faceId });
          } else {
            const box = values.box === undefined ? undefined : parseBox(values.box);
            // The photo's faces are detected with the gallery's model's pipeline (or -m).
            const rec = await recognizerFromArgs({ ...values, model: values.model ?? g.model });
            try {
              made = await new RecognitionService(store, rec).notSubject(g.name, s.id, {
                image: args[2]!,
                box,
              });
            } finally {
              await rec.dispose();
            }
          }
          if (values.json) out(JSON.stringify({ correction: made }));
          else
            out(
              `correction ${made.id}: ${made.faceId ? `face ${made.faceId}` : 'that face'} of photo ` +
                `${made.imageSha256?.slice(0, 12) ?? '-'} is not ${s.externalId} (${s.name})`,
            );
          return 0;
        }
        case 'corrections': {
          need(1, 'GALLERY');
          const g = await galleryOrThrow(store, args[0]!);
          if (values.remove !== undefined) {
            const id = parseId(values.remove);
            if (id === null || !(await store.deleteCorrection(g.name, id)))
              throw new ArcfaceError('NOT_FOUND', `gallery '${g.name}' has no correction '${values.remove}'`);
            out(`removed correction ${id} of ${g.name}`);
            return 0;
          }
          const list = await store.listCorrections(g.name);
          if (values.json) out(JSON.stringify({ gallery: g.name, corrections: list }));
          else if (!list.length) out(`no corrections in ${g.name}`);
          else
            for (const c of list)
              out(
                `${c.id}	not subject ${c.subjectId}	face ${c.faceId ?? '-'}	photo ${c.imageSha256 ?? '-'}` +
                  `	box ${c.box ? [c.box.x1, c.box.y1, c.box.x2, c.box.y2].map((v) => Math.round(v)).join(',') : '-'}`,
              );
          return 0;
        }
        default:
          throw new UsageError(
            action === undefined
              ? 'give an action'
              : `unknown action "${action}" (list, show, remove, export, import, reindex, not, corrections)`,
          );
      }
    } finally {
      await store.close();
    }
  },
};
