// `npm run test:cgroup2`: the cgroup v2 tests on a real, pure cgroup2 kernel.
// Our machines are cgroup v1 hybrid, so this boots one: a QEMU guest with
// Debian's cloud kernel, cgroup_no_v1=all, our own PID 1 (guest-init.sh) and
// no network device. It runs the test files that tools/cgroup2/vitest.config.ts
// lists, under CI=true, with the checkout exactly as built here, and ends with
//   cgroup2: N passed, N failed, N skipped
// It exits non-zero on any failure or skip, and when it cannot run at all
// (no qemu, no kernel package): a v2 run that did not happen is not a pass.
//
// Environment:
//   HULL_CGROUP2_CACHE    where the image is cached (default /var/cache/hull-cgroup2)
//   HULL_CGROUP2_ACCEL    kvm or tcg (default: kvm only with real VMX/SVM, see pickAccel)
//   HULL_CGROUP2_TIMEOUT  seconds before the guest is stopped (default 1800)
//   HULL_CGROUP2_FILES    space-separated test files to run instead of the whole list
//   HULL_CGROUP2_SLOW=1   also the slow files (CGROUP2_SLOW_FILES in vitest.config.ts)
//   HULL_TEST_SUMMARY_DIR if set, the counts also go to cgroup2.json there (tools/test.mjs's format)
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestError, guestImage, missingTool } from './image.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cacheDir = process.env.HULL_CGROUP2_CACHE ?? '/var/cache/hull-cgroup2';
const timeoutS = Number(process.env.HULL_CGROUP2_TIMEOUT ?? 1800);
const OUT_BYTES = 256 * 1024 ** 2;

const log = (line) => process.stdout.write(`cgroup2: ${line}\n`);

/** Why the guest could not run; main's caller prints it as one line and fails. */
class CannotRun extends Error {}
function fail(why) {
  throw new CannotRun(why);
}

function writeCounts(counts) {
  const dir = process.env.HULL_TEST_SUMMARY_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cgroup2.json'), JSON.stringify(counts));
}

/**
 * KVM only where the CPU really has VMX/SVM and /dev/kvm is not kvm_pvm: our
 * machines' /dev/kvm is a software nested hypervisor that runs only PVM guest
 * kernels, and a Debian kernel under it never leaves its decompressor.
 */
function pickAccel() {
  const forced = process.env.HULL_CGROUP2_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (forced) fail(`HULL_CGROUP2_ACCEL=${forced}: use kvm or tcg`);
  const virt = /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  const pvm = existsSync('/sys/module/kvm_pvm');
  return virt && !pvm && existsSync('/dev/kvm') ? 'kvm' : 'tcg';
}

