// Drives the official @0gfoundation/0g-compute-ts-sdk against TeeTLS (centralized) providers of a zerog devnet
// and prints one JSON object (the last line of stdout): for each provider, the exact request and response
// bodies of a plain and a streamed chat, the chat ids, and what processResponse said about them.
// Env: ZG_RPC_URL, ZG_USER_KEY, ZG_PROVIDERS (comma-separated addresses).
'use strict';
const { ethers } = require('ethers');
const sdk = require('@0gfoundation/0g-compute-ts-sdk');

const GAS_PRICE = 2_000_000_000;

function streamChatID(res, text) {
  let chatID = res.headers.get('ZG-Res-Key');
  let usage = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const chunk = JSON.parse(line.slice(6));
    if (!chatID && chunk.id) chatID = chunk.id;
    if (chunk.usage) usage = chunk.usage;
  }
  return { chatID, usage };
}

async function exchange(broker, providerAddress, endpoint, model, stream) {
  const headers = await broker.inference.getRequestHeaders(providerAddress);
  // a streamed request asks for usage itself, so the broker forwards (and signs) it unchanged
  const extra = stream ? { stream: true, stream_options: { include_usage: true } } : {};
  const request = JSON.stringify({ model, messages: [{ role: 'user', content: 'What is 2 + 3?' }], ...extra });
  const res = await fetch(`${endpoint}/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: request,
  });
  const response = await res.text();
  let chatID; let usage;
  if (stream && (res.headers.get('content-type') || '').startsWith('text/event-stream')) {
    ({ chatID, usage } = streamChatID(res, response));
  } else {
    const completion = JSON.parse(response);
    chatID = res.headers.get('ZG-Res-Key') || completion.id;
    usage = completion.usage;
  }
  const valid = await broker.inference.processResponse(providerAddress, chatID, JSON.stringify(usage));
  return { status: res.status, request, response, chatID, valid };
}

async function main() {
  const provider = new ethers.JsonRpcProvider(process.env.ZG_RPC_URL, undefined, {
    staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1,
  });
  const wallet = new ethers.Wallet(process.env.ZG_USER_KEY, provider);
  const broker = await sdk.createZGComputeNetworkBroker(wallet, undefined, undefined, undefined, GAS_PRICE);
  await broker.ledger.addLedger(10, GAS_PRICE);
  const out = {};
  for (const address of process.env.ZG_PROVIDERS.split(',')) {
    await broker.ledger.transferFund(address, 'inference', 2n * 10n ** 18n, GAS_PRICE);
    await broker.inference.acknowledgeProviderSigner(address, GAS_PRICE);
    const { endpoint, model } = await broker.inference.getServiceMetadata(address);
    out[address] = {
      plain: await exchange(broker, address, endpoint, model, false),
      stream: await exchange(broker, address, endpoint, model, true),
    };
  }
  return out;
}

main().then((out) => {
  process.stdout.write('\n' + JSON.stringify(out) + '\n');  // the SDK logs to stdout too: the result is the last line
  process.exit(0);  // the SDK leaves receipt timers running for 5 minutes
}).catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
