// Certificates for TLS tests, made by openssl: a CA, and server or client
// certificates it signs. Kinds a registry test needs to be refused:
// a CA the client does not trust, a name that does not match, an expired
// certificate (`x509 -days -1` gives a notAfter in the past).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed CA in `dir` named `name` (name.crt, name.key). */
export function makeCA(dir: string, name: string): CertFiles {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.key, '-out', files.cert, '-days', '2',
    '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return files;
}

export interface IssueOptions {
  /** subjectAltName entries, e.g. ['IP:127.0.0.1', 'DNS:localhost'] */
  san: string[];
  /** validity in days; -1 makes a certificate that has already expired */
  days?: number;
  /** a client certificate (extendedKeyUsage clientAuth) instead of a server one */
  client?: boolean;
}

/** A certificate for `name`, signed by `ca`, in `dir` (name.crt or name.cert for a client, and name.key). */
export function issueCert(ca: CertFiles, dir: string, name: string, opts: IssueOptions): CertFiles {
  const files = { cert: join(dir, `${name}.${opts.client ? 'cert' : 'crt'}`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.key, '-out', csr, '-subj', `/CN=${name}`]);
  writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      ...(opts.san.length ? [`subjectAltName=${opts.san.join(',')}`] : []),
      `extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}`,
    ].join('\n') + '\n',
  );
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', files.cert, '-days', String(opts.days ?? 2), '-extfile', ext]);
  return files;
}
