import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, requireResolved, Secret, toEnv } from './ferry.config.js';

const key = Buffer.alloc(32, 7).toString('base64');
const complete = {
  FERRY_ADMIN_TOKEN: 'a-long-enough-operator-token',
  FERRY_MASTER_KEY: key,
  DATABASE_URL: 'postgres://u:p@db:5432/ferry',
  REDIS_URL: 'redis://cache:6379',
  AZURE_STORAGE_CONNECTION_STRING: 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc;',
};

describe('loadConfig', () => {
  it('applies the operator-contract defaults', () => {
    const config = loadConfig({});
    expect(config.s3Port).toBe(9000);
    expect(config.consolePort).toBe(9001);
    expect(config.dataDir.endsWith('/.ferry')).toBe(true);
    expect(config.region).toBe('us-east-1');
    expect(config.cache.maxAgeMs).toBe(48 * 3600_000);
  });

  it('names every bad variable, and never echoes a secret', () => {
    try {
      loadConfig({ FERRY_S3_PORT: 'ninety', FERRY_MASTER_KEY: 'short-secret-value', FERRY_BOGUS: '1' });
      throw new Error('should have failed');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain('FERRY_S3_PORT');
      expect(message).toContain('FERRY_MASTER_KEY');
      expect(message).toContain('FERRY_BOGUS: unknown variable');
      expect(message).not.toContain('short-secret-value');
    }
  });

  it('requires every connection for an app and round-trips through the environment', () => {
    expect(() => requireResolved(loadConfig({}))).toThrow(/DATABASE_URL: required/);
    const config = requireResolved(loadConfig(complete));
    expect(String(config.databaseUrl)).toBe('[redacted]');
    expect(JSON.stringify(config)).not.toContain('a-long-enough-operator-token');
    const again = requireResolved(loadConfig(toEnv(config)));
    expect(again.databaseUrl.reveal()).toBe(complete.DATABASE_URL);
    expect(again.forward).toEqual(config.forward);
  });

  it('takes TLS files only in pairs', () => {
    expect(() => loadConfig({ FERRY_TLS_CERT: '/etc/ferry/cert.pem' })).toThrow(/FERRY_TLS_CERT and FERRY_TLS_KEY/);
    expect(loadConfig({ FERRY_TLS_CERT: '/c.pem', FERRY_TLS_KEY: '/k.pem' }).tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem' });
    expect(loadConfig({}).tls).toBeUndefined();
  });

  it('keeps secrets out of inspection', () => {
    const secret = new Secret('hunter2');
    expect(`${secret}`).toBe('[redacted]');
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}');
    expect(secret.reveal()).toBe('hunter2');
  });
});
