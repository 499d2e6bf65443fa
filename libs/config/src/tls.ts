import { readFileSync } from 'node:fs';
import type { FerryConfig } from './ferry.config.js';

/** The certificate and key for Node's TLS servers, read once at start-up; undefined serves plain HTTP. */
export function tlsOptions(config: Pick<FerryConfig, 'tls'>): { cert: Buffer; key: Buffer } | undefined {
  if (!config.tls) return undefined;
  return { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
}

export const schemeOf = (config: Pick<FerryConfig, 'tls'>): 'http' | 'https' => (config.tls ? 'https' : 'http');
