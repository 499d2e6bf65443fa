import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { FerryError, FerryErrorCode, type Logger } from '@ferry/common';
import { errorXml, toXml } from '@ferry/s3';
import { s3Error } from './s3-errors.js';

export const newRequestId = (): string => randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();

/** Sends an XML document with the right content type and length. */
export function sendXml(res: ServerResponse, status: number, root: string, body: object): void {
  const xml = toXml(root, body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/xml');
  res.setHeader('Content-Length', Buffer.byteLength(xml));
  res.end(xml);
}

/**
 * Turns any failure into an S3 XML error. Domain errors map through s3Error; anything else is an
 * InternalError whose id is logged, never a stack trace. HEAD responses carry no body.
 */
export function sendError(res: ServerResponse, error: unknown, context: { requestId: string; resource: string; method: string; logger: Logger }): void {
  let shape = { code: 'InternalError', status: 500 };
  let message = 'We encountered an internal error. Please try again.';
  let details: Record<string, string | number | undefined> = {};
  if (error instanceof FerryError) {
    shape = s3Error(error.code);
    message = error.message;
    details = error.details;
    if (shape.status === 500) context.logger.error({ err: error, requestId: context.requestId }, 'operator error surfaced at S3 edge');
  } else {
    context.logger.error({ err: error, requestId: context.requestId }, 'unhandled error in S3 request');
  }
  if (res.headersSent) {
    // the body already started: the only honest signal left is to cut the connection
    res.destroy();
    return;
  }
  // an error found after the object's headers were set (a pack that fails its check) must not go
  // out with them: a client would check the error body against the object's checksum
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.setHeader('x-amz-request-id', context.requestId);
  if (shape.code === 'NotModified' || context.method === 'HEAD') {
    res.statusCode = shape.status;
    if (error instanceof FerryError && error.code === FerryErrorCode.NotModified) {
      for (const [name, value] of Object.entries(details)) if (value !== undefined) res.setHeader(name, String(value));
    }
    res.end();
    return;
  }
  if (shape.code === 'SlowDown') res.setHeader('Retry-After', '5');
  const xml = errorXml(shape.code, message, context.resource, context.requestId, details);
  res.statusCode = shape.status;
  res.setHeader('Content-Type', 'application/xml');
  res.setHeader('Content-Length', Buffer.byteLength(xml));
  res.setHeader('Connection', shape.status >= 500 || shape.code === 'IncompleteBody' ? 'close' : 'keep-alive');
  res.end(xml);
}
