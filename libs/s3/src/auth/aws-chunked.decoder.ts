import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { chunkSignature, trailerSignature } from './chunk-signing.js';
import {
  EMPTY_SHA256,
  STREAMING_SIGNED_PAYLOAD,
  STREAMING_UNSIGNED_PAYLOAD_TRAILER,
  type AwsChunkedMode,
} from './payload-hash.js';
import { signaturesEqual } from './signing-key.js';
import type { SigningContext } from './sigv4.js';

export interface AwsChunkedDecoderOptions {
  /** The request's `x-amz-content-sha256`. */
  mode: AwsChunkedMode;
  /** What verifySignature() returned; required for the two signed modes. */
  signing?: SigningContext;
  /** `x-amz-decoded-content-length`, when the request sent one. */
  decodedContentLength?: number;
  /** Longest chunk-size or trailer line accepted, CRLF excluded. Default 4 KiB. */
  maxLineBytes?: number;
  /** Most bytes of trailer lines accepted in all. Default 4 KiB. */
  maxTrailerBytes?: number;
}

type State = 'size' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'done';

const TRAILER_SIGNATURE = 'x-amz-trailer-signature';
const SIGNED_SIZE_LINE = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/;
const UNSIGNED_SIZE_LINE = /^([0-9a-fA-F]{1,16})$/;
const TRAILER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Decodes an `aws-chunked` body (`hex-size[;chunk-signature=sig]\r\n<data>\r\n` … `0…\r\n`, then
 * trailers and a blank line), passing data on as it arrives and hashing it incrementally. A chunk's
 * signature is checked when the chunk ends, so a chunk's bytes have already gone downstream when a
 * bad signature is found: the consumer must treat the body as unverified until this stream ends
 * without error, and acknowledge nothing before that.
 *
 * Errors are FerryErrors, emitted as stream errors:
 * - the body ends early → IncompleteBody, as does a total below `decodedContentLength`;
 * - a chunk would take the total past `decodedContentLength` → BodyTooLong, raised as soon as its
 *   size line arrives (before any excess byte is passed on) rather than waiting for the end;
 * - bad framing, oversized lines or trailers → InvalidRequest; a bad chunk or trailer signature, or
 *   a missing trailer signature → SignatureDoesNotMatch.
 *
 * Tolerated, because SDKs and the AWS documentation differ on them: a blank line between the final
 * chunk and the trailers, and a missing CRLF / blank line after the last trailer at end of input.
 * Neither can hide tampering: trailers are covered by their signature (signed mode) or are
 * checksums that are themselves verified (unsigned mode).
 */
export class AwsChunkedDecoder extends Transform {
  /** Trailing headers (lowercase names), complete once the stream has ended without error. */
  readonly trailers = new Map<string, string>();

  private readonly signing: SigningContext | undefined;
  private readonly line: Buffer;
  private lineLength = 0;
  private state: State = 'size';
  private remaining = 0;
  private decoded = 0;
  private chunkHash: Hash | undefined;
  private claimedSignature = '';
  private previousSignature = '';
  private trailerBytes = 0;
  private leadingBlankSeen = false;
  private trailerSignatureSeen = false;
  private completeAtEnd = false;

  constructor(private readonly options: AwsChunkedDecoderOptions) {
    super();
    const signed = options.mode !== STREAMING_UNSIGNED_PAYLOAD_TRAILER;
    if (signed && !options.signing) throw new Error(`aws-chunked mode ${options.mode} needs a signing context`);
    this.signing = signed ? options.signing : undefined;
    this.previousSignature = options.signing?.seedSignature ?? '';
    // +1 leaves room for the CR before the LF.
    this.line = Buffer.allocUnsafe((options.maxLineBytes ?? 4096) + 1);
  }

