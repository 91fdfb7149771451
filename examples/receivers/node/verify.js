// Verify Planwire webhook deliveries in Node (no dependencies): the same rules as Python's
// planwire.verify. Every function takes the RAW request body (a Buffer, exactly as received),
// the webhook's secret and the request headers, returns true or false, compares in constant
// time and never throws on malformed input.
//
//   trueppm:  X-TruePPM-Signature: sha256=<hex HMAC-SHA256(secret, body)>
//   exepron:  X-Exepron-Signature: <hex HMAC-SHA256(secret, body)>
//   standard: webhook-signature: v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${body}`)>
//             (one or more, space-separated), key = base64-decoded secret after "whsec_",
//             webhook-timestamp within 5 minutes of now.
//
// Planwire's bodies are compact JSON equal to JSON.stringify(JSON.parse(body)), so a receiver
// that verifies JSON.stringify(req.body) (the Exepron document's examples) also verifies; the
// raw body is still the robust choice.
'use strict';

const crypto = require('crypto');

function header(headers, name) {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value || '';
}

function safeEqual(a, b) {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

function hmacHex(secret, body) {
  return crypto.createHmac('sha256', secret).update(body).digest('hex');
}

function verifyTrueppm(secret, body, headers) {
  const signature = header(headers, 'x-trueppm-signature').trim().toLowerCase();
  return Boolean(secret) && safeEqual('sha256=' + hmacHex(secret, body), signature);
}

function verifyExepron(secret, body, headers) {
  const signature = header(headers, 'x-exepron-signature').trim().toLowerCase();
  return Boolean(secret) && safeEqual(hmacHex(secret, body), signature);
}

function verifyStandard(secret, body, headers, toleranceSeconds = 300) {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp').trim();
  const signatures = header(headers, 'webhook-signature');
  if (!secret || !id || !/^\d+$/.test(timestamp) || !signatures) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = crypto
    .createHmac('sha256', key)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest('base64');
  let found = false;
  for (const candidate of signatures.split(' ')) {
    const [version, value] = candidate.split(',', 2);
    if (version === 'v1' && value && safeEqual(expected, value)) found = true;
  }
  return found;
}

const VERIFIERS = { trueppm: verifyTrueppm, exepron: verifyExepron, standard: verifyStandard };

// verify('exepron', secret, rawBody, req.headers) -> boolean
function verify(format, secret, body, headers) {
  const check = VERIFIERS[format];
  return Boolean(check) && check(secret, body, headers);
}

module.exports = { verify, verifyTrueppm, verifyExepron, verifyStandard };
