import { type BaseSpec, runContainer } from './stage.js';

export interface UtsOptions {
  hostname: string;
  argv: string[];
  env: string[];
}

/** Run argv in a new UTS namespace named `hostname`; resolves to its exit code. */
export function runInUts(opts: UtsOptions): Promise<number> {
  return runContainer<BaseSpec>({
    stage: new URL(`./init${extname(import.meta.url)}`, import.meta.url),
    spec: { argv: opts.argv, env: opts.env, hostname: opts.hostname },
    namespaces: ['uts'],
  });
}

/** ".ts" under tsx, ".js" once compiled: a stage module sits beside its caller. */
export function extname(url: string): string {
  return url.endsWith('.ts') ? '.ts' : '.js';
}

/** Chapters before 03 have no rootfs: the command runs on the host's files, with our env. */
export function hostEnv(): string[] {
  return Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
}
