// Writes docs/openapi.json from the compiled lib/openapi.js (run `npm run build` first), formatted
// by the repository's prettier so lint passes. Lives here, not in lib/: a dev-time tool that needs
// prettier has no place in the code the function app ships.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { buildOpenApi, OPENAPI_FILE } = require(path.join(root, 'dist', 'lib', 'openapi.js'));
const file = path.join(root, OPENAPI_FILE);
writeFileSync(file, JSON.stringify(buildOpenApi(), null, 2));
execFileSync(process.execPath, [require.resolve('prettier/bin/prettier.cjs'), '--write', file], {
  cwd: root,
});
console.log(`wrote ${OPENAPI_FILE}`);
