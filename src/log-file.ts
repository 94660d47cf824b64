// Where log lines are written: stdout, or the access log's file (`log.accessLogFile`). Lines arrive whole (with
// their newline) and leave in writes of whole lines:
//   - batches: buffered, written at 8 KiB or every 250 ms at the latest (one write(2) per ~30 access lines);
//   - one write per line, where a batch could be split: stdout shared by worker threads, or a path that is not a
//     regular file (a FIFO, /dev/stdout). A pipe keeps a write of up to PIPE_BUF (4 KiB) bytes whole.
// A file is opened for appending (O_APPEND, created 0640) and written synchronously, as nginx writes its access
// log: a batch is one write into the page cache, and reopen() (SIGUSR1, logrotate's `postrotate`) has no write in
// flight to wait for — what was logged before it goes to the old file, the next line to the new one, nothing is
// lost or written twice. Worker threads each open the file: O_APPEND puts each batch whole at its end.
// A single thread's stdout, when it is a pipe (docker logs, journald) or a terminal, is written asynchronously, a
// batch at a time: a full pipe does not stop the event loop. Redirected to a file, it is written as a file is.
// (pino's sonic-boom measures the whole pending buffer on every line: O(buffer) per line, ~7 µs here.)
import { closeSync, fstatSync, openSync, write, writeSync } from 'node:fs';

/** Lines are written out in batches of this many bytes (or every FLUSH_INTERVAL_MS). */
export const BUFFER_BYTES = 8 * 1024;
/** How often buffered lines are written out at the latest. */
export const FLUSH_INTERVAL_MS = 250;
const MODE = 0o640;
/** a full non-blocking pipe (EAGAIN): wait this long before the next try */
const BUSY_MS = 10;
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export interface LineWriterOptions {
  /** a file to append to (reopen() opens the path afresh); or else `fd` */
  path?: string;
  /** a file descriptor (stdout), never closed */
  fd?: number;
  /** every line is one write of its own (stdout shared with other threads) */
  perLine?: boolean;
  /** batches are written asynchronously (only with an `fd` that is not a regular file: a pipe, a terminal) */
  async?: boolean;
  /** a write failed (disk full, I/O error, stdout closed): that batch is lost; called once until one succeeds */
  onError?: (err: Error) => void;
}

export class LineWriter {
  readonly path: string | null;
  #fd: number;
  #perLine: boolean;
  readonly #async: boolean;
  #buffer = '';
  #timer: NodeJS.Timeout | null = null;
  /** async: the data being written now (null: no write in flight) */
  #flight: Buffer | string | null = null;
  #retry: NodeJS.Timeout | null = null;
  #closing = false;
  #failing = false;
  readonly #onError: (err: Error) => void;
  readonly #written = (err: NodeJS.ErrnoException | null, n: number) => this.#onWritten(err, n);
  /** the process exits (an uncaught error, process.exit): what is buffered is written out first */
  readonly #atExit = () => this.#exiting();

