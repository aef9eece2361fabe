// Which certificates a registry connection trusts, the docker way
// (https://docs.docker.com/engine/security/certificates/):
//   - the system's store (/etc/ssl/certs/ca-certificates.crt, what Go and
//     docker read), on top of the Mozilla roots Node ships;
//   - `certs.d/HOST:PORT/*.crt`: extra CAs for that registry only;
//   - `certs.d/HOST:PORT/NAME.cert` + `NAME.key`: a client certificate.
// As root the directories are /etc/docker/certs.d and /etc/containers/certs.d
// (podman's); rootless, ~/.config/containers/certs.d. HULL_CERTS_D
// (colon-separated) replaces the list. Verification is never turned off: a
// registry that needs plain HTTP is named with --insecure-registry.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { connect, createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { Agent } from 'undici';
import { ContainerError } from '@hull/01-uts';

const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The certs.d directories searched, in order. */
export function certsDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.HULL_CERTS_D) return env.HULL_CERTS_D.split(':').filter(Boolean);
  if (process.getuid?.() === 0) return ['/etc/docker/certs.d', '/etc/containers/certs.d'];
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return [join(config, 'containers', 'certs.d')];
}

export interface RegistryTls {
  /** extra CA certificates (PEM) from certs.d */
  cas: string[];
  /** a client certificate and its key (PEM), when certs.d has one */
  client?: { cert: string; key: string };
  /** where they came from, for messages */
  dirs: string[];
}

/** What certs.d says about `host` ("127.0.0.1:5000", "registry.example"). */
export function registryTls(host: string, env: NodeJS.ProcessEnv = process.env): RegistryTls {
  const out: RegistryTls = { cas: [], dirs: [] };
  // A directory name is the host exactly as written; never let a host reach outside certs.d.
  if (host.includes('/') || host === '.' || host === '..') return out;
  for (const base of certsDirs(env)) {
    const dir = join(base, host);
    if (!existsSync(dir)) continue;
    out.dirs.push(dir);
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.crt')) out.cas.push(readFileSync(join(dir, name), 'utf8'));
      if (name.endsWith('.cert')) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!existsSync(join(dir, keyName))) throw new ContainerError(`${host}: missing key ${keyName} for client certificate ${join(dir, name)}`);
        // docker takes the first pair it finds; so do we.
        out.client ??= { cert: readFileSync(join(dir, name), 'utf8'), key: readFileSync(join(dir, keyName), 'utf8') };
      }
      if (name.endsWith('.key') && !existsSync(join(dir, `${name.slice(0, -'.key'.length)}.cert`))) {
        throw new ContainerError(`${host}: missing client certificate ${name.slice(0, -'.key'.length)}.cert for key ${join(dir, name)}`);
      }
    }
  }
  return out;
}

/** The TLS options for every connection of one registry client. */
export interface TlsOptions {
  /**
   * Built once: a few hundred roots parsed per connection would cost every
   * blob download of a pull the same work again.
   */
  secureContext: SecureContext;
}

/**
 * What one registry client trusts and presents: every request it makes (the
 * registry, its token realm, a blob redirect) uses the same certificates, as
 * docker's transport does.
 */
export function registryTlsOptions(host: string, env: NodeJS.ProcessEnv = process.env): TlsOptions {
  const tls = registryTls(host, env);
  const system = existsSync(SYSTEM_BUNDLE) ? [readFileSync(SYSTEM_BUNDLE, 'utf8')] : [];
  try {
    return {
      secureContext: createSecureContext({
        ca: [...rootCertificates, ...system, ...tls.cas],
        ...(tls.client ? { cert: tls.client.cert, key: tls.client.key } : {}),
      }),
    };
  } catch (err) {
    throw new ContainerError(`${host}: unusable certificate or key in ${tls.dirs.join(', ') || SYSTEM_BUNDLE}: ${(err as Error).message}`);
  }
}

/** The connection pool fetch uses for one registry client. */
export function registryAgent(options: TlsOptions): Agent {
  return new Agent({ connect: options });
}

/**
 * Why a TLS connection to `host` closes, when fetch only saw the socket close:
 * a TLS 1.3 server checks the client certificate after the handshake, and its
 * alert is lost in undici's "other side closed". One plain TLS connection and
 * one request show the alert. Undefined when the connection works or fails for
 * a reason that is not TLS.
 */
export function tlsAlert(host: string, options: TlsOptions): Promise<string | undefined> {
  const port = Number(host.match(/:(\d+)$/)?.[1] ?? 443);
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const done = (why: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const socket = connect({ host: name, port, ...(isIP(name) ? {} : { servername: name }), ...options }, () => {
      socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
    const timer = setTimeout(() => done(undefined), 5000);
    socket.on('data', () => done(undefined));
    socket.on('end', () => done(undefined));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const alert = /alert (.+?):/.exec(err.message)?.[1] ?? /SSL alert number \d+/.exec(err.message)?.[0];
      done(err.code?.startsWith('ERR_SSL_') && alert ? `tls: ${alert.replace(/^tlsv1\d? alert /, '')}` : undefined);
    });
  });
}

/** Node's TLS error codes, as the one reason a user reads (docker's words where it has them). */
const TLS_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'x509: certificate has expired',
  CERT_NOT_YET_VALID: 'x509: certificate is not yet valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'x509: certificate is not valid for this host',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'x509: certificate signed by unknown authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'x509: certificate signed by unknown authority',
  UNABLE_TO_GET_ISSUER_CERT: 'x509: certificate signed by unknown authority',
  SELF_SIGNED_CERT_IN_CHAIN: 'x509: certificate signed by unknown authority',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'x509: certificate signed by unknown authority',
  CERT_REVOKED: 'x509: certificate revoked',
  CERT_SIGNATURE_FAILURE: 'x509: certificate signature is invalid',
};

/** The reason for a certificate failure, or undefined when `code` is not one. */
export function certificateProblem(code: string | undefined): string | undefined {
  return code ? TLS_REASONS[code] : undefined;
}

/**
 * The server answered a TLS hello with something that is not TLS: it speaks
 * plain HTTP. Only then may an insecure registry fall back to http://.
 */
export function isPlainHttpAnswer(code: string | undefined): boolean {
  return code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || code === 'ERR_SSL_HTTP_REQUEST';
}
