/**
 * InsightFace's packed validation sets (lfw.bin, cfp_fp.bin, agedb_30.bin, ...): a Python pickle
 * of `(bins, issame_list)`, written by InsightFace's src/data/lfw2pack.py as
 * `pickle.dump((bins, issame_list), f, protocol=pickle.HIGHEST_PROTOCOL)` and read by
 * arcface_torch/eval/verification.py load_bin with `pickle.load(f, encoding='bytes')`.
 * `bins` holds the encoded image files (JPEG/PNG bytes); pair i is images 2i and 2i+1.
 *
 * The public files were written by Python 2 (protocol 2, images as `str`: SHORT_BINSTRING /
 * BINSTRING); repacks from Python 3 use BINBYTES (protocol 3+), `_codecs.encode(text, 'latin1')`
 * (bytes pickled at protocol 2) or numpy uint8 arrays. This reader interprets only the opcodes
 * those need and a whitelist of four constructors; it never imports or calls anything, so a
 * hostile file can only make it throw. Images are views into the file buffer (no copies).
 */
import { readFile } from 'node:fs/promises';
import { ArcfaceError, badInput } from '../errors.js';

export interface BinSet {
  images: Uint8Array[];
  issame: boolean[];
}

const MARK = Symbol('mark');

/** What a whitelisted global stands for; only these can be called by REDUCE. */
type Global = {
  global:
    | 'codecs.encode'
    | 'numpy.reconstruct'
    | 'numpy.frombuffer'
    | 'numpy.ndarray'
    | 'numpy.dtype'
    | 'numpy.scalar';
};
interface NpDtype {
  dtype: string;
}
interface NpArray {
  ndarray: true;
  shape: number[];
  dtype?: NpDtype;
  data?: Uint8Array;
}
type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Value[]
  | { tuple: Value[] }
  | Global
  | NpDtype
  | NpArray
  | typeof MARK;

const GLOBALS: Record<string, Global['global']> = {
  '_codecs encode': 'codecs.encode',
  'numpy.core.multiarray _reconstruct': 'numpy.reconstruct',
  'numpy._core.multiarray _reconstruct': 'numpy.reconstruct',
  'numpy.core.numeric _frombuffer': 'numpy.frombuffer',
  'numpy._core.numeric _frombuffer': 'numpy.frombuffer',
  'numpy ndarray': 'numpy.ndarray',
  'numpy dtype': 'numpy.dtype',
  'numpy.core.multiarray scalar': 'numpy.scalar',
  'numpy._core.multiarray scalar': 'numpy.scalar',
};

const isTuple = (v: Value): v is { tuple: Value[] } => typeof v === 'object' && v !== null && 'tuple' in v;
const isGlobal = (v: Value): v is Global => typeof v === 'object' && v !== null && 'global' in v;
const isArray = (v: Value): v is NpArray => typeof v === 'object' && v !== null && 'ndarray' in v;
const isDtype = (v: Value): v is NpDtype =>
  typeof v === 'object' && v !== null && 'dtype' in v && !('ndarray' in v);

