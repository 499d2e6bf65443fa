import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import request from 'supertest';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { OpenAPIObject, OperationObject, SchemaObject } from '@nestjs/swagger';
import type { z } from 'zod';
import { freshDatabase, removeTestData, testConfig } from '@ferry/testing';
import { flushQueueKeys } from '../support/faults.js';
import type { ResolvedConfig } from '@ferry/config';
import { createConsoleApp } from '../../apps/console/src/console.app.js';
import { problemSchema } from '../../apps/console/src/http/openapi.js';
import { OPENAPI_DOCUMENT_PATH, OPENAPI_UI_PATH } from '../../apps/console/src/http/openapi.document.js';
import * as views from '../../apps/console/src/admin/tenants.openapi.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
type Method = (typeof METHODS)[number];

/** TenantsController's routes, as the README lists them. */
const TENANT_ROUTES = [
  'DELETE /admin/v1/tenants/{id}',
  'DELETE /admin/v1/tenants/{id}/keys/{accessKeyId}',
  'GET /admin/v1/tenants',
  'GET /admin/v1/tenants/{id}',
  'GET /admin/v1/tenants/{id}/alerts',
  'GET /admin/v1/tenants/{id}/keys',
  'GET /admin/v1/tenants/{id}/usage',
  'GET /admin/v1/tenants/{id}/verify/{runId}',
  'PATCH /admin/v1/tenants/{id}',
  'POST /admin/v1/tenants',
  'POST /admin/v1/tenants/{id}/catalog/rebuild',
  'POST /admin/v1/tenants/{id}/keys',
  'POST /admin/v1/tenants/{id}/keys/rotate',
  'POST /admin/v1/tenants/{id}/verify',
];

/**
 * Controllers whose operations must be fully described (summary, error responses), by the
 * operationId prefix buildOpenApiDocument gives them. Every other /admin/v1 route must still be in
 * the document, answer 2xx and need the token; add a controller here once it is decorated.
 */
const DESCRIBED_CONTROLLERS = ['Tenants', 'Plans', 'Invoices', 'UsageHistory', 'Limits'];

