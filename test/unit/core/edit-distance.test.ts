/** The distance "did you mean" ranks by: a swap of two neighbouring letters is one typo, not two. */
import { describe, expect, it } from 'vitest';
import { editDistance, nearestName } from '../../../gateway/core/edit-distance.js';

describe('editDistance', () => {
  it('counts inserts, deletes, substitutions and a swap of neighbours as one edit each', () => {
    expect(editDistance('fan', 'fan')).toBe(0);
    expect(editDistance('fna', 'fan')).toBe(1);
    expect(editDistance('havc', 'hvac')).toBe(1);
    expect(editDistance('temprature', 'temperature')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    // Optimal string alignment: a swapped pair is not edited again.
    expect(editDistance('ca', 'abc')).toBe(3);
  });

  it('suggests the name a swap away, short names too', () => {
    expect(nearestName('fna', ['fan', 'hvac', 'lights'])).toBe('fan');
    expect(nearestName('lihgts', ['fan', 'hvac', 'lights'])).toBe('lights');
    expect(nearestName('xyz', ['fan', 'hvac'])).toBeUndefined();
  });
});
