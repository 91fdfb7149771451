// A Planwire webhook receiver in Express, for all three wire formats.
//
//   npm install            (express, from package.json)
//   WEBHOOK_SECRET=... node express_receiver.js
//
// Routes: POST /webhooks/trueppm, /webhooks/exepron, /webhooks/standard (one webhook per
// format, or only the one you use); the secret in WEBHOOK_SECRET, or WEBHOOK_SECRET_TRUEPPM /
// _EXEPRON / _STANDARD to give each its own. For each delivery it:
//   1. verifies the signature over the RAW body: express.raw() keeps the bytes (express.json()
//      would parse them first; see verify.js for why that still works with Planwire);
//   2. answers 401 when the signature does not verify;
//   3. skips a delivery it already processed: X-Planwire-Delivery stays the same on every retry
//      and redelivery (deliveries are at least once, in no guaranteed order);
//   4. answers 200 at once and works afterwards.
// It prints one JSON line per request ({"format","event","delivery","verified","duplicate"}) and
// lists what it verified at GET /received. PORT picks the port (default 3000; 0 takes any free
// port and prints {"listening": PORT} first).
'use strict';

const express = require('express');
const { verify } = require('./verify');

const FORMATS = new Set(['trueppm', 'exepron', 'standard']);
const received = [];
const processed = new Set(); // use a database table with a unique key in production

function secretFor(format) {
  return process.env[`WEBHOOK_SECRET_${format.toUpperCase()}`] || process.env.WEBHOOK_SECRET;
}

function report(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

const app = express();

app.post(
  '/webhooks/:format',
  express.raw({ type: 'application/json', limit: '10mb' }),
  (req, res) => {
    const { format } = req.params;
    if (!FORMATS.has(format)) return res.status(404).json({ error: 'unknown format' });
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const delivery = req.get('X-Planwire-Delivery') || '';
    if (!verify(format, secretFor(format), body, req.headers)) {
      report({ format, delivery, verified: false });
      return res.status(401).json({ error: 'invalid signature' });
    }
    const payload = JSON.parse(body.toString('utf8'));
    const event = payload.event || payload.type; // trueppm/exepron: event; standard: type
    const duplicate = processed.has(delivery);
    processed.add(delivery);
    const entry = { format, event, delivery, verified: true, duplicate };
    received.push(entry);
    report(entry);
    res.status(200).json({ status: 'ok' });
    if (!duplicate) setImmediate(() => handle(event, payload.data || {}));
  },
);

app.get('/received', (req, res) => res.json(received));

function handle(event, data) {
  // Your business logic (or a queue).
  if (event === 'task.red') console.error(`Task ${data.taskName} is in the red zone`);
}

const server = app.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
  report({ listening: server.address().port });
});
function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // idle keep-alive connections would hold close() open
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
