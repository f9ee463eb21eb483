/** An address or host name of this machine's loopback. */
export const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/;

/** A host name (no port, no brackets) on the loopback, `*.localhost` included. */
export const isLoopbackName = (name: string): boolean => LOOPBACK.test(name) || name.endsWith('.localhost');

/** A Host header naming the loopback (or none: not a browser's request). */
export function addressedToLoopback(host: string | undefined): boolean {
  if (host === undefined) return true;
  return isLoopbackName((host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '')).toLowerCase());
}
