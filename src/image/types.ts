/**
 * The one in-memory image every stage passes around: 8-bit RGB, interleaved, row-major,
 * EXIF orientation already applied. Detectors that want BGR or planar layouts convert from this.
 */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, R G B per pixel. */
  data: Uint8Array;
}

export function rgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new RangeError(`bad image size ${width}x${height}`);
  const n = width * height * 3;
  if (data && data.length !== n)
    throw new RangeError(`image data has ${data.length} bytes, ${width}x${height} RGB needs ${n}`);
  return { width, height, data: data ?? new Uint8Array(n) };
}
