/**
 * The cluster's partitioning: a site is the unit (rule packs reason across a site), sites are
 * hashed onto `P` partitions, and each partition's owner is chosen by rendezvous (highest random
 * weight) hashing over the live nodes, so a node joining or leaving moves only its own share.
 */

/** FNV-1a, 32 bits: stable across processes, versions and machines (no seed). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The partition of a site, 0 … partitions-1. */
export function partitionOf(site: string, partitions: number): number {
  return fnv1a(site) % partitions;
}

/** The weight of a node for a partition: the owner is the live node with the highest. */
function weight(node: string, partition: number): number {
  // A second mixing round: FNV alone differs little between "node-1|3" and "node-1|4".
  let h = fnv1a(`${node}|${partition}`);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The node that should own `partition` among `nodes` (rendezvous hashing), or undefined when none is live. */
export function ownerOf(partition: number, nodes: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const node of nodes) {
    const w = weight(node, partition);
    if (w > bestWeight || (w === bestWeight && best !== undefined && node < best)) {
      best = node;
      bestWeight = w;
    }
  }
  return best;
}

/** The partitions `node` should own among the live `nodes`. */
export function partitionsFor(node: string, nodes: readonly string[], partitions: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < partitions; p++) if (ownerOf(p, nodes) === node) out.push(p);
  return out;
}
