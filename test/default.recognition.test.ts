/**
 * What a user gets with no flags (`npm start`, every command, FaceRecognizer.create()): the default
 * recogniser and detector, on the labelled pairs other projects' test suites assert (deepface,
 * face_recognition, openface), and open-set identification keeping a stranger "unknown" through
 * the CLI and the HTTP API. The photos come from ../shared; skipped with a message when absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL, FaceRecognizer } from '../src/pipeline/recognizer.js';
import { buildServer } from '../src/server/index.js';
import { KeyStore, RecognitionService } from '../src/service/index.js';

const SHARED = join(import.meta.dirname, '../../shared/data/faces');
const DF = join(SHARED, 'deepface/tests/unit/dataset');
const FR = join(SHARED, 'face_recognition/examples');
const OF = join(SHARED, 'openface/images/examples');
const photo = {
  img1: join(DF, 'img1.jpg'),
  img2: join(DF, 'img2.jpg'),
  img3: join(DF, 'img3.jpg'),
  obama: join(FR, 'obama.jpg'),
  obama2: join(FR, 'obama2.jpg'),
  biden: join(FR, 'biden.jpg'),
  clapton1: join(OF, 'clapton-1.jpg'),
  clapton2: join(OF, 'clapton-2.jpg'),
  lennon1: join(OF, 'lennon-1.jpg'),
};
const skip = Object.values(photo).every(existsSync)
  ? false
  : '../shared/data/faces (deepface, face_recognition, openface photos) is absent: default-model tests skipped';
const tmp = mkdtempSync(join(tmpdir(), 'arcface-default-'));
const env = { ...process.env, ARCFACE_HOME: join(tmp, 'home'), XDG_CONFIG_HOME: join(tmp, 'xdg') };

test(
  'the default recogniser: public-domain dlib weights, no download; the pairs other projects assert',
  { skip },
  async () => {
    process.env.ARCFACE_HOME = env.ARCFACE_HOME; // no calibrated threshold of the machine's user
    const rec = await FaceRecognizer.create();
    try {
      assert.equal(rec.manifest.name, DEFAULT_MODEL);
      assert.equal(rec.manifest.researchOnly, false);
      assert.match(rec.manifest.licence, /public domain/);
      assert.ok(rec.farTable, 'the default carries a FAR table');
      const pairs: [string, string, boolean][] = [
        ['img1', 'img2', true],
        ['img1', 'img3', false],
        ['obama', 'obama2', true],
        ['obama', 'biden', false],
        ['clapton1', 'clapton2', true],
        ['clapton1', 'lennon1', false],
      ];
      for (const [a, b, same] of pairs) {
        const v = await rec.verify(photo[a as keyof typeof photo], photo[b as keyof typeof photo]);
        assert.equal(
          v.same,
          same,
          `${a} vs ${b}: similarity ${v.similarity.toFixed(4)}, threshold ${v.threshold}`,
        );
        // The FAR of a same-person score is small, of a different-person one large: a score means something.
        assert.ok(v.far !== null && v.far > 0 && v.far <= 1);
        if (same) assert.ok(v.far! < 1e-3, `${a} vs ${b}: FAR ${v.far}`);
        else assert.ok(v.far! > 1e-3, `${a} vs ${b}: FAR ${v.far}`);
      }
    } finally {
      await rec.dispose();
    }
  },
);

function arcface(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const bin = join(import.meta.dirname, '../src/cli/bin.ts');
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), bin, ...args], {
      cwd: tmp,
      env,
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

test(
  'CLI with no model flag: a gallery of obama and biden names obama2 and keeps clapton unknown',
  { skip },
  async () => {
    for (const [who, file] of [
      ['obama', photo.obama],
      ['biden', photo.biden],
    ] as const) {
      const r = await arcface('enroll', 'people', who, file, '--json');
      assert.equal(r.code, 0, r.err);
    }
    const known = await arcface('identify', 'people', photo.obama2, '--json');
    assert.equal(known.code, 0, known.err);
    const k = JSON.parse(known.out.trim());
    assert.equal(k.faces[0].externalId, 'obama');
    assert.equal(k.thresholdRule, 'fpir');
    assert.ok(k.faces[0].far < 1e-3);
    const stranger = await arcface('identify', 'people', photo.clapton1, '--json');
    assert.equal(stranger.code, 1, 'an unknown face exits 1');
    const s = JSON.parse(stranger.out.trim());
    assert.equal(s.faces.length, 1);
    assert.equal(s.faces[0].subject, null);
    assert.ok(s.faces[0].score < s.threshold);
    // A stricter FPIR target raises the threshold; -t and --fpir together, or an FPIR out of (0, 1), exit 2.
    const strict = JSON.parse(
      (await arcface('identify', 'people', photo.obama2, '--json', '--fpir', '1e-4')).out.trim(),
    );
    assert.ok(strict.threshold > k.threshold);
    assert.equal((await arcface('identify', 'people', photo.obama2, '--fpir', '0.01', '-t', '0.9')).code, 2);
    assert.equal((await arcface('identify', 'people', photo.obama2, '--fpir', '2')).code, 2);
    // The human-readable answer says why: the threshold and the FAR of the best score.
    const text = await arcface('identify', 'people', photo.clapton1);
    assert.match(text.out, /unknown \(best (obama|biden) [0-9.]+, FAR /);
    assert.match(
      text.err,
      /threshold [0-9.]+: a stranger is named with probability 1% against the 2 enrolled face/,
    );
  },
);

test(
  'HTTP API on the default service: obama2 is obama, clapton-1 is unknown, verify reports a FAR',
  { skip },
  async (t) => {
    const service = await RecognitionService.open({ store: join(tmp, 'api-data') });
    const keys = new KeyStore(join(tmp, 'api-data', 'keys.json'));
    const app = await buildServer({ service, keys });
    t.after(async () => {
      await app.close();
      await service.close();
    });
    const post = async (url: string, body: object) => {
      const r = await app.inject({ method: 'POST', url, payload: body });
      return { status: r.statusCode, json: JSON.parse(r.body) };
    };
    const b64 = (f: string) => readFileSync(f).toString('base64');
    assert.equal((await post('/galleries', { name: 'staff' })).status, 201);
    for (const [who, file] of [
      ['obama', photo.obama],
      ['biden', photo.biden],
    ] as const) {
      const s = await post('/galleries/staff/subjects', { name: who, externalId: who });
      assert.equal(s.status, 201, JSON.stringify(s.json));
      const e = await post(`/galleries/staff/subjects/${s.json.id}/faces`, { images: [b64(file)] });
      assert.equal(e.status, 201, JSON.stringify(e.json));
    }
    const known = await post('/galleries/staff/identify', { image: b64(photo.obama2) });
    assert.equal(known.status, 200);
    assert.equal(known.json.faces[0].subject.externalId, 'obama');
    const stranger = await post('/galleries/staff/identify', { image: b64(photo.clapton1) });
    assert.equal(stranger.json.faces[0].subject, null);
    assert.ok(stranger.json.faces[0].far > known.json.faces[0].far);
    const models = await app.inject({ method: 'GET', url: '/models' });
    const info = JSON.parse(models.body);
    assert.equal(info.recognizer.name, DEFAULT_MODEL);
    assert.equal(info.recognizer.researchOnly, false);
    assert.equal(info.recognizer.identify.rule, 'fpir');
    const by = info.recognizer.identify.thresholdByEnrolledFaces;
    assert.ok(by['1'] < by['100'] && by['100'] < by['10000'], 'the threshold rises with the gallery');
    const v = await post('/verify', { a: b64(photo.clapton1), b: b64(photo.clapton2) });
    assert.equal(v.status, 200);
    assert.equal(v.json.same, true);
    assert.ok(v.json.far < 1e-3);
  },
);

test(
  'a gallery of the old default keeps working, and reindex moves it to the new one',
  { skip },
  async () => {
    const store = join(tmp, 'old-default');
    const old = await RecognitionService.open({ store, recognizer: { model: 'arcface-mbf-celeba' } });
    try {
      await old.enroll('team', { externalId: 'obama' }, [photo.obama], { createGallery: true });
      await old.enroll('team', { externalId: 'biden' }, [photo.biden]);
      const r = await old.identify('team', photo.obama2);
      assert.equal(
        r.faces[0]!.candidates[0]!.externalId,
        'obama',
        'the old model still searches its gallery',
      );
    } finally {
      await old.close();
    }
    const svc = await RecognitionService.open({ store });
    try {
      // Before reindexing, the default refuses to mix its embeddings with the old model's.
      await assert.rejects(
        svc.identify('team', photo.obama2),
        /holds embeddings of model 'arcface-mbf-celeba'.*reindex/s,
      );
      const moved = await svc.reindex('team', svc.recognizer);
      assert.deepEqual(moved, { faces: 2, model: DEFAULT_MODEL });
      // The stored 112x112 ArcFace crops are re-made as 150x150 dlib chips: obama2 is still obama.
      const r = await svc.identify('team', photo.obama2);
      assert.equal(r.faces[0]!.subject?.externalId, 'obama');
      const s = await svc.identify('team', photo.clapton1);
      assert.equal(s.faces[0]!.subject, null);
    } finally {
      await svc.close();
    }
  },
);
