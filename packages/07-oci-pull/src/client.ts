// The distribution API client (https://github.com/opencontainers/distribution-spec):
// GET /v2/<name>/manifests/<ref> and /v2/<name>/blobs/<digest>, with the auth
// dance a registry asks for. One RegistryClient per registry and pull: it
// caches tokens per scope and never prints them.
import { ContainerError } from '@hull/01-uts';
import { basicHeader, type Credentials, findCredentials, parseChallenge } from './auth.js';
import { apiHost, isInsecure } from './reference.js';
import { certificateProblem, certsDirs, isPlainHttpAnswer, registryAgent, registryTlsOptions, type TlsOptions, tlsAlert } from './tls.js';

const MAX_REDIRECTS = 5;
const ATTEMPTS = 3;

/** A failure worth another try: the network, or the registry saying "later". */
export class TransientError extends Error {
  override name = 'TransientError';
}

export interface ClientOptions {
  /** the registry as written in the reference ("docker.io", "127.0.0.1:5000") */
  registry: string;
  insecure?: readonly string[];
  credentials?: Credentials;
  env?: NodeJS.ProcessEnv;
}

export class RegistryClient {
  /** Where the API is: https:// first, always; http:// only after an insecure registry answered TLS with plain HTTP. */
  base: string;
  private readonly host: string;
  /** loopback or named with --insecure-registry: plain HTTP is allowed, certificates are still checked */
  private readonly insecure: boolean;
  private readonly tls: TlsOptions;
  private readonly agent: ReturnType<typeof registryAgent>;
  private readonly credentials: Credentials | undefined;
  /** Bearer tokens by scope ("repository:library/alpine:pull"). */
  private readonly tokens = new Map<string, string>();
  /** Set once the registry asked for Basic: send it up front from then on. */
  private basic = false;

  constructor(readonly opts: ClientOptions) {
    // docker's rule for insecure registries: try HTTPS, fall back to HTTP when the
    // server does not speak TLS. Unlike docker we never ignore a bad certificate.
    this.insecure = isInsecure(opts.registry, opts.insecure ?? []);
    this.host = apiHost(opts.registry);
    this.base = `https://${this.host}`;
    this.tls = registryTlsOptions(this.host, opts.env);
    this.agent = registryAgent(this.tls);
    this.credentials = opts.credentials ?? findCredentials(opts.registry, opts.env);
  }

