// import and require every entry named in argv[2] (a JSON list) in one process: same names, same objects.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const bad = [];
for (const spec of JSON.parse(process.argv[2])) {
  const esm = await import(spec);
  const cjs = require(spec);
  const names = Object.keys(cjs).filter((k) => k !== '__esModule');
  if (names.length === 0) bad.push(`${spec}: require() gives no exports`);
  for (const k of names)
    if (esm[k] !== cjs[k])
      bad.push(`${spec}: ${k} ${k in esm ? 'is another object under import' : 'is missing under import'}`);
  console.log(spec.padEnd(28), names.length, 'exports');
}
if (bad.length) {
  console.error(bad.join('\n'));
  process.exit(1);
}
