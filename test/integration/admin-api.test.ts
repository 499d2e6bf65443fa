import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import request from 'supertest';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { freshDatabase, removeTestData, testConfig } from '@ferry/testing';
import { flushQueueKeys } from '../support/faults.js';
import type { ResolvedConfig } from '@ferry/config';
import { createConsoleApp } from '../../apps/console/src/console.app.js';

describe('admin API', () => {
  let app: NestExpressApplication;
  let config: ResolvedConfig;
  let dropDb: () => Promise<void>;
  let auth: { Authorization: string };

  beforeAll(async () => {
    const db = await freshDatabase();
    dropDb = db.drop;
    config = await testConfig(db.url, inject('azurite'));
    auth = { Authorization: `Bearer ${config.adminToken.reveal()}` };
    app = await createConsoleApp(config);
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await dropDb?.();
    if (config) {
      // the Redis server outlives the run: leave none of this file's jobs (tenant records) behind
      await flushQueueKeys(config);
      await removeTestData(config);
    }
  });

  const http = () => request(app.getHttpServer());

  it('answers /healthz', async () => {
    await http().get('/healthz').expect(200, { status: 'ok' });
  });

  it('refuses requests without or with a wrong operator token', async () => {
    const missing = await http().get('/admin/v1/tenants').expect(401);
    expect(missing.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(missing.body.title).toBe('Unauthenticated');
    await http().get('/admin/v1/tenants').set('Authorization', 'Bearer not-the-token').expect(403);
    await http().post('/admin/v1/tenants').send({ name: 'x1', quotaBytes: 1 }).expect(401);
  });

  it('creates a tenant with a first access key and shows its secret once', async () => {
    const created = await http().post('/admin/v1/tenants').set(auth).send({ name: 'acme', quotaBytes: 10737418240 }).expect(201);
    expect(created.body).toMatchObject({ name: 'acme', quotaBytes: 10737418240, status: 'active' });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.body.accessKeyId).toMatch(/^FRY[A-Z2-7]{17}$/);
    expect(created.body.secretAccessKey).toHaveLength(40);

    const fetched = await http().get(`/admin/v1/tenants/${created.body.id}`).set(auth).expect(200);
    expect(fetched.body).toMatchObject({ quotaBytes: 10737418240, logicalBytes: 0, storedBytes: 0, pendingBytes: 0, objects: 0 });
    expect(JSON.stringify(fetched.body)).not.toContain(created.body.secretAccessKey);

    const usage = await http().get(`/admin/v1/tenants/${created.body.id}/usage`).set(auth).expect(200);
    expect(usage.body).toEqual({
      quotaBytes: 10737418240,
      logicalBytes: 0,
      quotaUsedBytes: 0,
      storedBytes: 0,
      pendingBytes: 0,
      objects: 0,
      dedupRatio: null,
      compressionRatio: null,
    });

    const keys = await http().get(`/admin/v1/tenants/${created.body.id}/keys`).set(auth).expect(200);
    expect(keys.body.keys).toHaveLength(1);
    expect(keys.body.keys[0]).toMatchObject({ accessKeyId: created.body.accessKeyId, status: 'active' });
    expect(JSON.stringify(keys.body)).not.toContain(created.body.secretAccessKey);
  });

  it('rejects invalid tenant bodies and duplicate names with problem documents', async () => {
    const bad = await http().post('/admin/v1/tenants').set(auth).send({ name: 'Bad Name', quotaBytes: -1 }).expect(400);
    expect(bad.body.title).toBe('ValidationFailed');
    expect(bad.body.detail).toContain('name');
    expect(bad.body.detail).toContain('quotaBytes');
    await http().post('/admin/v1/tenants').set(auth).send({ name: 'dup', quotaBytes: 1 }).expect(201);
    const dup = await http().post('/admin/v1/tenants').set(auth).send({ name: 'dup', quotaBytes: 1 }).expect(409);
    expect(dup.body.title).toBe('TenantExists');
    const malformed = await http()
      .post('/admin/v1/tenants')
      .set(auth)
      .set('Content-Type', 'application/json')
      .send('{"name":')
      .expect(400);
    expect(JSON.stringify(malformed.body)).not.toMatch(/at .*\.js/);
  });

  it('lists, updates, suspends and deletes tenants', async () => {
    const { body: t } = await http().post('/admin/v1/tenants').set(auth).send({ name: 'beta', quotaBytes: 100 }).expect(201);
    const list = await http().get('/admin/v1/tenants').set(auth).expect(200);
    expect(list.body.tenants.map((x: { name: string }) => x.name)).toContain('beta');
    const patched = await http().patch(`/admin/v1/tenants/${t.id}`).set(auth).send({ quotaBytes: 200, suspended: true }).expect(200);
    expect(patched.body).toMatchObject({ quotaBytes: 200, status: 'suspended' });
    await http().patch(`/admin/v1/tenants/${t.id}`).set(auth).send({}).expect(400);
    await http().delete(`/admin/v1/tenants/${t.id}`).set(auth).expect(204);
    await http().get(`/admin/v1/tenants/${t.id}`).set(auth).expect(404);
    await http().get('/admin/v1/tenants/not-a-uuid').set(auth).expect(400);
  });

  it('creates, lists and revokes extra access keys', async () => {
    const { body: t } = await http().post('/admin/v1/tenants').set(auth).send({ name: 'gamma', quotaBytes: 100 }).expect(201);
    const key = await http().post(`/admin/v1/tenants/${t.id}/keys`).set(auth).send({ description: 'veeam' }).expect(201);
    expect(key.body).toMatchObject({ description: 'veeam', status: 'active' });
    expect(key.body.secretAccessKey).toHaveLength(40);
    const revoked = await http().delete(`/admin/v1/tenants/${t.id}/keys/${key.body.accessKeyId}`).set(auth).expect(200);
    expect(revoked.body.status).toBe('revoked');
    const { body: other } = await http().post('/admin/v1/tenants').set(auth).send({ name: 'delta', quotaBytes: 1 }).expect(201);
    // a tenant cannot be used to revoke another tenant's key
    await http().delete(`/admin/v1/tenants/${other.id}/keys/${t.accessKeyId}`).set(auth).expect(404);
    const keys = await http().get(`/admin/v1/tenants/${t.id}/keys`).set(auth).expect(200);
    expect(keys.body.keys.find((k: { accessKeyId: string }) => k.accessKeyId === t.accessKeyId).status).toBe('active');
  });
});
