/**
 * A throwaway certificate authority and a node certificate for 127.0.0.1 and localhost,
 * so the double can serve TLS the way a secure EventStoreDB node does (a node made with
 * `es-gencert-cli create-ca` and `create-node`). Made with the `openssl` command (Debian's
 * `openssl` package), once per process, in a temporary directory removed at exit.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM files of a CA and of a node certificate it signed. */
export interface NodeCertificates {
  /** Path of the CA certificate: what a client passes as `tlsCAFile`. */
  caFile: string;
  /** The node's certificate chain and private key, PEM. */
  certChain: Buffer;
  privateKey: Buffer;
}

let made: NodeCertificates | undefined;

/** The certificates, made on first use. Throws, saying what to install, when `openssl` is missing. */
export function nodeCertificates(): NodeCertificates {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), 'esdb-double-certs-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    try {
      execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'the openssl command is not installed (apt-get install openssl)' : String((error as { stderr?: Buffer }).stderr ?? error);
      throw new Error(`The EventStoreDB double could not make its TLS certificates: ${reason}`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '3650', '-subj', '/CN=EnderCompute test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', file('node.key'), '-out', file('node.csr'), '-subj', '/CN=eventstoredb-node');
  writeFileSync(file('node.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n');
  openssl('x509', '-req', '-in', file('node.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('node.crt'), '-days', '3650', '-extfile', file('node.ext'));
  made = { caFile: file('ca.crt'), certChain: readFileSync(file('node.crt')), privateKey: readFileSync(file('node.key')) };
  return made;
}
