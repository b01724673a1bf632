/**
 * `arcface serve`: the HTTP API (and the web page) on a store, until SIGINT or SIGTERM. The server
 * modules (Fastify) are imported when the command runs, so other commands do not load them.
 */
import { parseArgs } from 'node:util';
import { RecognitionService } from '../../service/service.js';
import { parseNumber, type Command } from '../command.js';
import { modelNotice } from '../notices.js';
import { recognitionOptions, recognitionUsage, recognizerFromArgs } from '../recognition_options.js';
import { searchOptions, searchUsage, storeOptionsFromArgs } from '../store_options.js';
import { keyStoreFromArgs, keysOption, keysUsage } from './keys.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the HTTP API and web page (galleries, enroll, identify, verify)',
  usage: `arcface serve [options]

${searchUsage}
${keysUsage}
  --host H             address to listen on (default 127.0.0.1; another needs an API key first)
  --port P             port (default 8080; 0 picks a free one)
  --max-upload BYTES   bytes per uploaded image (default 10 MiB)
  --max-faces N        faces detected or identified per image (default 20)
  --min-quality Q      enroll refuses faces below this combined quality, identify marks them
                       (default 0.2; 0: off; a request's minQuality overrides it)
  --timeout S          seconds a request may take, waiting for its turn included (default 60);
                       over it: 503 TIMEOUT, and its work stops
  --concurrency N      requests worked on at once, decoding included (default 2)
  --queue N            requests admitted to wait beyond those (default 16); more get 503 BUSY with
                       Retry-After before their body is read
  --cors-origin URL    let pages of this origin (e.g. https://app.example) call the API; repeatable
  --allow-host NAME    answer to this Host name too (behind a reverse proxy); repeatable
  --log                log every request (JSON lines on stdout; by default only errors, on stderr)

${recognitionUsage}

With no API key ("arcface keys create") the API is open to anyone on this machine, and only 127.0.0.1
may be bound. A server started with a key, or on another address, refuses every request if its keys
are later all revoked or keys.json becomes unreadable; it never falls back to open. Pages of other
sites are refused (unless --cors-origin), and on 127.0.0.1 so is any Host header but localhost,
127.0.0.1 and [::1] (unless --allow-host). The OpenAPI document is at /openapi.json.`,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        ...recognitionOptions,
        ...searchOptions,
        ...keysOption,
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        'max-upload': { type: 'string' },
        'max-faces': { type: 'string' },
        'min-quality': { type: 'string' },
        timeout: { type: 'string' },
        'cors-origin': { type: 'string', multiple: true },
        'allow-host': { type: 'string', multiple: true },
        concurrency: { type: 'string' },
        queue: { type: 'string' },
        log: { type: 'boolean' },
      },
      strict: true,
    });
    const { DEFAULT_HOST, DEFAULT_PORT, checkBind, startServer } = await import('../../server/listen.js');
    const { corsOrigin } = await import('../../server/origin.js');
    const { allowedHostName } = await import('../../server/hosts.js');
    const host = values.host ?? DEFAULT_HOST;
    const port =
      parseNumber(values.port, 'port', (v) => Number.isInteger(v) && v >= 0 && v < 65536) ?? DEFAULT_PORT;
    const maxUploadBytes = parseNumber(
      values['max-upload'],
      'max-upload',
      (v) => Number.isInteger(v) && v > 0,
    );
    const maxFaces = parseNumber(values['max-faces'], 'max-faces', (v) => Number.isInteger(v) && v >= 1);
    const minQuality = parseNumber(values['min-quality'], 'min-quality', (v) => v >= 0 && v <= 1);
    const timeout = parseNumber(values.timeout, 'timeout', (v) => v > 0);
    // Checked before loading any model: a typo fails in a second.
    const corsOrigins = (values['cors-origin'] ?? []).map(corsOrigin);
    const allowedHosts = (values['allow-host'] ?? []).map(allowedHostName);
    const concurrency = parseNumber(values.concurrency, 'concurrency', (v) => Number.isInteger(v) && v >= 1);
    const queue = parseNumber(values.queue, 'queue', (v) => Number.isInteger(v) && v >= 0);
    const keys = keyStoreFromArgs(values);
    checkBind(host, keys);
    const rec = await recognizerFromArgs(values);
    process.stderr.write(`${modelNotice(rec.manifest, rec.detectorSpec)}\n`);
    const service = await RecognitionService.open({
      store: values.store,
      storeOptions: storeOptionsFromArgs(values),
      recognizer: rec,
      maxFaces,
      minQuality,
    });
    let app;
    try {
      ({ app } = await startServer({
        service,
        keys,
        host,
        port,
        maxUploadBytes,
        requestTimeoutMs: timeout === undefined ? undefined : timeout * 1000,
        corsOrigins,
        allowedHosts,
        // Errors (5xx, key file problems) always reach stderr; never a request body or header.
        concurrency,
        queue,
        logger: values.log ? true : { level: 'warn', stream: process.stderr },
      }).then((r) => {
        process.stdout.write(
          `arcface serving ${service.store.location} on ${r.url} ` +
            `(${keys.size ? `${keys.size} API key(s) in ${keys.file}` : 'no API key: open, loopback only'})\n`,
        );
        return r;
      }));
    } catch (err) {
      await service.close();
      throw err;
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    process.stderr.write('arcface serve: stopping\n');
    await app.close();
    await service.close();
    return 0;
  },
};
