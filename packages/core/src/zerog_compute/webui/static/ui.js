// zerog ui: sorting and filtering the providers table, job progress, streamed chat, the reconcile button.
// No dependencies.
"use strict";

const csrf = () => document.querySelector('meta[name="zerog-csrf"]').content;

function setupProviders() {
  const table = document.getElementById("providers");
  if (!table) return;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  table.querySelectorAll("th[data-key]").forEach((th) => {
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      const numeric = th.hasAttribute("data-numeric");
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach((other) => other.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const value = (row) => (numeric ? Number(row.dataset[key]) : row.dataset[key] || "");
      rows.sort((a, b) => {
        const x = value(a), y = value(b);
        const order = numeric ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      rows.forEach((row) => body.appendChild(row));
    });
  });
  const text = document.getElementById("filter-text");
  const type = document.getElementById("filter-type");
  const reachable = document.getElementById("filter-reachable");
  const count = document.getElementById("shown-count");
  const filter = () => {
    const needle = text.value.trim().toLowerCase();
    let shown = 0;
    rows.forEach((row) => {
      const visible = (!needle || row.dataset.search.includes(needle)) &&
        (!type.value || row.dataset.type === type.value) &&
        (!reachable.checked || row.dataset.reachable === "yes");
      row.hidden = !visible;
      if (visible) shown += 1;
    });
    count.textContent = `${shown} of ${rows.length} shown`;
  };
  [text, type, reachable].forEach((el) => ["input", "change"].forEach((kind) => el.addEventListener(kind, filter)));
  filter();
}

function setupJob() {
  const box = document.getElementById("job");
  if (!box || box.dataset.state !== "pending") return;
  const state = document.getElementById("job-state");
  const message = document.getElementById("job-message");
  const poll = async () => {
    const answer = await fetch(`/api/jobs/${box.dataset.job}`, { credentials: "same-origin" });
    const job = await answer.json();
    if (job.state === "pending") {
      state.lastChild.textContent = ` Waiting for the transaction to confirm… ${job.elapsed_s} s`;
      setTimeout(poll, 400);
      return;
    }
    box.dataset.state = job.state;
    state.className = `state-${job.state}`;
    state.textContent = job.state === "confirmed" ? "Confirmed." : "Failed.";
    message.textContent = job.message;
  };
  setTimeout(poll, 300);
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  const content = document.createElement("div");
  content.className = "content";
  content.textContent = text;
  div.appendChild(content);
  document.getElementById("transcript").appendChild(div);
  return div;
}

function meta(div, done) {
  const line = document.createElement("div");
  line.className = "meta";
  if (done.error) {
    line.classList.add("bad");
    line.textContent = `error: ${done.error}`;
  } else {
    const verdict = document.createElement("span");
    verdict.className = `verdict ${done.verdict === "verified" ? "verdict-verified" : "verdict-other"}`;
    verdict.textContent = done.verdict + (done.detail ? ` (${done.detail})` : "");
    line.append(`${done.provider} · ${done.model} · fee ${done.fee} · `, verdict);
    line.dataset.fee = done.fee_neuron;
    line.dataset.provider = done.provider;
    line.dataset.chatId = done.chat_id || "";
  }
  div.appendChild(line);
}

function setupChat() {
  const form = document.getElementById("chat-form");
  if (!form) return;
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  let history = [];
  document.getElementById("chat-reset").addEventListener("click", () => {
    history = [];
    document.getElementById("transcript").textContent = "";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send.disabled = true;
    history.push({ role: "user", content: text });
    bubble("user", text);
    const reply = bubble("assistant", "");
    reply.classList.add("streaming");
    const content = reply.querySelector(".content");
    let done = null;
    try {
      const answer = await fetch("/api/chat", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-ZeroG-CSRF": csrf() },
        body: JSON.stringify({ target: document.getElementById("chat-target").value, messages: history }),
      });
      if (!answer.ok) {
        done = { error: (await answer.json()).error || answer.statusText };
      } else {
        const reader = answer.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done: finished } = await reader.read();
          if (finished) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n")) >= 0) {
            const item = JSON.parse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 1);
            if (item.delta) content.textContent += item.delta;
            else done = item;
          }
        }
      }
    } catch (error) {
      done = { error: String(error) };
    }
    reply.classList.remove("streaming");
    meta(reply, done || { error: "the answer ended early" });
    if (done && !done.error) history.push({ role: "assistant", content: content.textContent });
    else history.pop();
    send.disabled = false;
    reply.dataset.finished = "yes";
  });
}

function setupReconcile() {
  // the audit reads chain logs and asks every provider: say so while it runs, and do not send it twice
  const form = document.getElementById("form-reconcile");
  if (!form) return;
  const button = document.getElementById("reconcile-button");
  form.addEventListener("submit", () => {
    button.disabled = true;
    button.textContent = button.dataset.busy;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupProviders();
  setupReconcile();
  setupJob();
  setupChat();
});