function ensureBuilt() {
  const r = spawnSync('npx', ['turbo', 'run', 'build', '--env-mode=loose', '--output-logs=errors-only'], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
  if (r.status !== 0) fail('npm run build failed');
  for (const f of ['packages/final-runtime/dist/bin.js', 'packages/sys/build/libhull_spawn.so']) {
    if (!existsSync(join(repoRoot, f))) fail(`${f} is missing after the build`);
  }
}

/** The job the guest's PID 1 runs from the job disk. */
function jobScript(files) {
  const env = {
    CI: 'true',
    HOME: '/root',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    TURBO_TELEMETRY_DISABLED: '1',
    // The guest must be v2: the vitest configs refuse to load on anything else.
    HULL_CGROUP_EXPECT: 'v2',
    HULL_TEST_SUMMARY_DIR: '/out/summary',
    HULL_GUEST_REPORT: '/out/report.json',
    npm_config_cache: '/tmp/npm-cache',
    npm_config_update_notifier: 'false',
    npm_config_offline: 'true',
    HULL_CGROUP2_SLOW: process.env.HULL_CGROUP2_SLOW === '1' ? '1' : '0',
  };
  const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '# Written by tools/cgroup2/harness.mjs; run by the guest\'s PID 1.',
    ...Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)}`),
    'cd /job',
    // The guest stops its own tests a little before the harness would stop qemu, so
    // what ran is still reported (timeout's 124 fails the run).
    `exec timeout -k 10 ${Math.max(60, timeoutS - 90)} node node_modules/vitest/vitest.mjs run --config tools/cgroup2/vitest.config.ts ${files.map(quote).join(' ')}`,
    '',
  ].join('\n');
}

/** A tar of the checkout as built here (node_modules and dist included, .git not). */
function jobDisk(runDir, files) {
  const staging = join(runDir, 'staging');
  mkdirSync(staging);
  writeFileSync(join(staging, '.hull-guest-job.sh'), jobScript(files));
  const tar = join(runDir, 'job.tar');
  const r = spawnSync(
    'tar',
    ['-cf', tar, '--exclude=./.git', '--exclude=.turbo', '--exclude=./node_modules/.cache', '-C', staging, '.hull-guest-job.sh', '-C', repoRoot, '.'],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  );
  if (r.status !== 0) fail(`tar of the checkout failed: ${r.stderr.trim()}`);
  return tar;
}

function qemuArgs(image, runDir, jobTar, outImg, accel) {
  const smp = Math.min(2, cpus().length);
  return [
    '-nodefaults',
    '-no-user-config',
    '-machine', 'q35',
    ...(accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-smp', String(smp),
    '-m', '4G',
    // No network device at all: the guest reaches nothing but its own loopback.
    '-nic', 'none',
    '-display', 'none',
    '-monitor', 'none',
    '-serial', `file:${join(runDir, 'console.log')}`,
    '-no-reboot',
    '-kernel', image.kernel,
    // panic=1 + -no-reboot: if PID 1 ever dies, qemu ends instead of hanging.
    '-append', 'root=/dev/nvme0n1 rw init=/usr/sbin/hull-guest-init console=ttyS0 cgroup_no_v1=all panic=1 quiet',
    '-device', 'nvme,serial=hull-guest,id=nvme0',
    '-drive', `file=${image.rootfs},if=none,id=root,format=raw,snapshot=on`,
    '-device', 'nvme-ns,drive=root,bus=nvme0,nsid=1',
    '-drive', `file=${jobTar},if=none,id=job,format=raw,readonly=on`,
    '-device', 'nvme-ns,drive=job,bus=nvme0,nsid=2',
    '-drive', `file=${outImg},if=none,id=out,format=raw`,
    '-device', 'nvme-ns,drive=out,bus=nvme0,nsid=3',
  ];
}

/** Boot the guest and stream its serial console here until qemu ends. */
function boot(args, runDir) {
  return new Promise((resolvePromise, reject) => {
    const consoleLog = join(runDir, 'console.log');
    writeFileSync(consoleLog, '');
    // TMPDIR: where snapshot=on puts its overlay of the root disk; removed with runDir.
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, TMPDIR: runDir } });
    const started = Date.now();
    let upAt = null;
    let offset = 0;
    let pending = '';
    const pump = () => {
      let fd;
      try {
        fd = openSync(consoleLog, 'r');
      } catch {
        return;
      }
      try {
        const size = statSync(consoleLog).size;
        if (size <= offset) return;
        const buf = Buffer.alloc(size - offset);
        readSync(fd, buf, 0, buf.length, offset);
        offset = size;
        pending += buf.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          if (upAt === null && line.startsWith('hull-guest: up')) upAt = Date.now();
          process.stdout.write(`${line.replace(/\r$/, '')}\n`);
        }
      } finally {
        closeSync(fd);
      }
    };
    const timer = setInterval(pump, 500);
    const deadline = setTimeout(() => {
      log(`the guest ran longer than ${timeoutS} s: stopping qemu (pid ${qemu.pid})`);
      qemu.kill('SIGKILL');
    }, timeoutS * 1000);
    qemu.on('exit', (code, signal) => {
      clearInterval(timer);
      clearTimeout(deadline);
      pump();
      if (pending) process.stdout.write(`${pending}\n`);
      resolvePromise({ code, signal, seconds: (Date.now() - started) / 1000, bootSeconds: upAt === null ? null : (upAt - started) / 1000 });
    });
    qemu.on('error', (err) => {
      clearInterval(timer);
      clearTimeout(deadline);
      reject(new CannotRun(`qemu-system-x86_64: ${err.message}`));
    });
  });
}

function readResults(runDir, outImg) {
  const out = join(runDir, 'out');
  mkdirSync(out);
  // The guest wrote a plain tar to the raw disk; the zeros after it end the archive.
  const r = spawnSync('tar', ['-xf', outImg, '-C', out], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const read = (f) => (existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : null);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const summaryDir = join(out, 'summary');
  if (existsSync(summaryDir)) {
    for (const f of readdirSync(summaryDir)) {
      const c = JSON.parse(readFileSync(join(summaryDir, f), 'utf8'));
      for (const k of Object.keys(counts)) counts[k] += c[k];
    }
  }
  const report = read('report.json');
  return { code: Number(read('exit-code') ?? NaN), counts, report: report ? JSON.parse(report) : null, haveSummary: existsSync(summaryDir) };
}

function printFileTimes(report) {
  if (!report?.testResults) return;
  for (const f of report.testResults) {
    const rel = f.name.replace(/^\/job\//, '');
    const seconds = ((f.endTime - f.startTime) / 1000).toFixed(1);
    log(`  ${seconds.padStart(7)} s  ${rel} (${f.assertionResults.length} tests, ${f.status})`);
  }
}

async function main() {
  if (process.getuid?.() !== 0) fail('needs root (debootstrap, and the tests themselves)');
  const missing = missingTool();
  if (missing) fail(missing);
  const files = (process.env.HULL_CGROUP2_FILES ?? '').split(/\s+/).filter(Boolean);
  const t0 = Date.now();
  ensureBuilt();
  let image;
  try {
    image = guestImage(cacheDir, log);
  } catch (err) {
    if (err instanceof GuestError) fail(`building the image: ${err.message}`);
    throw err;
  }
  log(image.built ? `image ${image.key} built in ${image.seconds.toFixed(0)} s` : `image ${image.key} from the cache (${image.dir})`);

  const runDir = mkdtempSync(join(tmpdir(), 'hull-cgroup2-'));
  try {
    const jobTar = jobDisk(runDir, files);
    const outImg = join(runDir, 'out.img');
    writeFileSync(outImg, '');
    truncateSync(outImg, OUT_BYTES);
    const accel = pickAccel();
    log(`booting ${image.recipe.kernel.name} under ${accel === 'kvm' ? 'KVM' : 'TCG emulation (no usable hardware virtualisation: slow)'}, job ${(statSync(jobTar).size / 1024 ** 2).toFixed(0)} MB`);
    const vm = await boot(qemuArgs(image, runDir, jobTar, outImg, accel), runDir);
    const results = readResults(runDir, outImg);
    log(`guest: booted to PID 1 in ${vm.bootSeconds?.toFixed(1) ?? '?'} s, ran ${vm.seconds.toFixed(0)} s; whole harness ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    if (!results || !results.haveSummary) {
      if (vm.signal) log(`qemu was stopped (${vm.signal})`);
      fail(`the guest wrote no results (qemu exit ${vm.code ?? vm.signal}; its console is above)`);
    }
    printFileTimes(results.report);
    const { passed, failed, skipped } = results.counts;
    // A job that died without counting its failure (vitest crashed, a config refused to load) still fails.
    const counts = { passed, failed: failed === 0 && results.code !== 0 ? 1 : failed, skipped };
    writeCounts(counts);
    process.stdout.write(`cgroup2: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
    process.exitCode = counts.failed || counts.skipped || counts.passed === 0 || results.code !== 0 ? 1 : 0;
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (err) {
  if (!(err instanceof CannotRun)) throw err;
  // Under CI=true (or anywhere) a v2 run that could not happen is a failure, never a silent pass.
  process.stdout.write(`cgroup2: cannot run the cgroup v2 guest: ${err.message}\n`);
  writeCounts({ passed: 0, failed: 1, skipped: 0 });
  process.stdout.write('cgroup2: 0 passed, 1 failed, 0 skipped\n');
  process.exitCode = 1;
}
