/** `arcface keys create | list | revoke`: the API keys of `arcface serve`, hashed in keys.json. */
import { parseArgs } from 'node:util';
import { KEY_KINDS, KeyStore, keysFileFor, type KeyKind } from '../../service/keys.js';
import { UsageError, type Command } from '../command.js';
import { storeOption, storeUsage } from '../store_options.js';

export const keysOption = { keys: { type: 'string' } } as const;
export const keysUsage = `  --keys FILE          the keys file (default keys.json in the data folder)`;

export function keyStoreFromArgs(values: { store?: string; keys?: string }): KeyStore {
  return new KeyStore(values.keys ?? keysFileFor(values.store));
}

export const keysCommand: Command = {
  name: 'keys',
  summary: 'create, list or revoke API keys for arcface serve',
  usage: `arcface keys create --kind recognise|admin [--name NAME]
       arcface keys list [--json]
       arcface keys revoke ID

  --kind K             recognise: detect, embed, verify, identify, list, get; admin: also create, enroll, delete
  --name NAME          a label to tell keys apart
${storeUsage}
${keysUsage}
  --json               machine-readable output on stdout

The key is printed once, at creation: only its sha256 is stored. A running server sees changes at once.`,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...storeOption,
        ...keysOption,
        kind: { type: 'string' },
        name: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    });
    const [action, ...args] = positionals;
    const keys = keyStoreFromArgs(values);
    const out = (s: string) => process.stdout.write(s + '\n');
    switch (action) {
      case 'create': {
        if (args.length) throw new UsageError('keys create takes no positional arguments');
        const kind = values.kind as KeyKind | undefined;
        if (!kind || !KEY_KINDS.includes(kind))
          throw new UsageError('keys create: give --kind recognise or --kind admin');
        const { key, token } = keys.create(kind, values.name ?? '');
        if (values.json) out(JSON.stringify({ ...key, token, file: keys.file }));
        else {
          out(token);
          process.stderr.write(
            `created ${key.kind} key ${key.id}${key.name ? ` (${key.name})` : ''} in ${keys.file}: ` +
              `the key above is shown this once, store it now\n`,
          );
        }
        return 0;
      }
      case 'list': {
        const list = keys.list();
        if (values.json) out(JSON.stringify({ file: keys.file, keys: list }));
        else if (!list.length) out(`no keys in ${keys.file} (the server runs open, on 127.0.0.1 only)`);
        else for (const k of list) out(`${k.id}\t${k.kind}\t${k.createdAt}\t${k.name}`);
        return 0;
      }
      case 'revoke': {
        if (args.length !== 1) throw new UsageError('keys revoke: give the key ID (see arcface keys list)');
        if (!keys.revoke(args[0]!)) {
          process.stderr.write(`arcface keys: no key ${args[0]} in ${keys.file}\n`);
          return 2;
        }
        out(`revoked key ${args[0]}`);
        return 0;
      }
      default:
        throw new UsageError(
          action === undefined ? 'give an action' : `unknown action "${action}" (create, list, revoke)`,
        );
    }
  },
};
