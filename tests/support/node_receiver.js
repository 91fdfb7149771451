// A webhook receiver in plain Node (http + crypto, no npm packages) that verifies the way the
// webhook documents' JavaScript examples do, so tests can prove those receivers accept Planwire's
// deliveries unchanged.
//
//   WEBHOOK_SECRET=... node node_receiver.js      serve on 127.0.0.1, ephemeral port
//   node node_receiver.js --roundtrip             JSON.stringify(JSON.parse(x)) for each stdin line
//
// Server mode prints {"port": N} once listening, then one JSON line per request:
//   {"path", "event", "exepronExpress", "exepronTimingSafe", "exepronRaw", "trueppm", "standard"}
// where each check is true/false, or null when its header is absent. The response is that same
// JSON, status 200 when every present check passed, else 401.
//   exepronExpress:    the Exepron "Step 1" Express handler: express.json() parses the body,
//                      then HMAC over JSON.stringify(req.body), compared with !==.
//   exepronTimingSafe: the Exepron verifyWebhookSignature(payload, signature, secret) function,
//                      JSON.stringify(payload) and crypto.timingSafeEqual (false if it throws).
//   exepronRaw:        HMAC over the raw body bytes (the Exepron Flask example, in Node).
//   trueppm:           "sha256=" + HMAC over the raw body (the TruePPM document's rule).
//   standard:          Standard Webhooks: base64 HMAC of `${id}.${timestamp}.${body}` with the
//                      base64-decoded whsec_ key, any of the space-separated v1 signatures.
//
// Roundtrip mode reads base64-encoded UTF-8 lines and writes, per line, the base64 of
// JSON.stringify(JSON.parse(text)), or "!" followed by the error message.
//
// Both modes exit when stdin closes, so the test that started the process stops it by closing
// its stdin (and a crashed test cannot leave it behind).
'use strict';

const http = require('http');
const crypto = require('crypto');
const readline = require('readline');

function roundtrip() {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let out;
    try {
      const text = Buffer.from(line, 'base64').toString('utf8');
      out = Buffer.from(JSON.stringify(JSON.parse(text)), 'utf8').toString('base64');
    } catch (err) {
      out = '!' + String(err.message).replace(/\n/g, ' ');
    }
    process.stdout.write(out + '\n');
  });
  rl.on('close', () => process.exit(0));
}

// --- the Exepron document's functions, as written there -------------------------------------
function verifyWebhookSignature(payload, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(JSON.stringify(payload))
    .digest('hex');
  // Use timing-safe comparison
  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(expectedSignature)
  );
}

// The "Step 1" handler's check, with req.body and the header passed in.
function expressStyle(reqBody, signature, secret) {
  const expectedSignature = crypto
    .createHmac('sha256', secret)
    .update(JSON.stringify(reqBody))
    .digest('hex');
  if (signature !== expectedSignature) {
    return false; // the handler answers 401 'Invalid signature' here
  }
  return true;
}
// ------------------------------------------------------------------------------------------------

function rawHex(secret, raw) {
  return crypto.createHmac('sha256', secret).update(raw).digest('hex');
}

function standardValid(secret, raw, headers) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = crypto
    .createHmac('sha256', key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), raw]))
    .digest('base64');
  return signatures.split(' ').some((item) => {
    const [version, value] = item.split(',');
    return version === 'v1' && value === expected;
  });
}

function serve() {
  const secret = process.env.WEBHOOK_SECRET || '';
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const result = {
        path: req.url,
        event: req.headers['x-planwire-event'] || null,
        exepronExpress: null,
        exepronTimingSafe: null,
        exepronRaw: null,
        trueppm: null,
        standard: null,
      };
      let parsed;
      try {
        parsed = JSON.parse(raw.toString('utf8')); // what express.json() hands the handler
      } catch (err) {
        parsed = undefined;
      }
      const exepron = req.headers['x-exepron-signature'];
      if (exepron !== undefined) {
        result.exepronExpress = parsed !== undefined && expressStyle(parsed, exepron, secret);
        try {
          result.exepronTimingSafe =
            parsed !== undefined && verifyWebhookSignature(parsed, exepron, secret);
        } catch (err) {
          result.exepronTimingSafe = false; // timingSafeEqual throws on a length mismatch
        }
        result.exepronRaw = exepron === rawHex(secret, raw);
      }
      const trueppm = req.headers['x-trueppm-signature'];
      if (trueppm !== undefined) {
        result.trueppm = trueppm === 'sha256=' + rawHex(secret, raw);
      }
      if (req.headers['webhook-signature'] !== undefined) {
        result.standard = standardValid(secret, raw, req.headers);
      }
      const ok = Object.keys(result).every((k) => result[k] !== false);
      const text = JSON.stringify(result);
      process.stdout.write(text + '\n');
      res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
      res.end(text);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

if (process.argv.includes('--roundtrip')) {
  roundtrip();
} else {
  serve();
}
