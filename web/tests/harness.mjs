// Test harness: a real `carillon up` on a free port offset with its own state dir, real
// `carillon device` processes, and Debian's Chromium driven by playwright-core. Every process
// started here runs in its own process group and is killed by group id at the end (also on failure).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const webDir = path.resolve(here, '..');
const repo = path.resolve(webDir, '..');

export function carillonBinary() {
  if (process.env.CARILLON_BIN) return process.env.CARILLON_BIN;
  for (const dir of ['asan', 'dev', 'web', 'release']) {
    const p = path.join(repo, 'build', dir, 'src', 'carillon');
    if (existsSync(p)) return p;
  }
  throw new Error('no carillon binary: build it or set CARILLON_BIN');
}

const started = new Set();

function killGroup(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}

export async function stopProcess(child, graceMs = 8000) {
  if (!child) return;
  started.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

process.on('exit', () => {
  for (const child of started) killGroup(child, 'SIGKILL');
});

function launch(args, options = {}) {
  const child = spawn(args[0], args.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  started.add(child);
  child.output = '';
  const keep = (d) => {
    child.output += d.toString();
    if (child.output.length > 200000) child.output = child.output.slice(-100000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return child;
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// The ports of supervisor::Ports, shifted by `offset`.
const basePorts = [8443, 8444, 8883, 8884, 8885, 5061, 5443, 5070, 5071, 5072, 2223, 2224, 30000, 30999];

async function freeOffset() {
  for (let i = 0; i < 200; i++) {
    const offset = 2000 + Math.floor(Math.random() * 32000);
    let free = true;
    for (const p of basePorts) free = free && (await portFree(p + offset));
    if (free) return offset;
  }
  throw new Error('no free port offset');
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// An error that ends `eventually` at once (a process it waits for has died).
export function fatal(message) {
  return Object.assign(new Error(message), { fatal: true });
}

export async function eventually(condition, timeoutMs, stepMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await condition();
      if (last) return last;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    if (Date.now() >= deadline) throw new Error(`condition not met in ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export class Platform {
  static async start() {
    const p = new Platform();
    p.dir = mkdtempSync(path.join(os.tmpdir(), 'carillon-web-'));
    // Mosquitto drops to its own user and must be able to walk into the state directory.
    chmodSync(p.dir, 0o755);
    try {
      await p.boot();
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  }

  async boot() {
    const p = this;
    p.offset = await freeOffset();
    p.url = `https://127.0.0.1:${8443 + p.offset}`;
    p.stateDir = path.join(p.dir, 'state');
    p.devices = [];
    p.process = launch([
      carillonBinary(),
      'up',
      '--state-dir',
      p.stateDir,
      '--port-offset',
      String(p.offset),
      '--web-root',
      path.join(webDir, 'dist'),
    ]);
    await eventually(() => {
      if (p.process.exitCode !== null) throw fatal(`carillon up exited: ${p.process.output}`);
      return p.process.output.includes('Carillon is up.');
    }, 60000);
    p.ca = readFileSync(path.join(p.stateDir, 'pki', 'ca.pem'));
    p.admin = JSON.parse(readFileSync(path.join(p.stateDir, 'admin-credentials.json'), 'utf8'));
  }

  // One HTTPS request trusting the platform CA; resolves {status, body}.
  call(method, urlPath, token, body) {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        `${this.url}${urlPath}`,
        {
          method,
          ca: this.ca,
          headers: {
            ...(token ? { Authorization: `Bearer ${token}` } : {}),
            ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}),
          },
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks);
            let parsed = raw;
            if ((res.headers['content-type'] ?? '').includes('json')) parsed = JSON.parse(raw.toString() || 'null');
            resolve({ status: res.statusCode, body: parsed, headers: res.headers });
          });
        },
      );
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  }

  async login(username, password) {
    const r = await this.call('POST', '/api/v1/auth/login', undefined, { username, password });
    if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.access_token;
  }

  async create(token, urlPath, body) {
    const r = await this.call('POST', urlPath, token, body);
    if (r.status !== 201) throw new Error(`POST ${urlPath}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  // An emulated device (`carillon device`) with a control channel.
  async startDevice({ claim, serial, toneHz = 440, listenHz = 1000 }) {
    const controlPort = await freePort();
    const stateDir = mkdtempSync(path.join(this.dir, 'device-'));
    const child = launch([
      carillonBinary(),
      'device',
      '--platform',
      this.url,
      '--ca',
      path.join(this.stateDir, 'pki', 'ca.pem'),
      '--claim',
      claim,
      '--serial',
      serial,
      '--state-dir',
      stateDir,
      '--control-port',
      String(controlPort),
      '--keepalive',
      '5',
      '--tone-hz',
      String(toneHz),
      '--listen-hz',
      String(listenHz),
    ]);
    const device = { process: child, controlPort, serial };
    this.devices.push(device);
    return device;
  }

  // The end of a supervised service's log (kamailio, rtpengine, ...), for failure reports.
  logTail(name, chars = 6000) {
    try {
      return readFileSync(path.join(this.stateDir, 'logs', `${name}.out`), 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }

  async stop() {
    for (const d of this.devices ?? []) await stopProcess(d.process);
    await stopProcess(this.process, 15000);
    if (this.dir && !process.env.KEEP_STATE) rmSync(this.dir, { recursive: true, force: true });
  }
}

// One JSON line to the device's control channel, one JSON line back.
export function control(device, command) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(device.controlPort, '127.0.0.1');
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('control channel timeout'));
    }, 5000);
    socket.on('connect', () => socket.write(`${JSON.stringify(command)}\n`));
    socket.on('data', (d) => {
      buffer += d.toString();
      const end = buffer.indexOf('\n');
      if (end >= 0) {
        clearTimeout(timer);
        socket.end();
        resolve(JSON.parse(buffer.slice(0, end)));
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export async function launchBrowser() {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'carillon-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: true,
    permissions: ['microphone'],
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--ignore-certificate-errors',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  // What the pages logged, for the failure report.
  const logs = [];
  context.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  context.on('weberror', (e) => logs.push(`[pageerror] ${e.error()}`));
  const close = async () => {
    await context.close().catch(() => undefined);
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close, logs };
}
