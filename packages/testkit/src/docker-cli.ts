// The docker CLI that drives `hull daemon`: Debian's docker.io 20.10 (API
// 1.41), downloaded and unpacked by .ci/run into DOCKER_CLI, never installed
// (its postinst would start dockerd). Only this binary counts: a `docker`
// that happens to be on PATH may be another version, speaking another API.
import { existsSync } from 'node:fs';

export const DOCKER_CLI = process.env.HULL_DOCKER_CLI ?? '/opt/hull-ci/docker-cli/usr/bin/docker';

/** How to get it, in one line, for a test that cannot run without it. */
export const DOCKER_CLI_HINT = `${DOCKER_CLI} is missing: run .ci/run, or: apt-get download docker.io && dpkg-deb -x docker.io_*.deb /opt/hull-ci/docker-cli`;

/** The binary's path, or an Error of one line saying how to get it. */
export function dockerCli(): string {
  if (!existsSync(DOCKER_CLI)) throw new Error(DOCKER_CLI_HINT);
  return DOCKER_CLI;
}

/**
 * For `describe.skipIf(!requireDockerCli(...))`. Outside CI a missing binary
 * skips, saying why. Under CI=true it does not skip: the suite runs and its
 * beforeAll's dockerCli() fails with the one line above.
 */
export function requireDockerCli(suite: string): boolean {
  if (existsSync(DOCKER_CLI) || process.env.CI === 'true') return true;
  process.stderr.write(`skip: ${suite}: ${DOCKER_CLI_HINT}\n`);
  return false;
}
