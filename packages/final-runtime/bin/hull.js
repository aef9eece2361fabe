#!/usr/bin/env node
// The `hull` bin as npm links it. It must exist before `npm ci` builds
// (npm skips linking a bin whose file is missing), so it is committed as plain
// JS and only loads the CLI: the esbuild bundle in build/ (scripts/bundle.mjs,
// made by every build: a few files instead of ~200 ESM modules to resolve and
// compile), or tsc's dist/ where no bundle was made.
import { existsSync } from 'node:fs';

const bundle = new URL('../build/bin.js', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/bin.js');
