#!/usr/bin/env node
// The `hull` bin as npm links it. It must exist before `npm ci` builds dist/
// (npm skips linking a bin whose file is missing), so it is committed as plain
// JS and only loads the compiled CLI.
import '../dist/bin.js';
