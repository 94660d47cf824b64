// The client side of one exchange, over HTTP/1.1 or HTTP/2: baton's own request and response classes, which Node
// builds for every request. A response carries the Forward handling it, so no closure is made per request.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Forward } from './forward.ts';

export class BatonRequest extends IncomingMessage {}

export class BatonResponse extends ServerResponse<BatonRequest> {
  fwd: Forward | null = null;
  /** connection-level headers (Connection: close) may be sent */
  readonly h2 = false;
}

export class BatonH2Request extends Http2ServerRequest {}

export class BatonH2Response extends Http2ServerResponse<BatonH2Request> {
  fwd: Forward | null = null;
  /** no connection-level headers: HTTP/2 forbids them (RFC 9113 §8.2.2) */
  readonly h2 = true;
}
// Node's Http2ServerResponse has no `destroyed` (its typings say it has): its stream's
Object.defineProperty(BatonH2Response.prototype, 'destroyed', {
  get(this: BatonH2Response): boolean {
    return this.stream.destroyed;
  },
});

export type ClientRequest = BatonRequest | BatonH2Request;

/** What baton does with a client response, HTTP/1.1 or HTTP/2 alike. */
export interface ClientResponse {
  fwd: Forward | null;
  readonly h2: boolean;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, headers: string[]): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: string | Buffer | (() => void)): unknown;
  destroy(): unknown;
  once(event: 'drain', listener: (this: ClientResponse) => void): unknown;
  on(event: 'close', listener: (this: ClientResponse) => void): unknown;
  removeListener(event: 'drain', listener: (this: ClientResponse) => void): unknown;
}

/** The request may carry a body baton will not read: its connection is closed after the answer. */
export function unreadBody(req: ClientRequest): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/** A body follows the head without a Content-Length: chunked in HTTP/1.1; in HTTP/2 unless the head ended the
 *  stream. */
export function bodyFollows(req: ClientRequest, h2: boolean): boolean {
  if (h2) return !(req as BatonH2Request).stream.endAfterHeaders;
  return req.headers['transfer-encoding'] !== undefined;
}

/** The size of a header list as HTTP/2 counts it (RFC 9113 §6.5.2: name + value + 32 per field). */
export function headerListSize(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) n += raw[i].length + raw[i + 1].length + 32;
  return n;
}
