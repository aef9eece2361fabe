// vitest globalSetup: three real registries for the whole run (anonymous,
// htpasswd basic auth, token auth) sharing one storage dir, so a fixture pushed
// to the anonymous one can be pulled through each flavour. Stopped in teardown.
import type { TestProject } from 'vitest/node';
import { type RegistryInfo, type RunningRegistry, startRegistry } from '@hull/testkit';

declare module 'vitest' {
  export interface ProvidedContext {
    registries: { anonymous: RegistryInfo; basic: RegistryInfo; token: RegistryInfo };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: RunningRegistry[] = [];
  try {
    const anonymous = await startRegistry({ flavour: 'anonymous' });
    started.push(anonymous);
    const basic = await startRegistry({ flavour: 'basic', storage: anonymous.storage });
    started.push(basic);
    const token = await startRegistry({ flavour: 'token', storage: anonymous.storage });
    started.push(token);
    const info = (r: RunningRegistry): RegistryInfo => {
      const { stop: _stop, ...rest } = r;
      return rest;
    };
    project.provide('registries', { anonymous: info(anonymous), basic: info(basic), token: info(token) });
  } catch (err) {
    await Promise.all(started.map((r) => r.stop()));
    throw err;
  }
  return async () => {
    await Promise.all(started.map((r) => r.stop()));
  };
}
