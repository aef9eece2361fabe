#!/usr/bin/env node
// The `hull-runtime` bin as npm links it (see hull.js for why this file is plain JS).
import '../dist/runtime-bin.js';
