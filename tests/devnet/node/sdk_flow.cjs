// Drives the official @0gfoundation/0g-compute-ts-sdk against a zerog devnet and prints one JSON
// object on stdout. Modes (argv[2]):
//   flow  - ledger, transfer, acknowledge, headers, chat (plain + streamed), processResponse
//   abi   - print the ABI of the SDK's typechain factories, as ethers sees them
//   kinds - for each entry of ZG_CASES (JSON [{address, url, model?, fault?}]): fund, acknowledge, one chat
//           plain and one streamed (the devnet fault set around them), processResponse; prints the exact
//           request and response texts so Python can judge the same bytes
//   revoke - (a provider with production timing) chat, revokeAllTokens, chat again: the second answer is the
//            broker's refusal of the new generation while its account cache is stale
//   again  - one more chat with a fresh SDK broker (after the test moved the provider's clock)
// Env: ZG_RPC_URL, ZG_USER_KEY, ZG_PROVIDER (flow, revoke, again), ZG_CASES (kinds).
'use strict';
const path = require('path');
const { ethers } = require('ethers');
const sdk = require('@0gfoundation/0g-compute-ts-sdk');

const GAS_PRICE = 2_000_000_000;

function sdkFactory(rel) {
  const root = path.dirname(require.resolve('@0gfoundation/0g-compute-ts-sdk'));
  return require(path.join(root, rel));
}

function abiMode() {
  const f = (rel, name) => sdkFactory(rel)[name].abi;
  return {
    LedgerManager: f('ledger/contract/typechain/factories/LedgerManager__factory.js', 'LedgerManager__factory'),
    InferenceServing: f('inference/contract/typechain/factories/InferenceServing__factory.js', 'InferenceServing__factory'),
    FineTuningServing: f('fine-tuning/contract/typechain/factories/FineTuningServing__factory.js', 'FineTuningServing__factory'),
  };
}

async function readStream(res) {
  const text = await res.text();
  let chatID = res.headers.get('ZG-Res-Key');
  let usage = null;
  let content = '';
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const chunk = JSON.parse(line.slice(6));
    if (!chatID && chunk.id) chatID = chunk.id;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices || []) content += (c.delta && c.delta.content) || '';
  }
  return { chatID, usage, content };
}

async function flowMode() {
  const provider = new ethers.JsonRpcProvider(process.env.ZG_RPC_URL, undefined, {
    staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1,
  });
  const wallet = new ethers.Wallet(process.env.ZG_USER_KEY, provider);
  const providerAddress = process.env.ZG_PROVIDER;
  const broker = await sdk.createZGComputeNetworkBroker(wallet, undefined, undefined, undefined, GAS_PRICE);

  await broker.ledger.addLedger(10, GAS_PRICE);
  await broker.ledger.transferFund(providerAddress, 'inference', 2n * 10n ** 18n, GAS_PRICE);
  await broker.inference.acknowledgeProviderSigner(providerAddress, GAS_PRICE);
  const services = await broker.inference.listService();
  const { endpoint, model } = await broker.inference.getServiceMetadata(providerAddress);

  const headers = await broker.inference.getRequestHeaders(providerAddress);
  const body = { model, messages: [{ role: 'user', content: 'What is 2 + 3?' }] };
  const res = await fetch(`${endpoint}/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body),
  });
  const completion = await res.json();
  const chatID = res.headers.get('ZG-Res-Key') || completion.id;
  const valid = await broker.inference.processResponse(providerAddress, chatID, JSON.stringify(completion.usage));

  const streamHeaders = await broker.inference.getRequestHeaders(providerAddress);
  const streamRes = await fetch(`${endpoint}/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...streamHeaders },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const stream = await readStream(streamRes);
  const streamValid = await broker.inference.processResponse(providerAddress, stream.chatID, JSON.stringify(stream.usage));

  const account = await broker.inference.getAccount(providerAddress);
  return {
    status: res.status,
    listed: services.map((s) => s.provider),
    endpoint, model, chatID, valid,
    usage: completion.usage,
    answer: completion.choices[0].message.content,
    stream: { status: streamRes.status, chatID: stream.chatID, usage: stream.usage, content: stream.content, valid: streamValid },
    authorization: headers.Authorization,
    subAccountBalance: account.balance.toString(),
    user: wallet.address,
  };
}