  /**
   * GET `path` (e.g. /v2/library/alpine/manifests/latest) for `scope`, answering
   * 401 challenges once. Retries transient failures. The caller reads the body.
   */
  async get(path: string, scope: string, headers: Record<string, string> = {}): Promise<Response> {
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      try {
        return await this.authorized(path, scope, headers);
      } catch (err) {
        if (!(err instanceof TransientError)) throw err;
        lastError = err;
      }
    }
    throw new ContainerError(lastError!.message);
  }

  private async authorized(path: string, scope: string, headers: Record<string, string>): Promise<Response> {
    let res = await this.follow(`${this.base}${path}`, { ...headers, ...this.authHeader(scope) });
    if (res.status !== 401) return res;
    const header = res.headers.get('www-authenticate') ?? '';
    await res.body?.cancel();
    const challenge = parseChallenge(header);
    if (challenge.scheme === 'bearer') {
      await this.fetchToken(challenge.params, scope);
    } else if (challenge.scheme === 'basic') {
      if (!this.credentials) throw new ContainerError(`${this.opts.registry}: authentication required (log in: add credentials to ~/.docker/config.json or REGISTRY_AUTH_FILE)`);
      this.basic = true;
    } else {
      throw new ContainerError(`${this.opts.registry}: unsupported authentication scheme ${JSON.stringify(challenge.scheme)}`);
    }
    res = await this.follow(`${this.base}${path}`, { ...headers, ...this.authHeader(scope) });
    if (res.status === 401) {
      await res.body?.cancel();
      throw new ContainerError(
        this.credentials
          ? `${this.opts.registry}: unauthorized: incorrect username or password, or no access to ${scope}`
          : `${this.opts.registry}: unauthorized: authentication required for ${scope}`,
      );
    }
    return res;
  }

  private authHeader(scope: string): Record<string, string> {
    const token = this.tokens.get(scope);
    if (token) return { authorization: `Bearer ${token}` };
    if (this.basic && this.credentials) return { authorization: basicHeader(this.credentials) };
    return {};
  }

  /** The token dance: GET realm?service=&scope=, with Basic credentials when we have them. */
  private async fetchToken(params: Record<string, string>, scope: string): Promise<void> {
    const realm = params.realm;
    if (!realm) throw new ContainerError(`${this.opts.registry}: Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new ContainerError(`${this.opts.registry}: bad token realm ${JSON.stringify(realm)}`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isInsecure(url.host, this.opts.insecure ?? []))) {
      throw new ContainerError(`${this.opts.registry}: refusing to send credentials to a plain-HTTP token realm ${url.host}`);
    }
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? scope);
    const res = await this.fetchOnce(url.toString(), this.credentials ? { authorization: basicHeader(this.credentials) } : {});
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new ContainerError(`${this.opts.registry}: unauthorized: incorrect username or password`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      if (res.status >= 500) throw new TransientError(`${this.opts.registry}: token server answered HTTP ${res.status}`);
      throw new ContainerError(`${this.opts.registry}: token server answered HTTP ${res.status}`);
    }
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new ContainerError(`${this.opts.registry}: token server gave no token`);
    this.tokens.set(scope, token);
  }

  /**
   * Follow redirects by hand: a blob GET is often redirected to a CDN, and the
   * registry's Authorization must never travel to another host.
   */
  private async follow(url: string, headers: Record<string, string>): Promise<Response> {
    const origin = new URL(url).host;
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameHost = new URL(current).host === origin;
      const hopHeaders = { ...headers };
      if (!sameHost) delete hopHeaders.authorization;
      const res = await this.fetchOnce(current, hopHeaders);
      // fetchOnce may have fallen back to http:// (an insecure registry without TLS): judge redirects from where we really are.
      if (res.url) current = res.url;
      if (res.status < 300 || res.status >= 400 || res.status === 304) {
        if (res.status === 429 || res.status >= 500) {
          await res.body?.cancel();
          throw new TransientError(`${this.opts.registry}: HTTP ${res.status} for ${new URL(current).pathname}`);
        }
        return res;
      }
      const location = res.headers.get('location');
      await res.body?.cancel();
      if (!location) throw new ContainerError(`${this.opts.registry}: redirect without a Location`);
      const next = new URL(location, current);
      // A downgrade hands the rest of the exchange to anyone on the path: the
      // blob can then be swapped (only a digest we already trust saves it) and
      // a manifest asked for by tag cannot be checked at all.
      if (new URL(current).protocol === 'https:' && next.protocol !== 'https:') {
        throw new ContainerError(`${this.opts.registry}: refusing a redirect from https to ${next.protocol.replace(/:$/, '')}://${next.host}`);
      }
      current = next.toString();
    }
    throw new ContainerError(`${this.opts.registry}: too many redirects`);
  }

  private async fetchOnce(url: string, headers: Record<string, string>): Promise<Response> {
    try {
      return await fetch(url, { headers, redirect: 'manual', dispatcher: this.agent });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const host = new URL(url).host;
      if (this.insecure && url.startsWith(`https://${this.host}/`) && isPlainHttpAnswer(cause?.code)) {
        this.base = `http://${this.host}`;
        return this.fetchOnce(`http://${url.slice('https://'.length)}`, headers);
      }
      const problem = certificateProblem(cause?.code);
      if (problem) {
        const hint = problem.includes('unknown authority') ? ` (trust its CA: put it in ${certsDirs(this.opts.env)[0] ?? '/etc/docker/certs.d'}/${host}/ca.crt)` : '';
        throw new ContainerError(`${this.opts.registry}: TLS with ${host}: ${problem}${hint}`);
      }
      if (url.startsWith('https://') && cause?.code === 'UND_ERR_SOCKET') {
        const alert = await tlsAlert(host, this.tls);
        if (alert) {
          const hint = alert.includes('certificate required') ? ` (give a client certificate: NAME.cert and NAME.key in ${certsDirs(this.opts.env)[0] ?? '/etc/docker/certs.d'}/${host}/)` : '';
          throw new ContainerError(`${this.opts.registry}: TLS with ${host}: the registry refused the TLS handshake: ${alert}${hint}`);
        }
      }
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new TransientError(`${this.opts.registry}: cannot reach ${host}: ${why}`);
    }
  }
}

/** The registry's own error message from a JSON error body ({errors:[{code,message}]}), if any. */
export async function registryError(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { errors?: { code?: string; message?: string }[] };
    const e = body.errors?.[0];
    if (e) return `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`.replace(/^: /, '');
  } catch {
    // not JSON
  }
  return `HTTP ${res.status}`;
}
