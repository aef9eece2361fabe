// Bundle each process entry point of final-runtime into build/, after tsc has
// written dist/. Why: a `hull run` spent ~150 ms of its start resolving,
// reading and compiling ~200 ESM files one by one (docs/performance.md, "Load
// less"); one bundle per entry, split into shared chunks so that a lazy
// import() stays lazy, is a handful of files.
//
// What must keep working from the bundle:
// - koffi stays external: it loads a native .node file relative to itself.
// - `import.meta.url`-relative paths. A bundled module no longer sits where
//   its source did, so every `import.meta.url` is rewritten to the URL the
//   module *would* have:
//     final-runtime's own modules: their mirror under build/ (build/ sits at
//       dist/'s depth), so `./init.js` from runtime/create.js finds the bundled
//       init stage, `./supervisor.js` the bundled supervisor, and
//       `../package.json` the package's package.json;
//     other packages' modules: their real file in dist/ (the native spawn
//       helper's `../build/libhull_spawn.so` in packages/sys, for one).
//   Where a module lands (an entry or a shared chunk) is esbuild's choice, so
//   the rewrite leaves a marker and the path is made relative to the output
//   file that holds it once the build is written.
// - Lazy imports. esbuild places whole files in chunks, so a lazy import()
//   stays lazy only if no static import reaches the same files. Two things
//   make that so, and test/bundle.test.ts fails without either: the lazy
//   import goes through a subpath export (`@hull/07-oci-pull/pull`, since a
//   chapter's index reaches all of the chapter), and our packages' modules
//   are declared free of import-time side effects (none has a bare
//   `import 'x'`; each is imported for its exports), so that a static
//   `import { Store } from '@hull/07-oci-pull'` reaches store.js, not every
//   module behind the index, undici among them.
// - CommonJS dependencies (cli-progress) call require() on node builtins:
//   each output file gets a require of its own (createRequire).
import { build } from 'esbuild';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(pkg, 'dist');
const out = join(pkg, 'build');

/**
 * Every file that runs as a process of its own, named as in dist/ so that the
 * mirrored `import.meta.url`s above find them.
 *   bin.js          `hull` (bin/hull.js)
 *   runtime-bin.js  `hull-runtime` (bin/hull-runtime.js)
 *   supervisor.js   the supervisor of detached containers (supervisor-client.ts spawns it)
 *   runtime/init.js the init stage, PID 1 until execve (runtime/create.ts),
 *                   for hull-runtime and for `hull run` (lifecycle.ts runs the runtime)
 */
const ENTRIES = ['bin', 'runtime-bin', 'supervisor', 'runtime/init'];

const MARK = '__HULL_MODULE_URL__';

/** @type {import('esbuild').Plugin} */
const moduleUrls = {
  name: 'module-urls',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const own = args.path.startsWith(dist + sep);
      const as = own ? join(out, relative(dist, args.path)) : args.path;
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(MARK + as + MARK)}, import.meta.url).href`), loader: 'js' };
    });
  },
};

const packages = join(pkg, '..');

/** @type {import('esbuild').Plugin} */
const sideEffectFree = {
  name: 'side-effect-free',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'side-effect-free' || args.kind === 'entry-point') return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'side-effect-free' });
      if (r.errors.length || r.external || !r.path.startsWith(packages + sep) || r.path.includes(`${sep}node_modules${sep}`)) return r;
      return { ...r, sideEffects: false };
    });
  },
};

rmSync(out, { recursive: true, force: true });
const result = await build({
  entryPoints: Object.fromEntries(ENTRIES.map((e) => [e, join(dist, `${e}.js`)])),
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['koffi'],
  chunkNames: 'chunks/[name]-[hash]',
  banner: { js: "import { createRequire as __hullCreateRequire } from 'node:module'; const require = __hullCreateRequire(import.meta.url);" },
  plugins: [moduleUrls, sideEffectFree],
  logLevel: 'warning',
  metafile: true,
  absWorkingDir: pkg,
});

// Resolve the markers: each becomes a path relative to the output file that holds it.
const markers = new RegExp(`"${MARK}(.*?)${MARK}"`, 'g');
for (const file of Object.keys(result.metafile.outputs)) {
  const path = join(pkg, file);
  const text = readFileSync(path, 'utf8');
  if (!text.includes(MARK)) continue;
  writeFileSync(path, text.replace(markers, (_, target) => {
    const rel = relative(dirname(path), JSON.parse(`"${target}"`)).split(sep).join('/');
    return JSON.stringify(rel.startsWith('.') ? rel : `./${rel}`);
  }));
}

const files = readdirSync(out, { recursive: true }).filter((f) => String(f).endsWith('.js'));
const bytes = files.reduce((n, f) => n + statSync(join(out, String(f))).size, 0);
const inputs = Object.keys(result.metafile.inputs).length;
process.stdout.write(`bundle: ${inputs} modules -> ${files.length} files in build/ (${(bytes / 1024).toFixed(0)} KiB)\n`);
// `BUNDLE_META=FILE npm run build`: esbuild's metafile, to see what each chunk holds.
if (process.env.BUNDLE_META) writeFileSync(process.env.BUNDLE_META, JSON.stringify(result.metafile));
