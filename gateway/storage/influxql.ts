/**
 * An InfluxQL string literal that reads back as `text`, whatever it holds. InfluxQL's scanner
 * (1.x) takes `\\`, `\'`, `\"` and `\n` as escapes and refuses a raw newline. The `influx`
 * package's `escape.stringLit` escapes `'` only: an id ending in `\` escaped the closing quote
 * (a parse error), and `\'` in an id closed the literal early, the rest read as InfluxQL.
 */
export function stringLiteral(text: string): string {
  return `'${text.replace(/[\\']/g, '\\$&').replace(/\n/g, '\\n')}'`;
}
