/** `arcface <command>`: dispatch, help, and the mapping of errors to exit codes. */
import { ArcfaceError } from '../errors.js';
import { VERSION } from '../version.js';
import { UsageError, type Command } from './command.js';
import { alignCommand } from './commands/align.js';
import { calibrateCommand } from './commands/calibrate.js';
import { clusterCommand } from './commands/cluster.js';
import { compareDirCommand } from './commands/compare_dir.js';
import { curvesCommand } from './commands/curves.js';
import { detectCommand } from './commands/detect.js';
import { embedCommand } from './commands/embed.js';
import { enrollCommand } from './commands/enroll.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { galleryCommand } from './commands/gallery.js';
import { identifyCommand } from './commands/identify.js';
import { keysCommand } from './commands/keys.js';
import { modelsCommand } from './commands/models.js';
import { prepareCommand } from './commands/prepare.js';
import { serveCommand } from './commands/serve.js';
import { toyCommand } from './commands/toy.js';
import { trainCommand } from './commands/train.js';
import { verifyCommand } from './commands/verify.js';

const commands: Command[] = [
  verifyCommand,
  embedCommand,
  detectCommand,
  alignCommand,
  compareDirCommand,
  evalCommand,
  calibrateCommand,
  enrollCommand,
  identifyCommand,
  clusterCommand,
  galleryCommand,
  keysCommand,
  serveCommand,
  modelsCommand,
  prepareCommand,
  trainCommand,
  exportCommand,
  toyCommand,
  curvesCommand,
];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `arcface ${VERSION}: ArcFace face recognition for Node.js

Usage: arcface <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Options:
  -h, --help     show help (also: arcface <command> --help)
  -v, --version  print the version

Environment:
  ARCFACE_BACKEND       auto (default: tfjs-node if installed, else wasm) | wasm | cpu | tensorflow
  ARCFACE_HOME          where pulled models (models/) and calibrated thresholds (config.json) live
                        (default: $XDG_CACHE_HOME/arcface and $XDG_CONFIG_HOME/arcface, else ~/.cache, ~/.config)
  ARCFACE_MODEL_MIRROR  base URL that "arcface models pull" downloads from instead of the publishers'
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`arcface: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(`${cmd.usage}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`arcface ${name}: ${(err as Error).message}\n\nUsage: ${cmd.usage}\n`);
      return 2;
    }
    if (err instanceof ArcfaceError) {
      process.stderr.write(`arcface ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
