// Rewrites the README's configuration table and .env.example from the config schema.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderEnvExample, withConfigTable } from '../src/config-docs.js';

writeFileSync('README.md', withConfigTable(readFileSync('README.md', 'utf8')));
writeFileSync('.env.example', renderEnvExample());
console.log('README.md configuration table and .env.example updated');
