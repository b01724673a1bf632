/**
 * The size caps every decoder applies (sharp in Node, the browser's), checked on the image's size
 * before its pixels are worked on: a guard against decompression bombs, with one wording.
 */

/** 50 megapixels: a 36 MP camera photo passes, a 20000x20000 bomb does not. */
export const DEFAULT_MAX_PIXELS = 50_000_000;
/**
 * The longest side: a 100 MP camera's is 11,648. Without it a 1 x 49,000,000 PNG (95 KB) passes the
 * pixel cap and costs a minute of CPU: libvips' cost follows the rows, not only the pixels.
 */
export const DEFAULT_MAX_SIDE = 16_384;

/** The default side cap under a pixel cap: never below the square's side, so a raised cap raises it. */
export const maxSideFor = (maxPixels: number): number =>
  Math.max(DEFAULT_MAX_SIDE, Math.ceil(Math.sqrt(maxPixels)));

/** Why a w x h image is over the caps (pixels, then the longest side), or null when it is not. */
export function sizeProblem(
  width: number,
  height: number,
  maxPixels = DEFAULT_MAX_PIXELS,
  maxSide = maxSideFor(maxPixels),
): string | null {
  const pixels = width * height;
  if (pixels > maxPixels)
    return (
      `${width}x${height} is ${(pixels / 1e6).toFixed(1)} megapixels, over the ` +
      `${(maxPixels / 1e6).toFixed(1)} MP limit`
    );
  if (Math.max(width, height) > maxSide)
    return `${width}x${height} has a side over the ${maxSide}-pixel limit`;
  return null;
}
