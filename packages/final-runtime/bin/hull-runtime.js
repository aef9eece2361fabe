#!/usr/bin/env node
// The `hull-runtime` bin as npm links it (see hull.js for why this file is
// plain JS, and why it prefers build/ to dist/).
import { existsSync } from 'node:fs';

const bundle = new URL('../build/runtime-bin.js', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/runtime-bin.js');
