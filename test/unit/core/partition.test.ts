import { describe, expect, it } from 'vitest';
import { ownerOf, partitionOf, partitionsFor } from '../../../gateway/core/partition.js';

describe('partitions and their owners', () => {
  it('hashes a site to the same partition everywhere, spread over all of them', () => {
    expect(partitionOf('hq', 16)).toBe(partitionOf('hq', 16));
    const used = new Set(Array.from({ length: 500 }, (_, i) => partitionOf(`site${i}`, 16)));
    expect(used.size).toBe(16);
  });

  it('gives every partition to exactly one live node, and a node leaving moves only its own', () => {
    const nodes = ['A', 'B', 'C'];
    const before = Array.from({ length: 64 }, (_, p) => ownerOf(p, nodes));
    const counts = nodes.map((n) => partitionsFor(n, nodes, 64).length);
    expect(counts.reduce((a, b) => a + b)).toBe(64);
    for (const c of counts) expect(c).toBeGreaterThan(10);
    const after = Array.from({ length: 64 }, (_, p) => ownerOf(p, ['A', 'B']));
    before.forEach((owner, p) => {
      if (owner !== 'C') expect(after[p]).toBe(owner);
    });
    expect(ownerOf(0, [])).toBeUndefined();
  });
});
