/** Numbers as people read them on a terminal. */

/**
 * A rate such as a FAR: "1 in 3,400" style is easy to misread, so scientific with two digits below
 * 1e-3 ("2.1e-5"), a percentage above ("0.42%"), and "<1e-7" past the table's reach.
 */
export function formatRate(r: number): string {
  if (r <= 0) return '0';
  if (r < 1e-7) return '<1e-7';
  if (r < 1e-3) return r.toExponential(1);
  return `${Number((r * 100).toPrecision(2))}%`;
}