describe('operator API document (OpenAPI)', () => {
  let app: NestExpressApplication;
  let config: ResolvedConfig;
  let dropDb: () => Promise<void>;
  let auth: { Authorization: string };
  let doc: OpenAPIObject;

  beforeAll(async () => {
    const db = await freshDatabase();
    dropDb = db.drop;
    config = await testConfig(db.url, inject('azurite'));
    auth = { Authorization: `Bearer ${config.adminToken.reveal()}` };
    app = await createConsoleApp(config);
    await app.init();
    const res = await http().get(OPENAPI_DOCUMENT_PATH).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = res.body as OpenAPIObject;
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

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((method) => item[method]).map((method) => ({ path, method, op: item[method] as OperationObject })),
    );

  const operation = (method: Method, path: string): OperationObject => {
    const op = doc.paths[path]?.[method] as OperationObject | undefined;
    if (!op) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
    return op;
  };

  const described = (op: OperationObject) => DESCRIBED_CONTROLLERS.some((name) => op.operationId?.startsWith(`${name}_`));

  /** The console's /admin/v1 routes as express has them, in the document's notation. */
  const registeredAdminRoutes = () => {
    const router = (app.getHttpAdapter().getInstance() as { router: { stack: { route?: { path: unknown; methods: Record<string, boolean> } }[] } }).router;
    return router.stack
      .flatMap((layer) => (layer.route && typeof layer.route.path === 'string' ? [{ path: layer.route.path, methods: layer.route.methods }] : []))
      .filter(({ path }) => path.startsWith('/admin/v1/') && path !== OPENAPI_DOCUMENT_PATH && !path.startsWith(OPENAPI_UI_PATH))
      .flatMap(({ path, methods }) =>
        Object.keys(methods)
          .filter((method) => methods[method] && method !== '_all')
          .map((method) => `${method.toUpperCase()} ${path.replace(/:(\w+)/g, '{$1}')}`),
      )
      .sort();
  };

  /** A real answer: its status is documented for the route, and its body has the documented shape. */
  const expectDocumented = (method: Method, path: string, res: request.Response, schema?: z.ZodType) => {
    const op = operation(method, path);
    expect(Object.keys(op.responses), `${method} ${path} answered ${res.status}`).toContain(String(res.status));
    if (res.status >= 400) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(() => problemSchema.parse(res.body)).not.toThrow();
    } else if (schema) {
      const parsed = schema.safeParse(res.body);
      expect(parsed.error?.issues, `${method} ${path} body`).toBeUndefined();
    }
  };

  it('serves an OpenAPI 3 document, titled and versioned, without the operator token', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: 'Ferry operator API', version: pkg.version });
    expect(doc.components?.securitySchemes?.adminToken).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.components?.schemas?.Problem).toMatchObject({ type: 'object', required: ['type', 'title', 'status', 'detail'] });
  });

  it('is a valid OpenAPI document', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never, { resolve: { external: false } })).resolves.toBeTruthy();
  });

  it('documents every route the console registers under /admin/v1, and nothing else', () => {
    const registered = registeredAdminRoutes();
    // the derivation itself is checked against the routes we know, so an empty one cannot pass
    expect(registered).toEqual(expect.arrayContaining(TENANT_ROUTES));
    const all = operations();
    expect(all.map(({ method, path }) => `${method.toUpperCase()} ${path}`).sort()).toEqual(registered);
    const tenants = all.filter(({ op }) => op.operationId?.startsWith('Tenants_'));
    expect(tenants.map(({ method, path }) => `${method.toUpperCase()} ${path}`).sort()).toEqual(TENANT_ROUTES);
    expect(Object.keys(doc.paths)).not.toContain('/healthz');
  });

  it('gives every operation a 2xx answer, its path parameters and the bearer requirement', () => {
    for (const { path, method, op } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(Object.keys(op.responses).some((status) => /^2\d\d$/.test(status)), where).toBe(true);
      expect(op.security ?? doc.security, where).toEqual([{ adminToken: [] }]);
      for (const name of path.match(/\{(\w+)\}/g)?.map((p) => p.slice(1, -1)) ?? []) {
        expect(op.parameters, `${where} ${name}`).toContainEqual(expect.objectContaining({ name, in: 'path', required: true }));
      }
    }
  });

  it('gives each described operation a summary, a response schema and problem+json errors', () => {
    const ops = operations().filter(({ op }) => described(op));
    expect(ops.length).toBeGreaterThanOrEqual(TENANT_ROUTES.length);
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.summary, where).toBeTruthy();
      const [success, answer] = Object.entries(op.responses).find(([status]) => /^2\d\d$/.test(status)) ?? [];
      if (success !== '204') expect(answer, where).toMatchObject({ content: { 'application/json': { schema: { type: 'object' } } } });
      const problems = ['401', '403', '500', ...(path.includes('{') ? ['400', '404'] : [])];
      for (const status of problems) {
        expect(op.responses[status], `${where} ${status}`).toMatchObject({
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        });
      }
    }
  });

  it('is right that every documented operation needs the token', async () => {
    for (const { path, method } of operations()) {
      const url = path.replace(/\{\w+\}/g, () => randomUUID());
      const res = await http()[method](url).expect(401);
      expect(res.body.title, `${method} ${path}`).toBe('Unauthenticated');
    }
  });

  it('describes bodies and queries from the zod schemas the routes validate with', () => {
    const create = operation('post', '/admin/v1/tenants').requestBody as { required: boolean; content: Record<string, { schema: SchemaObject }> };
    expect(create.required).toBe(true);
    const body = create.content['application/json'].schema;
    expect(body.required).toEqual(['name', 'quotaBytes']);
    expect(body.additionalProperties).toBe(false);
    expect(body.properties).toMatchObject({
      name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$' },
      quotaBytes: { type: 'integer', minimum: 0 },
      leaseExpiresAt: { type: 'string', format: 'date-time', nullable: true },
    });
    const patch = operation('patch', '/admin/v1/tenants/{id}').requestBody as { content: Record<string, { schema: SchemaObject }> };
    expect(Object.keys(patch.content['application/json'].schema.properties ?? {}).sort()).toEqual(['blockReads', 'leaseExpiresAt', 'quotaBytes', 'suspended']);

    expect(operation('get', '/admin/v1/tenants/{id}/alerts').parameters).toContainEqual(
      expect.objectContaining({ name: 'limit', in: 'query', required: false, schema: expect.objectContaining({ type: 'integer', default: 100, maximum: 1000 }) }),
    );
    expect(operation('delete', '/admin/v1/tenants/{id}').parameters).toContainEqual(
      expect.objectContaining({ name: 'force', in: 'query', required: false, schema: expect.objectContaining({ enum: ['true', 'false'] }) }),
    );
    expect(operation('get', '/admin/v1/tenants/{id}').parameters).toContainEqual(
      expect.objectContaining({ name: 'id', in: 'path', schema: expect.objectContaining({ format: 'uuid' }) }),
    );
    // nothing but the path, query and body parameters the routes declare
    for (const { path, method, op } of operations()) {
      for (const param of (op.parameters ?? []) as { name: string; in: string }[]) {
        expect(['path', 'query'], `${method} ${path} ${param.name}`).toContain(param.in);
      }
    }
  });

  it('answers with the documented statuses and shapes', async () => {
    const created = await http().post('/admin/v1/tenants').set(auth).send({ name: 'openapi', quotaBytes: 1000 });
    expectDocumented('post', '/admin/v1/tenants', created, views.createdTenantSchema);
    const id = created.body.id as string;
    const t = `/admin/v1/tenants/${id}`;

    expectDocumented('post', '/admin/v1/tenants', await http().post('/admin/v1/tenants').set(auth).send({ name: 'openapi', quotaBytes: 1 }));
    expectDocumented('post', '/admin/v1/tenants', await http().post('/admin/v1/tenants').set(auth).send({ name: 'Bad' }));
    expectDocumented('get', '/admin/v1/tenants', await http().get('/admin/v1/tenants').set(auth), views.tenantListSchema);
    expectDocumented('get', '/admin/v1/tenants/{id}', await http().get(t).set(auth), views.tenantWithUsageSchema);
    expectDocumented('get', '/admin/v1/tenants/{id}', await http().get(`/admin/v1/tenants/${randomUUID()}`).set(auth));
    expectDocumented('get', '/admin/v1/tenants/{id}', await http().get('/admin/v1/tenants/not-a-uuid').set(auth));
    expectDocumented('get', '/admin/v1/tenants/{id}/usage', await http().get(`${t}/usage`).set(auth), views.usageSchema);
    // the test config's ledger port is 0: nothing answers, so the documented 503
    const alerts = await http().get(`${t}/alerts?limit=5`).set(auth);
    expect(alerts.status).toBe(503);
    expectDocumented('get', '/admin/v1/tenants/{id}/alerts', alerts);
    expectDocumented('patch', '/admin/v1/tenants/{id}', await http().patch(t).set(auth).send({ blockReads: true, leaseExpiresAt: null }), views.tenantSchema);
    expectDocumented('post', '/admin/v1/tenants/{id}/keys/rotate', await http().post(`${t}/keys/rotate`).set(auth), views.dataKeySchema);

    const key = await http().post(`${t}/keys`).set(auth).send({ description: 'docs' });
    expectDocumented('post', '/admin/v1/tenants/{id}/keys', key, views.createdAccessKeySchema);
    expectDocumented('get', '/admin/v1/tenants/{id}/keys', await http().get(`${t}/keys`).set(auth), views.accessKeyListSchema);
    const revoked = await http().delete(`${t}/keys/${key.body.accessKeyId}`).set(auth);
    expectDocumented('delete', '/admin/v1/tenants/{id}/keys/{accessKeyId}', revoked, views.accessKeySchema);
    expectDocumented('delete', '/admin/v1/tenants/{id}/keys/{accessKeyId}', await http().delete(`${t}/keys/FRYNOSUCHKEY`).set(auth));

    const verify = await http().post(`${t}/verify`).set(auth);
    expectDocumented('post', '/admin/v1/tenants/{id}/verify', verify, views.verifyQueuedSchema);
    const run = await http().get(`${t}/verify/${verify.body.runId}`).set(auth);
    expectDocumented('get', '/admin/v1/tenants/{id}/verify/{runId}', run, views.verifyRunSchema);
    expectDocumented('get', '/admin/v1/tenants/{id}/verify/{runId}', await http().get(`${t}/verify/${randomUUID()}`).set(auth));

    expectDocumented('post', '/admin/v1/tenants/{id}/catalog/rebuild', await http().post(`${t}/catalog/rebuild`).set(auth), views.rebuildReportSchema);

    expectDocumented('delete', '/admin/v1/tenants/{id}', await http().delete(`${t}?force=maybe`).set(auth));
    const deleted = await http().delete(t).set(auth);
    expect(deleted.status).toBe(204);
    expectDocumented('delete', '/admin/v1/tenants/{id}', deleted);
  });

  it('serves Swagger UI from local assets', async () => {
    const page = await http().get(OPENAPI_UI_PATH).expect(200);
    expect(page.text).toContain('swagger-ui');
    expect(page.text).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    const init = await http().get(`${OPENAPI_UI_PATH}/swagger-ui-init.js`).expect(200);
    expect(init.text).toContain('"validatorUrl": null');
    await http().get(`${OPENAPI_UI_PATH}/swagger-ui-bundle.js`).expect(200);
  });
});
