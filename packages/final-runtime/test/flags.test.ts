// The pure rules, without root: docker's command-line shape and its
// image-config override rules.
import { describe, expect, it } from 'vitest';
import { randomToken } from '@hull/testkit';
import { execFileSync } from 'node:child_process';
import { helpText, type OptionSpecs, parseOptions, usageSynopsis } from '../src/args.js';
import { STEP_WORDING } from '@hull/01-uts/options';
import { BIN, requireBuild } from './hull.js';
import { UsageError } from '@hull/01-uts';
import { commandOf, environmentOf, mergeEnv, type RunFlags, workdirOf } from '../src/container-config.js';
import { RUN_OPTIONS } from '../src/commands/run.js';

const flags = (over: Partial<RunFlags> = {}): RunFlags => ({ command: [], env: [], envFiles: [], tty: false, ...over });

describe('hull run command line', () => {
  it('stops at the image: options after it belong to the command', () => {
    const { values, positionals } = parseOptions(['--rm', '-e', 'A=1', 'img', 'ls', '-l', '--rm'], RUN_OPTIONS, true);
    expect(values.rm).toBe(true);
    expect(values.env).toEqual(['A=1']);
    expect(positionals).toEqual(['img', 'ls', '-l', '--rm']);
  });

  it('collects repeated options and accepts attached values', () => {
    const v = randomToken(6);
    const { values } = parseOptions(['-e', `A=${v}`, `-eB=${v}`, `--env=C=${v}`, '--name', 'x', 'img'], RUN_OPTIONS, true);
    expect(values.env).toEqual([`A=${v}`, `B=${v}`, `C=${v}`]);
    expect(values.name).toBe('x');
  });

  it('combines short booleans (-di) and ends at --', () => {
    const { values, positionals } = parseOptions(['-di', '--', '-img'], RUN_OPTIONS, true);
    expect(values.detach).toBe(true);
    expect(values.interactive).toBe(true);
    expect(positionals).toEqual(['-img']);
  });

  it('refuses unknown flags and missing values with a UsageError', () => {
    expect(() => parseOptions(['--nope', 'img'], RUN_OPTIONS, true)).toThrow(new UsageError('unknown flag: --nope'));
    expect(() => parseOptions(['-z', 'img'], RUN_OPTIONS, true)).toThrow(UsageError);
    expect(() => parseOptions(['--name'], RUN_OPTIONS, true)).toThrow('flag needs an argument: --name');
  });
});

describe('one parser, and help generated from its option table', () => {
  it('takes a value that starts with "-" as the value, refuses names that are not options (not even Object.prototype\'s)', () => {
    const v = `-${randomToken(4)}`;
    expect(parseOptions(['--name', v, 'img'], RUN_OPTIONS, true).values.name).toBe(v);
    expect(() => parseOptions(['--constructor', 'img'], RUN_OPTIONS, true)).toThrow(new UsageError('unknown flag: --constructor'));
  });

  it("speaks docker's words for hull and Node parseArgs's for the chapter steps", () => {
    expect(() => parseOptions(['--bogus'], {}, { wording: STEP_WORDING })).toThrow(new UsageError("Unknown option '--bogus'"));
    expect(() => parseOptions(['--x'], { x: { type: 'string' } }, { wording: STEP_WORDING })).toThrow(new UsageError("Option '--x <value>' argument missing"));
  });

  it('writes the usage line and the options table from the table alone, in its order', () => {
    const [a, b, c] = [randomToken(6), randomToken(6), randomToken(6)];
    const table: OptionSpecs = {
      [`r${a}`]: { type: 'string', value: 'DIR', required: true, help: `help ${a}` },
      [`m${b}`]: { type: 'string', value: 'N', multiple: true, short: 'm', help: `help ${b}` },
      [`b${c}`]: { type: 'boolean', help: `help ${c}` },
      hidden: { type: 'boolean' },
    };
    expect(usageSynopsis(table)).toBe(`--r${a} DIR [--m${b} N]... [--b${c}]`);
    expect(helpText('x', table)).toBe(
      `Usage: x\n\nOptions:\n      --r${a} DIR  help ${a}\n  -m, --m${b} N    help ${b}\n      --b${c}      help ${c}\n`,
    );
  });

  it('hull run, exec, ps, rm, logs, kill and stop --help: exit 0, every option of the table the command parses with', async () => {
    requireBuild();
    const help = (cmd: string) => execFileSync(process.execPath, [BIN, cmd, '--help'], { encoding: 'utf8' });
    const out = help('run');
    expect(out).toMatch(/^Usage: hull run \[OPTIONS\] IMAGE \[COMMAND\] \[ARG\.\.\.\]\n/);
    for (const [name, spec] of Object.entries(RUN_OPTIONS)) {
      if (spec.help) expect(out).toContain(`${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value}` : ''}  `);
    }
    for (const [cmd, flag] of [['exec', '-w, --workdir DIR'], ['ps', '-a, --all'], ['rm', '-f, --force'], ['logs', '-n, --tail N'], ['kill', '-s, --signal SIGNAL'], ['stop', '-t, --time SECONDS']]) {
      const text = help(cmd!);
      expect(text).toMatch(new RegExp(`^Usage: hull ${cmd} `));
      expect(text).toContain(flag);
    }
  });
});

describe("docker's override rules", () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['default'], Env: ['PATH=/image/bin', 'A=image'], WorkingDir: '/app' };

  it('argv = Entrypoint ++ Cmd; CMD words replace Cmd; --entrypoint drops the image Cmd', () => {
    expect(commandOf(image, flags())).toEqual(['/entry', 'default']);
    expect(commandOf(image, flags({ command: ['x', 'y'] }))).toEqual(['/entry', 'x', 'y']);
    expect(commandOf(image, flags({ entrypoint: 'sh' }))).toEqual(['sh']);
    expect(commandOf(image, flags({ entrypoint: '', command: ['ls'] }))).toEqual(['ls']);
    expect(() => commandOf({}, flags())).toThrow(/no command specified/);
  });

  it('env: defaults < image < flags, by key', () => {
    const env = environmentOf(image, flags({ env: ['A=flag', 'B=2'] }), 'h1');
    expect(env).toContain('PATH=/image/bin');
    expect(env).toContain('A=flag');
    expect(env).toContain('B=2');
    expect(env).toContain('HOSTNAME=h1');
    expect(mergeEnv(['A=1', 'B=1'], ['A=2'])).toEqual(['A=2', 'B=1']);
  });

  it('workdir: -w beats WorkingDir, which beats "/"; relative is refused', () => {
    expect(workdirOf(image, flags())).toBe('/app');
    expect(workdirOf(image, flags({ workdir: '/x' }))).toBe('/x');
    expect(workdirOf({}, flags())).toBe('/');
    expect(() => workdirOf({}, flags({ workdir: 'rel' }))).toThrow(/absolute path/);
  });
});
