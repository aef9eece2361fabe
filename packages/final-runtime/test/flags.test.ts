// The pure rules, without root: docker's command-line shape and its
// image-config override rules.
import { describe, expect, it } from 'vitest';
import { randomToken } from '@hull/testkit';
import { parseOptions } from '../src/args.js';
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