  /** Bytes of object data passed on so far. */
  get decodedBytes(): number {
    return this.decoded;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      callback();
    } catch (error) {
      callback(toError(error));
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.finish();
      callback();
    } catch (error) {
      callback(toError(error));
    }
  }

  private consume(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.state) {
        case 'size':
        case 'trailer': {
          const newline = chunk.indexOf(LF, pos);
          const end = newline === -1 ? chunk.length : newline;
          this.appendToLine(chunk, pos, end);
          if (newline === -1) return;
          pos = newline + 1;
          this.onLine(this.takeLine());
          break;
        }
        case 'data': {
          const take = Math.min(this.remaining, chunk.length - pos);
          const piece = chunk.subarray(pos, pos + take);
          this.chunkHash?.update(piece);
          this.decoded += take;
          this.remaining -= take;
          pos += take;
          this.push(piece);
          if (this.remaining === 0) {
            this.verifyChunk(this.chunkHash?.digest('hex'));
            this.state = 'data-cr';
          }
          break;
        }
        case 'data-cr':
        case 'data-lf': {
          const expected = this.state === 'data-cr' ? CR : LF;
          if (chunk[pos] !== expected) throw invalid('Chunk data is not followed by CRLF.');
          pos++;
          this.state = this.state === 'data-cr' ? 'data-lf' : 'size';
          break;
        }
        case 'done':
          throw invalid('Data follows the end of the aws-chunked body.');
      }
    }
  }

  private finish(): void {
    if (this.state === 'trailer' && this.lineLength > 0 && this.options.mode !== STREAMING_SIGNED_PAYLOAD) {
      // The last trailer line may arrive without its CRLF; take it as it is.
      const text = this.line.toString('utf8', 0, this.lineLength);
      this.lineLength = 0;
      if (text !== '\r') this.onLine(text.endsWith('\r') ? text.slice(0, -1) : text);
    }
    if (this.state === 'trailer' && this.completeAtEnd) this.state = 'done';
    if (this.state !== 'done') {
      throw new FerryError(
        FerryErrorCode.IncompleteBody,
        'The aws-chunked body ended before its final chunk and trailers.',
      );
    }
  }

  private appendToLine(source: Buffer, start: number, end: number): void {
    if (this.lineLength + (end - start) > this.line.length) {
      throw invalid('An aws-chunked header or trailer line is too long.');
    }
    source.copy(this.line, this.lineLength, start, end);
    this.lineLength += end - start;
  }

  private takeLine(): string {
    if (this.lineLength === 0 || this.line[this.lineLength - 1] !== CR) {
      throw invalid('aws-chunked lines must end with CRLF.');
    }
    const text = this.line.toString('utf8', 0, this.lineLength - 1);
    this.lineLength = 0;
    return text;
  }

  private onLine(text: string): void {
    if (this.state === 'size') this.onSizeLine(text);
    else this.onTrailerLine(text);
  }

  private onSizeLine(text: string): void {
    const match = (this.signing ? SIGNED_SIZE_LINE : UNSIGNED_SIZE_LINE).exec(text);
    if (!match) throw invalid('Malformed aws-chunked chunk header.');
    const size = Number.parseInt(match[1]!, 16);
    if (!Number.isSafeInteger(size)) throw invalid('aws-chunked chunk size is too large.');
    this.claimedSignature = match[2] ?? '';

    const limit = this.options.decodedContentLength;
    if (limit !== undefined && this.decoded + size > limit) {
      throw new FerryError(FerryErrorCode.BodyTooLong, 'The body is longer than x-amz-decoded-content-length.', {
        ExpectedLength: limit,
      });
    }
    if (size > 0) {
      this.remaining = size;
      this.chunkHash = this.signing ? createHash('sha256') : undefined;
      this.state = 'data';
      return;
    }
    this.verifyChunk(EMPTY_SHA256);
    if (limit !== undefined && this.decoded < limit) {
      throw new FerryError(FerryErrorCode.IncompleteBody, 'The body is shorter than x-amz-decoded-content-length.', {
        ExpectedLength: limit,
        ReceivedLength: this.decoded,
      });
    }
    this.state = 'trailer';
  }

  private verifyChunk(sha256Hex: string | undefined): void {
    if (!this.signing || sha256Hex === undefined) return;
    const expected = chunkSignature(this.signing, this.previousSignature, sha256Hex);
    if (!signaturesEqual(expected, this.claimedSignature)) {
      throw new FerryError(FerryErrorCode.SignatureDoesNotMatch, 'An aws-chunked chunk signature does not match.', {
        Offset: this.decoded,
      });
    }
    this.previousSignature = this.claimedSignature;
  }

  private onTrailerLine(text: string): void {
    this.trailerBytes += text.length + 2;
    if (this.trailerBytes > (this.options.maxTrailerBytes ?? 4096)) {
      throw invalid('The trailing headers are too large.');
    }
    const mode = this.options.mode;

    if (text.length === 0) {
      const first = this.trailers.size === 0 && !this.trailerSignatureSeen;
      if (mode === STREAMING_SIGNED_PAYLOAD || this.trailerSignatureSeen) {
        this.state = 'done';
      } else if (first && !this.leadingBlankSeen) {
        this.leadingBlankSeen = true;
        // With no signature to wait for, "0\r\n\r\n" is already a complete unsigned body.
        this.completeAtEnd = mode === STREAMING_UNSIGNED_PAYLOAD_TRAILER;
      } else if (mode === STREAMING_UNSIGNED_PAYLOAD_TRAILER) {
        this.state = 'done';
      } else {
        throw new FerryError(FerryErrorCode.SignatureDoesNotMatch, 'The trailing headers are not signed.');
      }
      return;
    }

    if (mode === STREAMING_SIGNED_PAYLOAD) throw invalid('This aws-chunked body declares no trailers.');
    if (this.trailerSignatureSeen) throw invalid('Trailing headers follow the trailer signature.');
    const colon = text.indexOf(':');
    const name = text.slice(0, Math.max(colon, 0)).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (colon <= 0 || !TRAILER_NAME.test(name)) throw invalid('Malformed trailing header.');

    if (name === TRAILER_SIGNATURE) {
      if (!this.signing) throw invalid('An unsigned aws-chunked body carries a trailer signature.');
      const expected = trailerSignature(this.signing, this.previousSignature, this.trailers);
      if (!/^[0-9a-f]{64}$/.test(value) || !signaturesEqual(expected, value)) {
        throw new FerryError(FerryErrorCode.SignatureDoesNotMatch, 'The trailer signature does not match.');
      }
      this.previousSignature = value;
      this.trailerSignatureSeen = true;
      this.completeAtEnd = true;
      return;
    }
    if (this.trailers.has(name)) throw invalid(`Trailing header ${name} is repeated.`);
    this.trailers.set(name, value);
    this.completeAtEnd = mode === STREAMING_UNSIGNED_PAYLOAD_TRAILER;
  }
}

function invalid(message: string): FerryError {
  return new FerryError(FerryErrorCode.InvalidRequest, message);
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
