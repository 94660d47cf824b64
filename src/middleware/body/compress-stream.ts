// The compress middleware's body transform: a node:zlib compressor behind a gate that decides, from the first
// bytes, whether to compress at all. baton writes the response head when this transform first outputs data (or
// ends), so the decision — and the headers that go with it (`onStart`) — is made before anything is pushed.
//
// - known length of at least minSize: compressing from the start (minSize 0);
// - unknown length: up to minSize bytes are held; the body ending first goes out as it is (onStart(false): no
//   Content-Encoding), reaching minSize starts compressing. A stream that pauses before that (the end of a burst
//   of upstream chunks: nothing more by the next turn of the event loop) is compressed from there, so that a
//   streamed response is never held back waiting for more — as Traefik, whose reverse proxy flushes streamed
//   responses and so starts compressing at their first chunk;
// - streamed (unknown length) responses are flushed at the end of every burst (Z_SYNC_FLUSH and the like: the
//   client gets what the upstream sent so far; the compression window is kept).
//
// Memory is bounded: at most minSize bytes held, the compressor's own buffers (16 KiB each way), and this stream's
// readable buffer — its input callback waits while the compressor or the client is behind (backpressure).
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import type { Coding } from './accept-encoding.ts';

/** Levels as Traefik's writers: gzip's default, brotli quality 6 (andybalholm/brotli's default; Node's 11 is far
 *  slower), zstd's default level 3 (klauspost's SpeedDefault). */
export function compressor(
  coding: Coding,
  sizeHint: number | null,
): zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress {
  const c = zlib.constants;
  switch (coding) {
    case 'gzip':
      return zlib.createGzip();
    case 'br': {
      const params: Record<number, number> = { [c.BROTLI_PARAM_QUALITY]: 6 };
      if (sizeHint !== null) params[c.BROTLI_PARAM_SIZE_HINT] = Math.min(sizeHint, 2 ** 30);
      return zlib.createBrotliCompress({ params });
    }
    case 'zstd':
      return zlib.createZstdCompress({ params: { [c.ZSTD_c_compressionLevel]: 3 } });
  }
}

/** The flush that emits what the compressor holds without ending the stream or resetting its window. */
function syncFlush(coding: Coding): number {
  const c = zlib.constants;
  return coding === 'gzip' ? c.Z_SYNC_FLUSH : coding === 'br' ? c.BROTLI_OPERATION_FLUSH : c.ZSTD_e_flush;
}

export interface CompressStreamOptions {
  coding: Coding;
  /** bytes to see before compressing (0: compress from the start) */
  minSize: number;
  /** flush at the end of each burst of input (responses of unknown length) */
  streaming: boolean;
  /** the body's length, when known (a size hint for brotli) */
  length: number | null;
  /** called once, before the first output: whether the body is compressed (set the headers that go with it) */
  onStart(compressed: boolean): void;
}

type State = 'deciding' | 'compressing' | 'plain';

export class CompressStream extends Transform {
  readonly #o: CompressStreamOptions;
  #state: State = 'deciding';
  #held: Buffer[] = [];
  #heldBytes = 0;
  #z: zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress | null = null;
  #burst: NodeJS.Immediate | null = null;
  /** bytes written to the compressor since its last flush */
  #unflushed = false;

  constructor(o: CompressStreamOptions) {
    super();
    this.#o = o;
  }

  /** whether the body is being compressed (null until decided) */
  get compressed(): boolean | null {
    return this.#state === 'deciding' ? null : this.#state === 'compressing';
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#state === 'plain') return cb(null, chunk);
    if (this.#state === 'compressing') return this.#write(chunk, cb);
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    if (this.#heldBytes >= this.#o.minSize) return this.#start(cb);
    this.#scheduleBurstEnd();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.#cancelBurstEnd();
    if (this.#state === 'deciding') {
      // the whole body is shorter than minSize: it goes out as it is
      this.#state = 'plain';
      this.#o.onStart(false);
      for (const c of this.#held.splice(0)) this.push(c);
      return cb();
    }
    const z = this.#z;
    if (z === null) return cb();
    z.once('end', () => cb());
    z.end();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#cancelBurstEnd();
    this.#held = [];
    this.#z?.destroy();
    cb(err);
  }

  /** Starts compressing with what is held. */
  #start(cb: TransformCallback | null): void {
    this.#state = 'compressing';
    this.#o.onStart(true);
    const z = compressor(this.#o.coding, this.#o.length);
    this.#z = z;
    z.on('data', (d: Buffer) => this.push(d));
    z.on('error', (err) => this.destroy(err));
    const held = this.#held.length === 1 ? this.#held[0] : Buffer.concat(this.#held, this.#heldBytes);
    this.#held = [];
    this.#heldBytes = 0;
    if (cb !== null) this.#write(held, cb);
    else if (held.length > 0) {
      z.write(held);
      this.#unflushed = true;
    }
  }

  #write(chunk: Buffer, cb: TransformCallback): void {
    const z = this.#z!;
    this.#unflushed = true;
    if (this.#o.streaming) this.#scheduleBurstEnd();
    if (z.write(chunk)) cb();
    else z.once('drain', () => cb());
  }

  #scheduleBurstEnd(): void {
    if (this.#burst !== null) return;
    this.#burst = setImmediate(() => {
      this.#burst = null;
      if (this.destroyed || this.writableFinished) return;
      // a stream that paused before minSize: compress from here rather than hold it back
      if (this.#state === 'deciding') this.#start(null);
      if (this.#state !== 'compressing' || !this.#unflushed || !this.#o.streaming) return;
      this.#unflushed = false;
      this.#z!.flush(syncFlush(this.#o.coding));
    });
  }

  #cancelBurstEnd(): void {
    if (this.#burst === null) return;
    clearImmediate(this.#burst);
    this.#burst = null;
  }
}
