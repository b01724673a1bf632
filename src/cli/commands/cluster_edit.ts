/**
 * `arcface cluster list | name | merge | split | move --gallery G`: a person's edits of the clusters
 * kept in a gallery (src/gallery/clusters.ts, the same code as the API's cluster routes): each edit
 * is recorded as face links, so later clustering keeps it. No model is loaded.
 */
import { parseArgs } from 'node:util';
import { ArcfaceError } from '../../errors.js';
import {
  mergeClusters,
  moveFace,
  nameCluster,
  openStore,
  parseId,
  splitCluster,
  type GalleryStore,
} from '../../gallery/index.js';
import { checkGalleryName } from '../../service/names.js';
import { UsageError } from '../command.js';
import { searchOptions, storeOptionsFromArgs } from '../store_options.js';

export const CLUSTER_ACTIONS = ['list', 'name', 'merge', 'split', 'move'] as const;

export const clusterEditUsage = `       arcface cluster list --gallery G [--singletons]    clusters (2+ faces) with their face counts;
                                                          --singletons lists one-face clusters too
       arcface cluster name CLUSTER NAME --gallery G [--external-id X]
                                                          name a cluster: it becomes a person; with
                                                          the external id of a person, it joins them
       arcface cluster merge INTO FROM... --gallery G     merge clusters into a subject (cluster or person)
       arcface cluster split SUBJECT FACE... --gallery G  split faces off into a new cluster
       arcface cluster move FACE SUBJECT --gallery G      move one face to another subject`;

/** A subject or face id from the command line. */
function idArg(text: string, what: string): number {
  const id = parseId(text);
  if (id === null) throw new UsageError(`bad ${what} id "${text}": a whole number from 1, in decimal digits`);
  return id;
}

export async function clusterEdit(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...searchOptions,
      gallery: { type: 'string', short: 'g' },
      'external-id': { type: 'string' },
      singletons: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const [action, ...args] = positionals;
  const gallery = values.gallery;
  if (gallery === undefined) throw new UsageError(`cluster ${action}: give the gallery (--gallery G)`);
  checkGalleryName(gallery);
  const arity = (ok: boolean, what: string) => {
    if (!ok) throw new UsageError(`cluster ${action}: give ${what}`);
  };
  if (action === 'name') arity(args.length === 2, 'CLUSTER NAME');
  if (action === 'merge') arity(args.length >= 2, 'INTO and at least one cluster to merge (FROM...)');
  if (action === 'split') arity(args.length >= 2, 'SUBJECT and at least one of its faces');
  if (action === 'move') arity(args.length === 2, 'FACE SUBJECT');
  if (action === 'list') arity(args.length === 0, 'no other arguments');
  if (values['external-id'] !== undefined && action !== 'name')
    throw new UsageError('--external-id goes with cluster name');
  const out = (json: unknown, line: string) =>
    process.stdout.write(`${values.json ? JSON.stringify(json) : line}\n`);
  const store = await openStore(values.store, storeOptionsFromArgs(values));
  try {
    if (!(await store.getGallery(gallery)))
      throw new ArcfaceError('NOT_FOUND', `no gallery '${gallery}' in ${store.location}`);
    switch (action) {
      case 'list':
        return await list(store, gallery, values.singletons ?? false, !!values.json);
      case 'name': {
        const id = idArg(args[0]!, 'cluster');
        const s = await nameCluster(store, gallery, id, {
          name: args[1]!,
          externalId: values['external-id'],
        });
        out(
          s,
          s.id === id
            ? `cluster ${id} is now person ${s.name} (external id ${s.externalId}, ${s.faces} face(s))`
            : `cluster ${id} joined person ${s.name} (subject ${s.id}, ${s.faces} face(s)); cluster ${id} is gone`,
        );
        return 0;
      }
      case 'merge': {
        const into = idArg(args[0]!, 'subject');
        const from = args.slice(1).map((a) => idArg(a, 'cluster'));
        const r = await mergeClusters(store, gallery, into, from);
        out(
          r,
          `merged ${from.length} cluster(s) into subject ${into}: ${r.moved} face(s) moved, ${r.subject.faces} in all`,
        );
        return 0;
      }
      case 'split': {
        const subject = idArg(args[0]!, 'subject');
        const faces = args.slice(1).map((a) => idArg(a, 'face'));
        const made = await splitCluster(store, gallery, subject, faces);
        out(made, `split ${made.faces} face(s) off subject ${subject} into new cluster ${made.id}`);
        return 0;
      }
      case 'move': {
        const face = idArg(args[0]!, 'face');
        const to = idArg(args[1]!, 'subject');
        const r = await moveFace(store, gallery, face, to);
        const gone = r.removedClusters.length
          ? `; cluster ${r.removedClusters.join(', ')} emptied and removed`
          : '';
        out(r, `moved face ${face} to subject ${to} (${r.subject.faces} face(s))${gone}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown cluster action "${action}"`);
    }
  } finally {
    await store.close();
  }
}

/** Clusters of two or more faces (all with `singletons`), and how many one-face clusters there are. */
async function list(
  store: GalleryStore,
  gallery: string,
  singletons: boolean,
  json: boolean,
): Promise<number> {
  const all = await store.listSubjects(gallery, { kind: 'cluster' });
  const alone = all.filter((s) => s.faces < 2).length;
  const clusters = singletons ? all : all.filter((s) => s.faces >= 2);
  if (json) {
    process.stdout.write(`${JSON.stringify({ gallery, clusters, singletons: alone })}\n`);
    return 0;
  }
  for (const c of clusters) process.stdout.write(`${c.id}\t${c.faces} face(s)\t${c.name}\n`);
  process.stdout.write(
    `${all.length - alone} cluster(s) of 2+ faces, ${alone} singleton(s) (one-face clusters${singletons ? '' : '; --singletons lists them'}) in gallery ${gallery}\n`,
  );
  return 0;
}
