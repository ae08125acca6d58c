// Trunk's post-build hook: writes precache.json into the build (TRUNK_STAGING_DIR), the list of
// every file the service worker (web/sw.js) caches for offline use, and a version that changes
// whenever a file name or size does (the hashed wasm and JavaScript change their names on every
// build), so a new build replaces the old cache.
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';

const root = process.env.TRUNK_STAGING_DIR;
if (!root) throw new Error('TRUNK_STAGING_DIR is not set: run this as a Trunk hook');
const walk = (dir) => readdirSync(dir).flatMap((name) => {
  const path = join(dir, name);
  return statSync(path).isDirectory() ? walk(path) : [path];
});
const files = walk(root)
  .map((p) => relative(root, p).split('\\').join('/'))
  .filter((f) => f !== 'precache.json' && f !== 'sw.js' && !f.startsWith('.'))
  .sort();
const version = createHash('sha256')
  .update(files.map((f) => `${f}:${statSync(join(root, f)).size}`).join('\n'))
  .digest('hex')
  .slice(0, 16);
writeFileSync(join(root, 'precache.json'), JSON.stringify({ version, files }, null, 1));
console.log(`precache.json: ${files.length} files, version ${version}`);
