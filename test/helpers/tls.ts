// A self-signed certificate for 127.0.0.1, made by openssl for a test (nothing
// downloaded; ECDSA P-256, a day's validity).
import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Writes NAME.crt and NAME.key into dir; returns their paths. */
export function selfSignedCert(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=ctscope', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}
