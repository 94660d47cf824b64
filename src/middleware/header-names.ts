// What every middleware's header checks share (pure): an HTTP token (RFC 9110 §5.6.2: header names, media type
// parts), and the headers that frame a message or concern one hop only, which baton sets or drops itself.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export const isToken = (name: string): boolean => TOKEN.test(name);

/** Lower-case names of the headers no middleware sets: the message's framing and the hop-by-hop ones. */
export const FRAMING_HEADERS: readonly string[] = Object.freeze([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
]);
