// The worker thread that checks basicAuth passwords against bcrypt and MD5-crypt hashes (hasher.ts starts it), so
// that their CPU work never runs on the proxy's event loop. One message in, one out: { id, kind, text, password }
// → { id, ok }. A hash that throws is a mismatch.
import { parentPort } from 'node:worker_threads';
import { verifySync, type HashKind } from './htpasswd.ts';

interface Ask {
  id: number;
  kind: HashKind;
  text: string;
  password: string;
}

const port = parentPort;
if (port !== null) {
  port.on('message', (m: Ask) => {
    let ok = false;
    try {
      ok = verifySync({ kind: m.kind, text: m.text }, m.password);
    } catch {
      ok = false;
    }
    port.postMessage({ id: m.id, ok });
  });
}
