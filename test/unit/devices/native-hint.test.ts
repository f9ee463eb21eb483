import { describe, expect, it } from 'vitest';
import { nativeHint } from '../../../gateway/devices/types.js';

describe('a native hint as it came (a packet, a credential, another node)', () => {
  it('keeps only a known family and string ids', () => {
    expect(nativeHint({ family: 'zigbee2mqtt', base: 'z2m-east', nativeId: 'kitchen' })).toEqual({ family: 'zigbee2mqtt', base: 'z2m-east', nativeId: 'kitchen' });
    expect(nativeHint({ family: 'zwave', nativeId: 7, base: null })).toEqual({});
    expect(nativeHint({ family: 'tasmota', nativeId: ['x'] })).toEqual({ family: 'tasmota' });
    expect(nativeHint(undefined)).toBeUndefined();
    expect(nativeHint(null)).toBeUndefined();
  });
});
