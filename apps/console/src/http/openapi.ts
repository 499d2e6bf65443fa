import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiQuery, ApiResponse, type SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';

/**
 * zod → OpenAPI for the console's controllers: a route is documented from the same zod schema its
 * ZodPipe validates with, so the document cannot drift from what the route accepts. On any console
 * controller (routes under /admin/v1 land in the operator document with the bearer requirement):
 *
 *   @Post()
 *   @ApiOperation({ summary: 'Create a plan' })
 *   @ApiZodBody(createPlanSchema)                 // request body, from the validating schema
 *   @ApiZodResponse(201, planSchema, 'the plan')  // response body, from a zod schema of the view
 *   @ApiProblems(400, 404, 409)                   // application/problem+json errors
 *   create(@Body(new ZodPipe(createPlanSchema)) body: CreatePlanBody) { … }
 *
 *   @Get()
 *   @ApiZodQuery(listPlansQuerySchema)            // one query parameter per property
 *   list(@Query(new ZodPipe(listPlansQuerySchema)) query: ListPlansQuery) { … }
 *
 * 401 and 403 (the operator token) belong on the controller: `@ApiProblems(401, 403)`.
 */

/**
 * The OpenAPI 3.0 schema object of a zod schema. `input` for what clients send (bodies, queries:
 * before transforms and defaults), `output` for what the console answers.
 */
export function openApiSchema(schema: z.ZodType, io: 'input' | 'output'): SchemaObject {
  const json = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io,
    // a transform or custom type the document cannot express fails here, at startup, not silently
    unrepresentable: 'throw',
    // the format says it; zod's regexes for these (400 characters for date-time) only make the document unreadable
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === 'date-time' || jsonSchema.format === 'uuid') delete jsonSchema.pattern;
    },
  }) as Record<string, unknown>;
  const { $schema: _dialect, $defs, ...rest } = json;
  if ($defs) throw new Error('openApiSchema: a schema with an id or a cycle needs components; inline it instead');
  return rest as SchemaObject;
}

/** The request body of a route, from the zod schema its ZodPipe validates with. */
export const ApiZodBody = (schema: z.ZodType, description?: string) =>
  ApiBody({ required: true, description, schema: openApiSchema(schema, 'input') });

/**
 * One query parameter per property of the zod schema a query's ZodPipe validates with: an object,
 * possibly behind a `.transform()` (its input side is documented).
 */
export function ApiZodQuery(schema: z.ZodType) {
  const json = openApiSchema(schema, 'input');
  if (json.type !== 'object') throw new Error('ApiZodQuery: the query schema must be an object');
  const required = new Set(json.required ?? []);
  return applyDecorators(
    ...Object.entries(json.properties ?? {}).map(([name, property]) =>
      ApiQuery({ name, required: required.has(name), description: (property as SchemaObject).description, schema: property }),
    ),
  );
}

/** A success response whose JSON body is described by a zod schema of the returned view. */
export const ApiZodResponse = (status: number, schema: z.ZodType, description: string) =>
  ApiResponse({ status, description, schema: openApiSchema(schema, 'output') });

/**
 * RFC 9457 problem document, as ProblemFilter writes it; a FerryError's details and a 500's
 * `errorId` are further members.
 */
export const problemSchema = z
  .looseObject({
    type: z.string().describe('`urn:ferry:error:<title>`'),
    title: z.string().describe('the error code, e.g. ValidationFailed, TenantNotFound'),
    status: z.number().int().describe('the HTTP status'),
    detail: z.string().describe('what went wrong, for a human'),
  })
  .describe('application/problem+json (RFC 9457)');

/** Where problemSchema sits in the document's components (buildOpenApiDocument registers it). */
export const PROBLEM_SCHEMA = 'Problem';

const problemDescriptions = {
  400: 'invalid path parameter, query or body',
  401: 'no operator token (`Authorization: Bearer <FERRY_ADMIN_TOKEN>`)',
  403: 'the operator token is not valid',
  404: 'not found',
  409: 'conflicts with the current state',
  500: 'internal error; the `errorId` is in the console log',
  503: 'a service the route needs is unavailable; retry shortly',
} as const;

export type ProblemStatus = keyof typeof problemDescriptions;

/** An error response as application/problem+json; `description` says when it happens here. */
export const ApiProblem = (status: ProblemStatus, description: string = problemDescriptions[status]) =>
  ApiResponse({
    status,
    description,
    content: { 'application/problem+json': { schema: { $ref: `#/components/schemas/${PROBLEM_SCHEMA}` } } },
  });

/** Several problem responses with their generic descriptions (on a route or a whole controller). */
export const ApiProblems = (...statuses: ProblemStatus[]) => applyDecorators(...statuses.map((status) => ApiProblem(status)));