async function chatCase(broker, entry, stream) {
  const { endpoint, model } = await broker.inference.getServiceMetadata(entry.address);
  const headers = await broker.inference.getRequestHeaders(entry.address);
  const body = { model: entry.model || model, messages: [{ role: 'user', content: 'What is 2 + 3?' }] };
  if (stream) body.stream = true;
  const request = JSON.stringify(body);
  const res = await fetch(`${endpoint}/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: request,
  });
  const response = await res.clone().text();
  let chatID, usage;
  if (stream) {
    ({ chatID, usage } = await readStream(res));
  } else {
    const completion = JSON.parse(response);
    chatID = res.headers.get('ZG-Res-Key') || completion.id;
    usage = completion.usage;
  }
  const valid = await broker.inference.processResponse(entry.address, chatID, JSON.stringify(usage));
  return { status: res.status, resKey: res.headers.get('ZG-Res-Key'), chatID, request, response, valid };
}

async function kindsMode() {
  const provider = new ethers.JsonRpcProvider(process.env.ZG_RPC_URL, undefined, {
    staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1,
  });
  const wallet = new ethers.Wallet(process.env.ZG_USER_KEY, provider);
  const broker = await sdk.createZGComputeNetworkBroker(wallet, undefined, undefined, undefined, GAS_PRICE);
  const cases = JSON.parse(process.env.ZG_CASES);
  await broker.ledger.addLedger(3 + 2 * cases.length, GAS_PRICE);
  const funded = new Set();
  const out = [];
  for (const entry of cases) {
    if (!funded.has(entry.address)) {
      await broker.ledger.transferFund(entry.address, 'inference', 2n * 10n ** 18n, GAS_PRICE);
      await broker.inference.acknowledgeProviderSigner(entry.address, GAS_PRICE);
      funded.add(entry.address);
    }
    const faults = `${entry.url}/admin/faults`;
    if (entry.fault) await fetch(faults, { method: 'PUT', body: JSON.stringify({ [entry.fault]: true }) });
    try {
      out.push({ plain: await chatCase(broker, entry, false), stream: await chatCase(broker, entry, true) });
    } finally {
      if (entry.fault) await fetch(faults, { method: 'DELETE' });
    }
  }
  return out;
}

async function timedChat(broker, address) {
  const { endpoint, model } = await broker.inference.getServiceMetadata(address);
  const headers = await broker.inference.getRequestHeaders(address);
  const res = await fetch(`${endpoint}/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'What is 2 + 3?' }] }),
  });
  return { status: res.status, body: await res.text() };
}

async function revokeMode(again) {
  const provider = new ethers.JsonRpcProvider(process.env.ZG_RPC_URL, undefined, {
    staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1,
  });
  const wallet = new ethers.Wallet(process.env.ZG_USER_KEY, provider);
  const address = process.env.ZG_PROVIDER;
  const broker = await sdk.createZGComputeNetworkBroker(wallet, undefined, undefined, undefined, GAS_PRICE);
  if (again) return { after: await timedChat(broker, address) };
  await broker.ledger.addLedger(5, GAS_PRICE);
  await broker.ledger.transferFund(address, 'inference', 2n * 10n ** 18n, GAS_PRICE);
  await broker.inference.acknowledgeProviderSigner(address, GAS_PRICE);
  const before = await timedChat(broker, address);
  await broker.inference.revokeAllTokens(address);
  return { before, revoked: await timedChat(broker, address) };
}

(async () => {
  const mode = process.argv[2];
  const modes = { abi: abiMode, kinds: kindsMode, revoke: () => revokeMode(false), again: () => revokeMode(true) };
  const out = await (modes[mode] || flowMode)();
  process.stdout.write('\n' + JSON.stringify(out) + '\n');  // the SDK logs to stdout too: the result is the last line
  process.exit(0);  // the SDK leaves receipt timers running for 5 minutes
})().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