/** Decode a pickle; `name` is used in error messages. Exported for tests. */
export function unpickle(buf: Uint8Array, name: string): Value {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8');
  let pos = 0;
  let op = 0;
  let opAt = 0;
  const fail = (why: string) =>
    badInput(`${name}: ${why} (pickle opcode 0x${op.toString(16)} at byte ${opAt})`);
  const need = (n: number) => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > buf.length)
      throw badInput(
        `${name}: truncated or corrupt file: ${n} bytes needed at byte ${pos}, file has ${buf.length}`,
      );
  };
  const bytes = (n: number) => {
    need(n);
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const u8 = () => bytes(1)[0];
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('length too large');
    return Number(v);
  };
  const line = () => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw badInput(`${name}: truncated or corrupt file: unterminated text field at byte ${pos}`);
    const s = latin1.decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack.pop()!;
  };
  const top = () => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) throw fail('no MARK on the stack');
    const items = stack.splice(at);
    items.shift();
    return items;
  };
  const list = (v: Value) => {
    if (!Array.isArray(v)) throw fail('APPEND to something that is not a list');
    return v;
  };

  for (;;) {
    opAt = pos;
    if (pos >= buf.length)
      throw badInput(`${name}: truncated or corrupt file: no STOP opcode before byte ${pos}`);
    op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw fail('pickle protocol newer than 5');
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw fail(`${stack.length} values on the stack at STOP`);
        return stack[0];
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: {
        // INT (text); protocol 0/1 write bools as I01 / I00
        const s = line();
        if (s === '01' || s === '00') stack.push(s === '01');
        else if (/^-?\d+$/.test(s)) stack.push(Number(s));
        else throw fail(`bad INT '${s}'`);
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(view.getUint16(pos, true));
        pos += 2;
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement
        const b = bytes(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
        stack.push(
          v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v,
        );
        break;
      }
      case 0x55: // SHORT_BINSTRING (Python 2 str -> bytes under encoding='bytes')
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()));
        break;
      case 0x54: // BINSTRING
      case 0x42: // BINBYTES
        stack.push(bytes(u32()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytes(u64()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(bytes(u8())));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(bytes(u32())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(bytes(u64())));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        list(top()).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = list(top());
        for (const v of items) l.push(v);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push({ tuple: [] });
        break;
      case 0x74: // TUPLE
        stack.push({ tuple: popMark() });
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        if (stack.length < n) throw fail('stack underflow');
        stack.push({ tuple: stack.splice(stack.length - n) });
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number(line()), top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET (text)
        const k = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(k)) throw fail(`memo entry ${k} was never stored`);
        stack.push(memo.get(k)!);
        break;
      }
      case 0x63: // GLOBAL "module\nname\n"
      case 0x93: {
        // STACK_GLOBAL
        let key: string;
        if (op === 0x63) key = `${line()} ${line()}`;
        else {
          const qual = pop();
          const mod = pop();
          if (typeof mod !== 'string' || typeof qual !== 'string')
            throw fail('STACK_GLOBAL needs two strings');
          key = `${mod} ${qual}`;
        }
        const g = GLOBALS[key];
        if (!g)
          throw fail(
            `refusing to load '${key.replace(' ', '.')}': not an InsightFace .bin file ` +
              `(only bytes, lists, bools and numpy uint8/bool arrays are read)`,
          );
        stack.push({ global: g });
        break;
      }
      case 0x52: {
        // REDUCE: call a whitelisted constructor
        const args = pop();
        const fn = pop();
        if (!isGlobal(fn) || !isTuple(args)) throw fail('REDUCE of something other than a known constructor');
        stack.push(construct(fn.global, args.tuple, fail));
        break;
      }
      case 0x62: {
        // BUILD: numpy's __setstate__
        const state = pop();
        const obj = top();
        if (!isTuple(state)) throw fail('BUILD state is not a tuple');
        if (isDtype(obj)) break; // (3, '|', None, None, None, -1, -1, 0): byte order etc., all moot for 1-byte types
        if (!isArray(obj)) throw fail('BUILD on something other than a numpy array');
        const [, shape, dtype, , data] = state.tuple;
        if (!isTuple(shape) || !shape.tuple.every((d) => typeof d === 'number'))
          throw fail('bad array shape');
        if (!isDtype(dtype)) throw fail('array without dtype');
        if (!(data instanceof Uint8Array)) throw fail('array data is not a byte buffer');
        obj.shape = shape.tuple as number[];
        obj.dtype = dtype;
        obj.data = data;
        const count = obj.shape.reduce((a, b) => a * b, 1);
        if (data.length !== count) throw fail(`array of shape (${obj.shape}) with ${data.length} bytes`);
        break;
      }
      default:
        throw fail(
          op === 0x53 || op === 0x56
            ? 'text-mode (protocol 0) strings are not supported; repack with protocol 2 or newer'
            : 'unsupported pickle opcode',
        );
    }
  }
}

