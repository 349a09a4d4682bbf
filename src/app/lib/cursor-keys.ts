// A cursor along an axis moved by keyboard (the views' readouts must not need a pointer): arrow keys step it
// (Shift: ten steps), Home and End jump to the ends, Escape hides it. Shared by the charts and the token strip.

export interface CursorKeys {
  /** The cursor now (null: hidden). */
  at: number | null;
  min: number;
  max: number;
  /** One arrow press; `shiftStep` with Shift (default ten steps). */
  step: number;
  shiftStep?: number;
  /** Where the first arrow press puts a hidden cursor. */
  start: number;
}

/** The cursor after `key` (null: hidden), or undefined when the key is not one of the cursor's. */
export function nextCursor(key: string, shift: boolean, c: CursorKeys): number | null | undefined {
  const step = shift ? (c.shiftStep ?? 10 * c.step) : c.step;
  let next: number | null;
  if (key === 'ArrowRight' || key === 'ArrowUp') next = c.at === null ? c.start : c.at + step;
  else if (key === 'ArrowLeft' || key === 'ArrowDown') next = c.at === null ? c.start : c.at - step;
  else if (key === 'Home') next = c.min;
  else if (key === 'End') next = c.max;
  else if (key === 'Escape') next = null;
  else return undefined;
  return next === null ? null : Math.max(c.min, Math.min(c.max, next));
}
