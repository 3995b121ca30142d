import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRuntimeFeatures } from '../../src/oci/runtime_features.js';

test('rro among the mount options means recursive read-only mounts; anything else does not', () => {
  assert.deepEqual(parseRuntimeFeatures(JSON.stringify({ ociVersionMin: '1.0.0', mountOptions: ['ro', 'rro', 'rbind'] })), { recursiveReadOnlyMounts: true });
  assert.deepEqual(parseRuntimeFeatures(JSON.stringify({ mountOptions: ['ro', 'rbind'] })), { recursiveReadOnlyMounts: false });
  assert.deepEqual(parseRuntimeFeatures(JSON.stringify({ mountOptions: 'rro' })), { recursiveReadOnlyMounts: false });
  assert.deepEqual(parseRuntimeFeatures('unknown command "features"'), { recursiveReadOnlyMounts: false });
  assert.deepEqual(parseRuntimeFeatures(''), { recursiveReadOnlyMounts: false });
});
