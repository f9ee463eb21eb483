/** A place in the spool: a segment and a byte offset in it. */
export interface Position {
  readonly segment: number;
  readonly offset: number;
}

export const before = (a: Position, b: Position): boolean => a.segment < b.segment || (a.segment === b.segment && a.offset < b.offset);
