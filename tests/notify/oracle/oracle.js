'use strict';
// The independent side of the Web Push tests: the browser (subscription keys, decryption with
// http_ece, the reference implementation of RFC 8188 that the `web-push` package uses) and a push
// service (an HTTPS server that checks the VAPID header with node's crypto and decrypts).
//
//   node oracle.js subscribe                 -> {"p256dh","auth","private_key"} (base64url)
//   node oracle.js decrypt REQUEST.json      {body, private_key, auth} -> {"plaintext"} (base64url)
//   node oracle.js verify-vapid REQUEST.json {authorization, audience, now} -> {"header","claims","k"}
//   node oracle.js serve CONFIG.json         {cert, key, private_key, auth, vapid_k, log, port_file}
// Failures print a reason on stderr and exit with status 1.

const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const ece = require('http_ece');

const b64 = (buffer) => Buffer.from(buffer).toString('base64url');
const unb64 = (text) => Buffer.from(text, 'base64url');

function subscribe() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    p256dh: b64(ecdh.getPublicKey()),
    auth: b64(crypto.randomBytes(16)),
    private_key: b64(ecdh.getPrivateKey()),
  };
}

function decrypt(body, privateKey, auth) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(unb64(privateKey));
  return ece.decrypt(body, { version: 'aes128gcm', privateKey: ecdh, authSecret: auth });
}

// RFC 8292: "vapid t=<JWT>, k=<key>"; the JWT must be ES256 over P-256 with aud/exp/sub.
function verifyVapid(authorization, audience, now) {
  const match = /^vapid t=([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(authorization || '');
  if (!match) throw new Error('Authorization is not "vapid t=<jwt>, k=<key>": ' + authorization);
  const [, headerPart, claimsPart, signaturePart, k] = match;
  const header = JSON.parse(unb64(headerPart).toString('utf8'));
  const claims = JSON.parse(unb64(claimsPart).toString('utf8'));
  if (header.alg !== 'ES256' || header.typ !== 'JWT') throw new Error('JWT header is ' + JSON.stringify(header));
  const point = unb64(k);
  if (point.length !== 65 || point[0] !== 4) throw new Error('k is not an uncompressed P-256 point');
  const publicKey = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64(point.subarray(1, 33)), y: b64(point.subarray(33)) },
    format: 'jwk',
  });
  const signature = unb64(signaturePart);
  if (signature.length !== 64) throw new Error('signature is ' + signature.length + ' bytes, not raw r||s');
  const valid = crypto.verify('sha256', Buffer.from(headerPart + '.' + claimsPart), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  if (!valid) throw new Error('JWT signature does not verify with k');
  if (claims.aud !== audience) throw new Error('aud is ' + claims.aud + ', expected ' + audience);
  if (!Number.isInteger(claims.exp) || claims.exp <= now || claims.exp > now + 24 * 3600)
    throw new Error('exp ' + claims.exp + ' is not within 24 h after ' + now);
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub)) throw new Error('sub is ' + claims.sub);
  return { header, claims, k };
}

function serve(config) {
  const server = https.createServer({ cert: fs.readFileSync(config.cert), key: fs.readFileSync(config.key) });
  server.on('request', (request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { method: request.method, path: request.url, headers: request.headers };
      const answer = (status, extraHeaders, text) => {
        entry.status = status;
        fs.appendFileSync(config.log, JSON.stringify(entry) + '\n');
        response.writeHead(status, extraHeaders);
        response.end(text);
      };
      try {
        if (request.method !== 'POST') return answer(405, {}, 'POST only');
        if (request.headers['content-encoding'] !== 'aes128gcm') return answer(415, {}, 'aes128gcm only');
        if (!/^\d+$/.test(request.headers.ttl || '')) return answer(400, {}, 'TTL missing');
        const audience = 'https://127.0.0.1:' + server.address().port;
        const vapid = verifyVapid(request.headers.authorization, audience, Math.floor(Date.now() / 1000));
        entry.vapid = vapid;
        if (vapid.k !== config.vapid_k) return answer(403, {}, 'subscription belongs to another application server key');
        const body = Buffer.concat(chunks);
        if (body.length > 4096) return answer(413, {}, 'payload too large');
        entry.plaintext = b64(decrypt(body, config.private_key, config.auth));
      } catch (error) {
        entry.error = String(error && error.message);
        return answer(400, {}, entry.error);
      }
      if (request.url.startsWith('/gone')) return answer(410, {}, 'unsubscribed');
      if (request.url.startsWith('/missing')) return answer(404, {}, 'no such subscription');
      if (request.url.startsWith('/throttled')) return answer(429, {}, 'slow down');
      if (request.url.startsWith('/broken')) return answer(503, {}, 'push service down');
      return answer(201, { Location: '/message/' + crypto.randomUUID() }, '');
    });
  });
  server.listen(0, '127.0.0.1', () => fs.writeFileSync(config.port_file, String(server.address().port)));
}

function main() {
  const [command, file] = process.argv.slice(2);
  const request = file ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  switch (command) {
    case 'subscribe':
      return console.log(JSON.stringify(subscribe()));
    case 'decrypt':
      return console.log(JSON.stringify({ plaintext: b64(decrypt(unb64(request.body), request.private_key, request.auth)) }));
    case 'verify-vapid':
      return console.log(JSON.stringify(verifyVapid(request.authorization, request.audience, request.now)));
    case 'serve':
      return serve(request);
    default:
      throw new Error('unknown command ' + command);
  }
}

try {
  main();
} catch (error) {
  console.error(String(error && error.message));
  process.exit(1);
}
