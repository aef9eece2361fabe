import { describe, expect, it } from 'vitest';
import { UsageError } from '@hull/01-uts';
import { cpuQuotaUs, parseCpus, parseLimits, parseMemory, parsePidsMax } from '../src/index.js';

describe('parsing the limits', () => {
  it.each([
    ['1', 1],
    ['10', 10],
    ['4194304', 4194304],
  ])('--pids-max %s is %d', (text, n) => expect(parsePidsMax(text)).toBe(n));

  it.each(['-3', '0', 'abc', '1.5', '', ' 5', '99999999999999999999'])('--pids-max %j is refused', (text) => {
    expect(() => parsePidsMax(text)).toThrow(UsageError);
    expect(() => parsePidsMax(text)).toThrow(`--pids-max ${JSON.stringify(text)}: must be a whole number of at least 1`);
  });

  it.each([
    ['6291456', 6291456],
    ['64m', 64 * 1024 ** 2],
    ['64M', 64 * 1024 ** 2],
    ['64MB', 64 * 1024 ** 2],
    ['64MiB', 64 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['0.5g', 512 * 1024 ** 2],
    ['8192k', 8 * 1024 ** 2],
  ])('--memory %s is %d bytes', (text, n) => expect(parseMemory(text)).toBe(n));

  it.each(['lots', '-64m', '64x', 'm', '', '64 m b'])('--memory %j is refused as not a size', (text) => {
    expect(() => parseMemory(text)).toThrow(`--memory ${JSON.stringify(text)}: must be bytes or a size like 512k, 64m, 1g`);
  });

  it.each(['1k', '5m', '0'])('--memory %j is below the 6m minimum', (text) => {
    expect(() => parseMemory(text)).toThrow(`--memory ${JSON.stringify(text)}: the minimum is 6m`);
  });

  it.each([
    ['0.5', 0.5, 50_000],
    ['.2', 0.2, 20_000],
    ['2', 2, 200_000],
    ['0.01', 0.01, 1_000],
  ])('--cpus %s is a quota of %d us per 100 ms', (text, cpus, quota) => {
    expect(parseCpus(text, 4)).toBe(cpus);
    expect(cpuQuotaUs(cpus)).toBe(quota);
  });

  it.each(['0', '-1', 'abc', '0.001', '5', '1e1', ''])('--cpus %j is refused on a 4-CPU machine', (text) => {
    expect(() => parseCpus(text, 4)).toThrow(`--cpus ${JSON.stringify(text)}: must be a number from 0.01 to 4 (the CPUs on this machine)`);
  });

  it('leaves out what is not given', () => {
    expect(parseLimits({ pidsMax: '7' })).toEqual({ pidsMax: 7 });
    expect(parseLimits({})).toEqual({});
    expect(parseLimits({ pidsMax: '3', memory: '32m', cpus: '0.5' })).toEqual({ pidsMax: 3, memoryBytes: 32 << 20, cpus: 0.5 });
  });
});