function construct(g: Global['global'], args: Value[], fail: (why: string) => ArcfaceError): Value {
  switch (g) {
    case 'codecs.encode': {
      // Python 3 bytes at protocol 2: _codecs.encode('\xff...', 'latin1')
      const [text, enc] = args;
      if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1'))
        throw fail('_codecs.encode with unexpected arguments');
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c > 255) throw fail('_codecs.encode of a non-latin1 string');
        out[i] = c;
      }
      return out;
    }
    case 'numpy.dtype': {
      const [kind] = args;
      if (kind !== 'u1' && kind !== 'b1' && kind !== 'i1')
        throw fail(`numpy dtype '${String(kind)}' (only uint8 and bool arrays are read)`);
      return { dtype: kind };
    }
    case 'numpy.reconstruct': {
      const [cls] = args;
      if (!isGlobal(cls) || cls.global !== 'numpy.ndarray')
        throw fail('_reconstruct of something other than ndarray');
      return { ndarray: true, shape: [] };
    }
    case 'numpy.frombuffer': {
      // protocol 5 arrays: _frombuffer(buffer, dtype, shape, order)
      const [data, dtype, shape] = args;
      if (!(data instanceof Uint8Array) || !isDtype(dtype) || !isTuple(shape))
        throw fail('unsupported _frombuffer call');
      const dims = shape.tuple as number[];
      if (!dims.every((d) => typeof d === 'number') || dims.reduce((a, b) => a * b, 1) !== data.length)
        throw fail(`array of shape (${dims}) with ${data.length} bytes`);
      return { ndarray: true, shape: dims, dtype, data };
    }
    case 'numpy.scalar': {
      // numpy.bool_ / uint8 scalars: scalar(dtype, raw bytes)
      const [dtype, raw] = args;
      if (!isDtype(dtype) || !(raw instanceof Uint8Array) || raw.length !== 1)
        throw fail('unsupported numpy scalar');
      return dtype.dtype === 'b1' ? raw[0] !== 0 : raw[0];
    }
    default:
      throw fail(`cannot call ${g}`);
  }
}

/** Bytes of an image entry: bytes/str, or a 1-D numpy uint8 array of the encoded file. */
function imageBytes(v: Value, i: number, name: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (isArray(v) && v.data && v.dtype?.dtype !== 'b1' && v.shape.length === 1) return v.data;
  throw badInput(`${name}: bins[${i}] is not an encoded image (bytes or a 1-D uint8 array)`);
}

function bools(v: Value, name: string): boolean[] {
  if (isArray(v) && v.data) return Array.from(v.data, (b) => b !== 0);
  if (!Array.isArray(v)) throw badInput(`${name}: issame_list is not a list`);
  return v.map((x, i) => {
    if (typeof x === 'boolean') return x;
    if (x === 0 || x === 1) return x === 1;
    throw badInput(`${name}: issame_list[${i}] is ${typeof x}, not a bool`);
  });
}

export async function readBin(file: string): Promise<BinSet> {
  let buf: Uint8Array;
  try {
    buf = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ArcfaceError('NOT_FOUND', `${file}: no such file`);
    throw badInput(`${file}: cannot read (${(err as Error).message})`);
  }
  if (buf.length < 2 || buf[0] !== 0x80)
    throw badInput(
      `${file}: not a pickle of protocol 2 or newer (InsightFace .bin files start with byte 0x80)`,
    );
  const root = unpickle(buf, file);
  const parts = isTuple(root) ? root.tuple : Array.isArray(root) ? root : null;
  if (!parts || parts.length !== 2)
    throw badInput(`${file}: expected a pickled pair (bins, issame_list), got something else`);
  const [bins, same] = parts;
  if (!Array.isArray(bins)) throw badInput(`${file}: bins is not a list`);
  const issame = bools(same, file);
  if (bins.length !== 2 * issame.length)
    throw badInput(`${file}: ${bins.length} images for ${issame.length} pairs (need exactly 2 per pair)`);
  const images = bins.map((b, i) => imageBytes(b, i, file));
  images.forEach((img, i) => {
    if (img.length === 0) throw badInput(`${file}: bins[${i}] is empty`);
  });
  return { images, issame };
}
