// hull doctor: what this machine offers each chapter, and how to fix what
// it lacks. Read-only: it only looks at /proc, /sys and PATH.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { parseOptions } from '../args.js';
import { UsageError } from '@hull/01-uts';
import { hullRoot } from '../store.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix: string;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function onPath(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir && existsSync(`${dir}/${tool}`)) return `${dir}/${tool}`;
  }
  return undefined;
}

function kernel(): Check {
  const [major = 0, minor = 0] = release().split('.').map(Number);
  // pidfd_open (5.3) is what every wait in hull is built on.
  const ok = major > 5 || (major === 5 && minor >= 3);
  return { name: 'kernel', ok, detail: release(), fix: 'hull needs Linux 5.3 or later (pidfd_open)' };
}

function cgroups(): Check {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const controllers = read('/sys/fs/cgroup/cgroup.controllers').trim();
    const missing = ['memory', 'pids', 'cpu'].filter((c) => !controllers.split(' ').includes(c));
    return {
      name: 'cgroups',
      ok: missing.length === 0,
      detail: `v2 (unified), controllers: ${controllers || 'none'}`,
      fix: `enable ${missing.join(', ')} in the root cgroup.subtree_control (or boot with systemd.unified_cgroup_hierarchy=1)`,
    };
  }
  const v1 = read('/proc/cgroups')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split('\t'))
    .filter((f) => f[3] === '1' && existsSync(`/sys/fs/cgroup/${f[0]}`))
    .map((f) => f[0]!);
  const missing = ['memory', 'pids', 'cpu'].filter((c) => !v1.includes(c));
  return {
    name: 'cgroups',
    ok: missing.length === 0,
    detail: `v1 (hybrid), mounted controllers: ${v1.join(', ') || 'none'}`,
    fix: `mount the ${missing.join(', ')} controller(s) under /sys/fs/cgroup/<name>`,
  };
}

function overlayfs(): Check {
  const ok = /\toverlay$/m.test(read('/proc/filesystems'));
  return { name: 'overlayfs', ok, detail: ok ? 'available' : 'not in /proc/filesystems', fix: 'modprobe overlay (CONFIG_OVERLAY_FS)' };
}

function userns(): Check {
  const max = read('/proc/sys/user/max_user_namespaces').trim();
  const clone = read('/proc/sys/kernel/unprivileged_userns_clone').trim();
  const ok = max !== '' && max !== '0' && clone !== '0';
  return {
    name: 'user namespaces',
    ok,
    detail: `max_user_namespaces=${max || '?'}${clone ? `, unprivileged_userns_clone=${clone}` : ''}`,
    fix: 'sysctl -w user.max_user_namespaces=15000 (and kernel.unprivileged_userns_clone=1 on Debian kernels)',
  };
}

function tool(name: string, what: string, fix: string): Check {
  const path = onPath(name);
  return { name, ok: path !== undefined, detail: path ?? 'not found', fix: `${fix} (${what})` };
}

function root(): Check {
  const ok = process.getuid?.() === 0;
  return { name: 'privileges', ok, detail: ok ? 'root' : `uid ${process.getuid?.()}`, fix: 'run hull with sudo (rootless mode is not in the CLI yet)' };
}

export async function doctor(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write('Usage: hull doctor [--json]\n\nExits 1 when something hull needs is missing.\n');
    return 0;
  }
  const { values, positionals } = parseOptions(args, { json: { type: 'boolean' } });
  if (positionals.length) throw new UsageError(`"hull doctor" accepts no arguments`);
  let nftDetail: Check = tool('nft', 'NAT for --network bridge', 'apt-get install nftables');
  if (nftDetail.ok) {
    try {
      execFileSync(nftDetail.detail, ['--version'], { stdio: 'ignore' });
    } catch {
      nftDetail = { ...nftDetail, ok: false, detail: `${nftDetail.detail} does not run` };
    }
  }
  const checks: Check[] = [
    kernel(),
    root(),
    cgroups(),
    overlayfs(),
    userns(),
    nftDetail,
    tool('cc', 'builds the native spawn helper at npm ci', 'apt-get install gcc'),
    tool('newuidmap', 'rootless user namespaces', 'apt-get install uidmap'),
  ];
  if (values.json === true) process.stdout.write(`${JSON.stringify({ root: hullRoot(), checks }, null, 2)}\n`);
  else {
    const width = Math.max(...checks.map((c) => c.name.length));
    for (const c of checks) {
      process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}${c.ok ? '' : `\n      ${' '.repeat(width)}  fix: ${c.fix}`}\n`);
    }
    process.stdout.write(`store: ${hullRoot()}\n`);
  }
  return checks.every((c) => c.ok) ? 0 : 1;
}
