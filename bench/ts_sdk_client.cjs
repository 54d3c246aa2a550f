// The Node side of bench/overhead.py: the official @0gfoundation/0g-compute-ts-sdk (called, never copied) and a
// bare fetch floor, timed in this process and driven by the parent over stdin/stdout, one JSON line each way.
//
// Env: ZG_RPC_URL, ZG_USER_KEY (this client's wallet), ZG_PROVIDER, ZG_RAW_URL, ZG_RAW_BODY, ZG_RAW_AUTH (the
// request of the Python raw floor, replayed by the "fetch" client).
// Commands (stdin):  {"cmd": "run", "client": "fetch" | "ts-sdk" | "ts-sdk-bg", "n": 50}   {"cmd": "stop"}
// Replies (stdout, lines starting with "@@bench "): the ready line, then one result per "run".
//
// Clients:
//   fetch      Node's fetch of the exact request the Python raw floor sends (URL, bytes, Authorization).
//   ts-sdk     broker.inference.getRequestHeaders + fetch + processResponse, the SDK's documented flow with its
//              defaults (getRequestHeaders runs an inline balance check when no auto-funding timer is active).
//   ts-sdk-bg  the same on a second broker after startAutoFunding (a 1 h timer): no inline balance check.
'use strict';
const fs = require('fs');
const path = require('path');
const { ethers } = require('ethers');
const readline = require('readline');
const sdk = require('@0gfoundation/0g-compute-ts-sdk');

const GAS_PRICE = 2_000_000_000;
const TIMER_MS = 3_600_000;
const MESSAGES = [{ role: 'user', content: 'Say hello in one short sentence.' }];
const PREFIX = '@@bench ';

function reply(obj) {
  process.stdout.write('\n' + PREFIX + JSON.stringify(obj) + '\n');  // the SDK may log to stdout too
}

function rpcProvider(counter) {
  // Low-latency ethers settings (the SDK's tests use the same): no chain-id polling, no 10 ms batching stall.
  const options = { staticNetwork: true, batchMaxCount: 1 };
  const provider = new ethers.JsonRpcProvider(process.env.ZG_RPC_URL, undefined, options);
  provider.on('debug', (event) => {
    if (event.action !== 'sendRpcPayload') return;
    for (const payload of [].concat(event.payload)) {
      counter.rpcs += 1;
      counter.methods[payload.method] = (counter.methods[payload.method] || 0) + 1;
    }
  });
  return provider;
}

async function sdkCall(ctx, broker) {
  const headers = await broker.inference.getRequestHeaders(ctx.provider);
  const res = await fetch(`${ctx.endpoint}/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ model: ctx.model, messages: MESSAGES }),
  });
  const completion = await res.json();
  const chatID = res.headers.get('ZG-Res-Key') || completion.id;
  const valid = await broker.inference.processResponse(ctx.provider, chatID, JSON.stringify(completion.usage));
  return res.ok && valid === true;
}

async function fetchCall() {
  const res = await fetch(process.env.ZG_RAW_URL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: process.env.ZG_RAW_AUTH },
    body: process.env.ZG_RAW_BODY,
  });
  await res.arrayBuffer();
  return res.ok;
}

function sdkVersion() {
  const root = path.dirname(path.dirname(require.resolve('@0gfoundation/0g-compute-ts-sdk')));
  return JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
}

async function setup() {
  const counter = { rpcs: 0, methods: {} };
  const wallet = new ethers.Wallet(process.env.ZG_USER_KEY, rpcProvider(counter));
  const provider = process.env.ZG_PROVIDER;
  const admin = await sdk.createZGComputeNetworkBroker(wallet, undefined, undefined, undefined, GAS_PRICE);
  await admin.inference.acknowledgeProviderSigner(provider, GAS_PRICE);
  const { endpoint, model } = await admin.inference.getServiceMetadata(provider);
  const ctx = { counter, provider, endpoint, model, brokers: {} };

  const rpcs0 = counter.rpcs;
  const methods0 = { ...counter.methods };
  const t0 = performance.now();
  const broker = await sdk.createZGComputeNetworkBroker(wallet, undefined, undefined, undefined, GAS_PRICE);
  const coldOk = await sdkCall(ctx, broker);
  const cold = {
    ms: performance.now() - t0, rpcs: counter.rpcs - rpcs0, rpc_methods: delta(counter.methods, methods0), ok: coldOk,
  };

  const bg = await sdk.createZGComputeNetworkBroker(wallet, undefined, undefined, undefined, GAS_PRICE);
  await bg.inference.startAutoFunding(provider, { interval: TIMER_MS });
  ctx.brokers = { 'ts-sdk': broker, 'ts-sdk-bg': bg };
  return { ctx, cold };
}

function delta(after, before) {
  const out = {};
  for (const [key, value] of Object.entries(after)) {
    const change = value - (before[key] || 0);
    if (change) out[key] = change;
  }
  return out;
}

async function run(ctx, client, n) {
  const call = client === 'fetch' ? fetchCall : () => sdkCall(ctx, ctx.brokers[client]);
  const wall = [];
  let errors = 0;
  const rpcs0 = ctx.counter.rpcs;
  const methods0 = { ...ctx.counter.methods };
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const ok = await call();
    wall.push(performance.now() - t0);
    if (!ok) errors += 1;
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    client,
    wall_ms: wall,
    cpu_ms: (cpu.user + cpu.system) / 1000,
    errors,
    rpcs: ctx.counter.rpcs - rpcs0,
    rpc_methods: delta(ctx.counter.methods, methods0),
  };
}

(async () => {
  const { ctx, cold } = await setup();
  const version = sdkVersion();
  reply({ ready: true, node: process.version, sdk: version, ethers: ethers.version, cold });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const command = JSON.parse(line);
    if (command.cmd === 'stop') break;
    reply(await run(ctx, command.client, command.n));
  }
  process.exit(0);  // the SDK's receipt and auto-funding timers would keep the process alive
})().catch((err) => {
  reply({ error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
