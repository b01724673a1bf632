/** `arcface gallery list | show | remove | export | import | reindex`: galleries in a store, no model needed (but reindex). */
import { parseArgs } from 'node:util';
import { ArcfaceError } from '../../errors.js';
import { openStore, parseId, type GalleryStore, type Subject } from '../../gallery/index.js';
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

export const galleryCommand: Command = {
  name: 'gallery',
  summary: 'list, show, remove, export, import or reindex enrolled galleries',
  usage: `arcface gallery list [--json]
       arcface gallery show GALLERY [--json]
       arcface gallery remove GALLERY [SUBJECT]   delete a gallery, or one subject (its external id or id)
       arcface gallery export GALLERY FILE        write a portable JSON-lines file (embeddings and crops)
       arcface gallery import FILE [--as NAME]    read one into a new gallery (any store)
       arcface gallery reindex GALLERY -m MODEL   re-embed the stored crops with another model

${searchUsage}
  --json               machine-readable output on stdout

Deleting removes embeddings and face crops for good (biometric data: no soft delete).
Exit status: 0 done, 2 bad input or nothing of that name.`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { ...searchOptions, ...recognitionOptions, as: { type: 'string' } },
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
        default:
          throw new UsageError(
            action === undefined
              ? 'give an action'
              : `unknown action "${action}" (list, show, remove, export, import, reindex)`,
          );
      }
    } finally {
      await store.close();
    }
  },
};
