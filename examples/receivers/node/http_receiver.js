// The same receiver as express_receiver.js with Node's own http module: no npm packages at
// all. Same routes, environment, output and behaviour (read express_receiver.js first).
'use strict';

const http = require('http');
const { verify } = require('./verify');

const FORMATS = new Set(['trueppm', 'exepron', 'standard']);
const MAX_BODY = 10 * 1024 * 1024;
const received = [];
const processed = new Set(); // use a database table with a unique key in production

function secretFor(format) {
  return process.env[`WEBHOOK_SECRET_${format.toUpperCase()}`] || process.env.WEBHOOK_SECRET;
}

function report(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function reply(res, status, object) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(object));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/received') return reply(res, 200, received);
  const match = /^\/webhooks\/([a-z]+)$/.exec(req.url);
  if (req.method !== 'POST' || !match || !FORMATS.has(match[1])) {
    return reply(res, 404, { error: 'not found' });
  }
  const format = match[1];
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(chunk);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks); // the raw bytes, exactly as sent
    const delivery = req.headers['x-planwire-delivery'] || '';
    if (!verify(format, secretFor(format), body, req.headers)) {
      report({ format, delivery, verified: false });
      return reply(res, 401, { error: 'invalid signature' });
    }
    const payload = JSON.parse(body.toString('utf8'));
    const event = payload.event || payload.type;
    const duplicate = processed.has(delivery);
    processed.add(delivery);
    const entry = { format, event, delivery, verified: true, duplicate };
    received.push(entry);
    report(entry);
    reply(res, 200, { status: 'ok' });
  });
});

server.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
  report({ listening: server.address().port });
});
function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // idle keep-alive connections would hold close() open
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
