import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { appMain, appNodeFlags } from '../../apps/ferry/src/app-env.js';
import { AZURITE_NODE_FLAGS } from '../../apps/ferry/src/embedded/azurite.js';
import { freePort } from '../../apps/ferry/src/embedded/free-port.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

interface Launched {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** `npm start`'s own command, run as an operator would, with nothing configured but ports and a data directory. */
function launch(env: Record<string, string>): Launched {
  const child = spawn(process.execPath, [join(root, 'dist/apps/ferry/src/main.js'), 'start'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (data: Buffer) => (out += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (err += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function banner(launched: Launched, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!launched.stdout().includes('Press Ctrl-C to stop.')) {
    if (launched.child.exitCode !== null) throw new Error(`launcher exited early:\n${launched.stderr().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`no banner after ${timeoutMs} ms:\n${launched.stderr().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return launched.stdout();
}

async function processesUsing(dataDir: string): Promise<string> {
  const { stdout } = await run('ps', ['-eo', 'pid,args']);
  return stdout
    .split('\n')
    .filter((line) => line.includes(dataDir) && !line.includes(' ps '))
    .join('\n');
}

describe('npm start (the launcher)', () => {
  let dataDir: string;

  beforeAll(async () => {
    await run(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
    dataDir = await mkdtemp(join(tmpdir(), 'ferry-launch-'));
  }, 120_000);

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts everything embedded, serves S3, stops cleanly on Ctrl-C, and restarts on the same data', async () => {
    const [s3Port, consolePort] = [await freePort(), await freePort()];
    const env = { FERRY_DATA_DIR: dataDir, FERRY_S3_PORT: String(s3Port), FERRY_CONSOLE_PORT: String(consolePort), FERRY_LEDGER_PORT: '0' };
    const first = launch(env);
    const printed = await banner(first);
    expect(printed).toContain(`S3 endpoint:    http://127.0.0.1:${s3Port}`);
    expect(printed).toContain(`Console:        http://127.0.0.1:${consolePort}`);
    const token = /Operator token: (\S+)/.exec(printed)![1];
    expect((await fetch(`http://127.0.0.1:${s3Port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${consolePort}/healthz`)).status).toBe(200);

    const created = await fetch(`http://127.0.0.1:${consolePort}/admin/v1/tenants`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'acme', quotaBytes: 10737418240 }),
    });
    expect(created.status).toBe(201);
    const tenant = (await created.json()) as { id: string; accessKeyId: string; secretAccessKey: string };
    const s3 = new S3Client({
      endpoint: `http://127.0.0.1:${s3Port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'keep' }));
    await s3.send(new PutObjectCommand({ Bucket: 'keep', Key: 'note.txt', Body: 'survives a restart' }));
    // the apps run as the build bundled them: the worker's threads compress and encrypt the object
    // into a pack in Azurite, which the usage route then counts
    const usage = async () =>
      (await (await fetch(`http://127.0.0.1:${consolePort}/admin/v1/tenants/${tenant.id}/usage`, { headers: { Authorization: `Bearer ${token}` } })).json()) as {
        logicalBytes: number;
        storedBytes: number;
      };
    await expect.poll(async () => (await usage()).storedBytes, { timeout: 30_000, interval: 200 }).toBeGreaterThan(0);
    expect((await usage()).logicalBytes).toBe('survives a restart'.length);
    // the embedded Azurite runs with its heap floor (AZURITE_NODE_FLAGS), which node accepted
    const azuriteProcess = (await processesUsing(dataDir)).split('\n').find((line) => line.includes('azurite'));
    expect(azuriteProcess).toContain(` ${AZURITE_NODE_FLAGS.join(' ')} `);

    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(await processesUsing(dataDir)).toBe('');

    // the second start also switches both ports to TLS with the operator's certificate
    const certFile = join(dataDir, 'cert.pem');
    const keyFile = join(dataDir, 'key.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile]);
    const second = launch({ ...env, FERRY_TLS_CERT: certFile, FERRY_TLS_KEY: keyFile });
    const again = await banner(second);
    expect(again).toContain(`Operator token: ${token}`);
    expect(again).toContain(`S3 endpoint:    https://127.0.0.1:${s3Port}`);
    const secure = new S3Client({
      endpoint: `https://127.0.0.1:${s3Port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey },
      requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: await readFile(certFile) }) }),
    });
    const got = await secure.send(new GetObjectCommand({ Bucket: 'keep', Key: 'note.txt' }));
    expect(await got.Body!.transformToString()).toBe('survives a restart');
    s3.destroy();
    secure.destroy();
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(await processesUsing(dataDir)).toBe('');
  }, 240_000);

  it('refuses a bad variable with a message naming it', async () => {
    const bad = launch({ FERRY_DATA_DIR: dataDir, FERRY_S3_PORT: 'not-a-port' });
    expect(await bad.exited).toBe(1);
    expect(bad.stderr()).toContain('FERRY_S3_PORT');
    expect(bad.stderr()).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('an app the launcher starts writes stack traces that name the TypeScript sources, not the bundle', async () => {
    // started with the launcher's flags, the worker meets a variable it does not know before it does
    // anything else, and ends with that error and its stack on stderr
    const failed = await run(process.execPath, [...appNodeFlags('worker'), appMain(join(root, 'dist'), 'worker')], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', FERRY_NOT_A_SETTING: '1' },
    }).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(1);
    const stderr = failed?.stderr ?? '';
    expect(stderr).toContain('FERRY_NOT_A_SETTING: unknown variable');
    expect(stderr).toMatch(new RegExp(`at loadConfig \\(${root}/libs/config/src/ferry\\.config\\.ts:\\d+:\\d+\\)`));
    expect(stderr).toMatch(new RegExp(`${root}/apps/worker/src/main\\.ts:\\d+:\\d+`));
    expect(stderr).not.toMatch(/^\s+at .*bundle\/worker\.js:/m);
    // Node prints the line of the bundle the error was thrown from, whole, above the stack
    expect(Math.max(...stderr.split('\n').map((line) => line.length))).toBeLessThan(400);
  }, 30_000);

  it('says in one line that Redis is missing when neither REDIS_URL nor redis-server is there', async () => {
    const noRedis = launch({ FERRY_DATA_DIR: dataDir, PATH: '/nonexistent' });
    expect(await noRedis.exited).toBe(1);
    expect(noRedis.stderr().trim()).toBe(
      'ferry: REDIS_URL is not set and no redis-server is on PATH: install Redis (apt-get install redis-server) or set REDIS_URL',
    );
  }, 30_000);
});
