/**
 * Just enough of a zip reader to take one member out of a model archive (APPNOTE.TXT: end of
 * central directory -> central directory -> local header -> data), streamed so a 360 MB pack never
 * sits in memory. Stored and deflated entries; zip64, encryption and other methods are refused.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
import { badInput } from '../errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD = 0x06054b50;
const CDIR = 0x02014b50;
const LOCAL = 0x04034b50;
const ZIP64_LOCATOR = 0x07064b50;

export async function listZip(path: string): Promise<ZipEntry[]> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    // The EOCD record is 22 bytes plus a comment of at most 65535.
    const tailLen = Math.min(size, 22 + 65535);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let at = -1;
    for (let i = tailLen - 22; i >= 0; i--)
      if (tail.readUInt32LE(i) === EOCD) {
        at = i;
        break;
      }
    if (at < 0) throw badInput(`${path}: not a zip archive (no end-of-central-directory record)`);
    const count = tail.readUInt16LE(at + 10);
    const cdSize = tail.readUInt32LE(at + 12);
    const cdOffset = tail.readUInt32LE(at + 16);
    const zip64 = (at >= 20 && tail.readUInt32LE(at - 20) === ZIP64_LOCATOR) || count === 0xffff;
    if (zip64 || cdOffset === 0xffffffff || cdSize === 0xffffffff)
      throw badInput(`${path}: zip64 archives are not supported; extract the model by hand`);
    if (cdOffset + cdSize > size)
      throw badInput(`${path}: truncated zip archive (central directory past the end)`);
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || cd.readUInt32LE(p) !== CDIR)
        throw badInput(`${path}: corrupt zip central directory`);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      entries.push({
        flags: cd.readUInt16LE(p + 8),
        method: cd.readUInt16LE(p + 10),
        crc32: cd.readUInt32LE(p + 16),
        compressedSize: cd.readUInt32LE(p + 20),
        size: cd.readUInt32LE(p + 24),
        localOffset: cd.readUInt32LE(p + 42),
        name: cd.toString('utf8', p + 46, p + 46 + nameLen),
      });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** The entry named `member`; else the only entry with that base name (packs differ in their folders). */
export function findEntry(entries: ZipEntry[], member: string, path: string): ZipEntry {
  const exact = entries.find((e) => e.name === member);
  if (exact) return exact;
  const base = basename(member);
  const byBase = entries.filter((e) => !e.name.endsWith('/') && basename(e.name) === base);
  if (byBase.length === 1) return byBase[0];
  const names = entries.map((e) => e.name);
  throw badInput(
    `${path}: no member "${member}" in the archive (it holds: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''})`,
  );
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Counts bytes and the CRC-32 of what passes through. */
class Check extends Transform {
  crc = 0xffffffff;
  bytes = 0;
  constructor(private readonly onData?: (chunk: Buffer) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let c = this.crc;
    for (let i = 0; i < chunk.length; i++) c = CRC_TABLE[(c ^ chunk[i]) & 0xff] ^ (c >>> 8);
    this.crc = c;
    this.bytes += chunk.length;
    this.onData?.(chunk);
    cb(null, chunk);
  }
  value(): number {
    return (this.crc ^ 0xffffffff) >>> 0;
  }
}

/** Writes the member's bytes to `out`, checking its size and CRC-32; `onData` sees every chunk. */
export async function extractEntry(
  path: string,
  entry: ZipEntry,
  out: string,
  onData?: (chunk: Buffer) => void,
): Promise<void> {
  if (entry.flags & 1) throw badInput(`${path}: member "${entry.name}" is encrypted`);
  if (entry.method !== 0 && entry.method !== 8)
    throw badInput(
      `${path}: member "${entry.name}" uses compression method ${entry.method} (only stored and deflate)`,
    );
  if (entry.size === 0xffffffff || entry.compressedSize === 0xffffffff)
    throw badInput(`${path}: member "${entry.name}" needs zip64, which is not supported`);
  const fh = await open(path, 'r');
  let dataStart: number;
  try {
    const h = Buffer.alloc(30);
    await fh.read(h, 0, 30, entry.localOffset);
    if (h.readUInt32LE(0) !== LOCAL)
      throw badInput(`${path}: corrupt zip (bad local header for "${entry.name}")`);
    dataStart = entry.localOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
  } finally {
    await fh.close();
  }
  const check = new Check(onData);
  try {
    if (entry.compressedSize === 0) await writeFile(out, new Uint8Array(0));
    else {
      const input = createReadStream(path, { start: dataStart, end: dataStart + entry.compressedSize - 1 });
      if (entry.method === 8) await pipeline(input, createInflateRaw(), check, createWriteStream(out));
      else await pipeline(input, check, createWriteStream(out));
    }
  } catch (err) {
    throw badInput(`${path}: cannot extract "${entry.name}": ${(err as Error).message}`);
  }
  if (check.bytes !== entry.size)
    throw badInput(
      `${path}: "${entry.name}" extracted to ${check.bytes} bytes, the archive says ${entry.size}`,
    );
  if (check.value() !== entry.crc32)
    throw badInput(`${path}: "${entry.name}" fails its CRC-32 check (corrupt archive)`);
}
