// Sub-ranges of a buffer or region, as map() and register() options name them.
import { ArgumentRangeError } from '../errors';
import { toSize } from '../validate';

/** [offset, offset+size) of a block, checked to lie inside it. */
export function subRange(
  base: bigint,
  length: bigint,
  opts: { offset?: bigint | number; size?: bigint | number },
): { address: bigint; size: bigint } {
  // Mapping a whole block is the common case: it needs no bigint arithmetic at all.
  if (opts.offset === undefined && opts.size === undefined) return { address: base, size: length };
  const offset = opts.offset === undefined ? 0n : toSize('options.offset', opts.offset);
  if (offset >= length) {
    throw new ArgumentRangeError(`options.offset ${offset} is not inside the ${length}-byte block`);
  }
  const size = toSize('options.size', opts.size === undefined ? length - offset : opts.size, {
    min: 1n,
  });
  if (offset + size > length) {
    throw new ArgumentRangeError(
      `options.offset + options.size (${offset + size}) runs past the ${length}-byte block`,
    );
  }
  return { address: base + offset, size };
}
