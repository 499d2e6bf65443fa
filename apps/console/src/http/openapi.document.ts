import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { openApiSchema, problemSchema, PROBLEM_SCHEMA } from './openapi.js';

const ADMIN_PREFIX = '/admin/v1/';
export const OPENAPI_DOCUMENT_PATH = '/admin/v1/openapi.json';
export const OPENAPI_UI_PATH = '/admin/v1/docs';
/** The security scheme every operator route requires. */
export const ADMIN_TOKEN_SCHEME = 'adminToken';

/** package.json's version; found by walking up, as the console runs both from source and from dist/. */
function ferryVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ferry' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) throw new Error("Ferry's package.json not found above the console's sources");
  }
}

/**
 * The operator API's OpenAPI 3 document: every console route under /admin/v1 (whatever controller
 * serves it), each requiring the bearer token — AdminTokenGuard guards them all. A public route
 * under /admin/v1 would have to say so with `@ApiSecurity({})`. /healthz is not part of it.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Ferry operator API')
    .setDescription('Tenants, their access keys, usage and maintenance. Errors are application/problem+json (RFC 9457).')
    .setVersion(ferryVersion())
    // addSecurity, not addBearerAuth, which would call the opaque token a JWT
    .addSecurity(ADMIN_TOKEN_SCHEME, { type: 'http', scheme: 'bearer', description: 'the operator token, FERRY_ADMIN_TOKEN' })
    .addSecurityRequirements(ADMIN_TOKEN_SCHEME)
    .addTag('tenants', 'tenants, their access keys, usage and maintenance')
    .build();
  config.components = { ...config.components, schemas: { [PROBLEM_SCHEMA]: openApiSchema(problemSchema, 'output') } };
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controller, method) => `${controller.replace(/Controller$/, '')}_${method}`,
  });
  document.paths = Object.fromEntries(Object.entries(document.paths).filter(([path]) => path.startsWith(ADMIN_PREFIX)));
  return document;
}

/**
 * Serves the document at GET /admin/v1/openapi.json and Swagger UI (swagger-ui-dist, from
 * node_modules, nothing from a CDN) at /admin/v1/docs, both without the token: they describe the
 * API's shape, which is public in the source anyway, and hold no tenant data; tools and the UI can
 * read them before anyone has a token. Built once, at startup, so a broken decorator fails the
 * boot rather than a request.
 */
export function serveOpenApi(app: NestExpressApplication): void {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup(OPENAPI_UI_PATH, app, document, {
    jsonDocumentUrl: OPENAPI_DOCUMENT_PATH,
    raw: ['json'],
    customSiteTitle: 'Ferry operator API',
    // swagger-ui would otherwise fetch a badge from validator.swagger.io, and keep the token in localStorage
    swaggerOptions: { validatorUrl: null, persistAuthorization: false },
  });
}