  /** Opens (or creates) the file; throws when it cannot be opened. */
  constructor(opts: LineWriterOptions) {
    this.#onError = opts.onError ?? (() => {});
    this.path = opts.path ?? null;
    this.#fd = this.path === null ? (opts.fd ?? 1) : openSync(this.path, 'a', MODE);
    // a descriptor on a regular file (stdout redirected to a file) is written as a file is: synchronously
    this.#async = this.path === null && opts.async === true && !isRegular(this.#fd);
    this.#perLine = opts.perLine === true || (this.path !== null && !isRegular(this.#fd));
    if (opts.perLine !== true) {
      this.#timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
      this.#timer.unref();
      process.on('exit', this.#atExit);
    }
  }

  /** Appends whole lines (each with its newline). */
  write(lines: string): boolean {
    if (this.#closing) return false;
    if (this.#perLine) this.#writeSync(lines);
    else {
      this.#buffer += lines;
      if (this.#buffer.length >= BUFFER_BYTES) this.flush();
    }
    return true;
  }

  /** Writes out what is buffered (async: starts writing it, unless a write is in flight). */
  flush(): void {
    if (this.#buffer === '' || this.#flight !== null) return;
    const text = this.#buffer;
    this.#buffer = '';
    if (this.#async) this.#startWrite(text);
    else this.#writeSync(text);
  }

  /** Writes out what is buffered to the file open now, closes it and opens the path afresh (logrotate moved it).
   *  When the path cannot be opened (its folder gone), the old file is kept and the error thrown. False: closed,
   *  or not a file. */
  reopen(): boolean {
    if (this.path === null || this.#closing) return false;
    this.flush();
    const fd = openSync(this.path, 'a', MODE);
    const old = this.#fd;
    this.#fd = fd;
    this.#perLine = this.#timer === null || !isRegular(fd);
    closeSync(old);
    return true;
  }

  /** Writes out what is buffered, stops the flush timer and closes the file (never stdout). Async with a write in
   *  flight: the rest is written, and the file closed, when it completes. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    process.off('exit', this.#atExit);
    if (this.#retry !== null) {
      // waiting out a full pipe: the rest is written now, waiting as long as it takes
      clearTimeout(this.#retry);
      this.#retry = null;
      const rest = this.#flight!;
      this.#flight = null;
      this.#writeSync(rest);
    }
    if (this.#flight === null) this.#finish();
  }

  #exiting(): void {
    if (this.#closing) return;
    const text = this.#buffer;
    this.#buffer = '';
    if (text !== '') this.#writeSync(text);
  }

  #finish(): void {
    const text = this.#buffer;
    this.#buffer = '';
    if (text !== '') this.#writeSync(text);
    if (this.path !== null) closeSync(this.#fd);
    this.#fd = -1;
  }

  #writeSync(data: string | Buffer): void {
    try {
      writeAll(this.#fd, data);
      this.#failing = false;
    } catch (err) {
      this.#failed(err as Error);
    }
  }

  #startWrite(data: string | Buffer): void {
    this.#flight = data;
    if (typeof data === 'string') write(this.#fd, data, null, 'utf8', this.#written);
    else write(this.#fd, data, 0, data.length, null, this.#written);
  }

  #onWritten(err: NodeJS.ErrnoException | null, n: number): void {
    const data = this.#flight!;
    if (err !== null && busy(err) && !this.#closing) {
      this.#retry = setTimeout(() => {
        this.#retry = null;
        this.#startWrite(data);
      }, BUSY_MS);
      return;
    }
    this.#flight = null;
    if (err !== null) {
      if (busy(err))
        this.#writeSync(data); // closing: the rest now
      else this.#failed(err);
    } else {
      this.#failing = false;
      // a short write: the rest goes first (rare: the string is made bytes for it)
      if (n < (typeof data === 'string' ? Buffer.byteLength(data) : data.length)) {
        const rest = (typeof data === 'string' ? Buffer.from(data) : data).subarray(n);
        if (!this.#closing) return this.#startWrite(rest);
        this.#writeSync(rest);
      }
    }
    if (this.#closing) this.#finish();
    else if (this.#buffer.length >= BUFFER_BYTES) this.flush();
  }

  #failed(err: Error): void {
    if (!this.#failing) this.#onError(err);
    this.#failing = true;
  }
}

/** Writes all of `data`, short writes continued and a full non-blocking pipe waited out. */
function writeAll(fd: number, data: string | Buffer): void {
  let n = 0;
  if (typeof data === 'string') {
    try {
      n = writeSync(fd, data);
    } catch (err) {
      if (!busy(err as NodeJS.ErrnoException)) throw err;
    }
    if (n === data.length && n === Buffer.byteLength(data)) return;
    data = Buffer.from(data);
  }
  while (n < data.length) {
    try {
      n += writeSync(fd, data, n);
    } catch (err) {
      if (!busy(err as NodeJS.ErrnoException)) throw err;
      Atomics.wait(SLEEPER, 0, 0, BUSY_MS);
    }
  }
}

function busy(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EAGAIN' || err.code === 'EBUSY';
}

function isRegular(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}
