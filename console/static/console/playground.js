// The playground: chats over the thread's websocket (/ws/threads/<id>/, the staff session authenticates it).
// Every run is drawn from its events alone, so a run is shown the same way live and after a reload: the
// page replays the stored events of the thread's latest runs (`resume` from 0), then follows the live ones;
// after a dropped connection it resumes each run after the last event it drew.
(function () {
  "use strict";
  const state = JSON.parse(document.getElementById("playground-state").textContent);
  if (!state.thread_id) return;

  const transcript = document.getElementById("transcript");
  const composer = document.getElementById("composer");
  const input = document.getElementById("message");
  const sendButton = document.getElementById("send");
  const cancelButton = document.getElementById("cancel");
  const configSelect = document.getElementById("llm-config");
  const connection = document.getElementById("connection");
  const ACTIVE = new Set(["queued", "in_progress", "requires_action"]);

  const runs = new Map(); // run id -> view of the run
  let pending = null; // the view of a message sent whose run has not said its id yet
  let activeRunId = null;
  let socket = null;
  let retryDelay = 500;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pretty(value) {
    if (typeof value === "string") {
      try { return JSON.stringify(JSON.parse(value), null, 2); } catch (e) { return value; }
    }
    return JSON.stringify(value, null, 2);
  }

  for (const config of state.llm_configs) {
    const option = el("option", "", config.name + " (" + config.model + ")");
    option.value = config.name;
    if (config.is_default) option.selected = true;
    configSelect.appendChild(option);
  }
  if (!state.llm_configs.length) {
    configSelect.appendChild(el("option", "", "no LLM config: add one in the admin"));
    configSelect.disabled = true;
  }

  function runView(task) {
    const block = el("div", "run");
    block.appendChild(el("div", "bubble user", task));
    const answer = el("div", "bubble assistant");
    const footer = el("div", "run-footer", "");
    block.appendChild(answer);
    block.appendChild(footer);
    transcript.appendChild(block);
    return { block, answer, footer, seq: 0, text: null, cards: new Map(), status: "queued" };
  }

  function scrollDown() { transcript.scrollTop = transcript.scrollHeight; }

  function textSegment(view) {
    if (!view.text) {
      view.text = el("div", "text");
      view.answer.appendChild(view.text);
    }
    return view.text;
  }

  function toolCard(view, event) {
    let card = view.cards.get(event.tool_call_id);
    if (card) return card;
    const details = el("details", "tool-card running");
    details.dataset.toolCallId = event.tool_call_id;
    const summary = el("summary");
    const name = el("span", "tool-name", event.name);
    const kind = el("span", "tool-kind", event.kind || "tool");
    const outcome = el("span", "tool-outcome", "running…");
    const latency = el("span", "tool-latency", "");
    summary.append(name, kind, outcome, latency);
    details.appendChild(summary);
    details.appendChild(el("div", "tool-label", "Arguments"));
    const args = el("pre", "tool-arguments", pretty(event.arguments === undefined ? {} : event.arguments));
    details.appendChild(args);
    const progress = el("pre", "tool-progress", "");
    progress.hidden = true;
    details.appendChild(progress);
    details.appendChild(el("div", "tool-label", "Output"));
    const output = el("pre", "tool-output", "");
    details.appendChild(output);
    view.answer.appendChild(details);
    view.text = null; // text after a tool call starts a new paragraph below the card
    card = { details, outcome, latency, output, progress, approval: null };
    view.cards.set(event.tool_call_id, card);
    return card;
  }

  // A call waiting for a person: Approve, or Reject with an optional reason, sent as the websocket's
  // `approve` frame. The buttons stay until the run says the call was decided (`tool_call.approval_decided`),
  // so a reload that replays an undecided call shows them again.
  function approvalBox(view, card, runId, toolCallId) {
    if (card.approval) return;
    const box = el("div", "tool-approval");
    const approve = el("button", "button default approve", "Approve");
    const reject = el("button", "button reject", "Reject…");
    const reason = el("input", "reject-reason");
    reason.type = "text";
    reason.placeholder = "Reason (optional)";
    reason.maxLength = 500;
    reason.hidden = true;
    const confirmReject = el("button", "button confirm-reject", "Reject");
    confirmReject.hidden = true;
    const buttons = [approve, reject, confirmReject];
    for (const button of buttons) button.type = "button";
    function decide(decision) {
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      for (const button of buttons) button.disabled = true;
      reason.disabled = true;
      decision.tool_call_id = toolCallId;
      socket.send(JSON.stringify({ type: "approve", run_id: runId, decisions: [decision] }));
      view.decisionPending = box;
    }
    approve.addEventListener("click", function () { decide({ approve: true }); });
    reject.addEventListener("click", function () {
      reason.hidden = false;
      confirmReject.hidden = false;
      reject.hidden = true;
      reason.focus();
    });
    confirmReject.addEventListener("click", function () {
      const decision = { approve: false };
      if (reason.value.trim()) decision.reason = reason.value.trim();
      decide(decision);
    });
    box.append(approve, reject, reason, confirmReject);
    card.details.insertBefore(box, card.details.children[1]);
    card.details.open = true;
    card.approval = box;
  }

  function approvalDecided(card, event) {
    if (card.approval) card.approval.remove();
    card.approval = null;
    card.details.classList.remove("waiting");
    let text = event.approve ? "approved" : "rejected";
    if (!event.approve && event.reason) text += " (" + event.reason + ")";
    card.outcome.textContent = text;
    const decision = el("div", "tool-decision " + (event.approve ? "approved" : "rejected"), text);
    card.details.insertBefore(decision, card.details.children[1]);
  }

  // A refused decision (already decided, not waiting, ...) gives the buttons back.
  function decisionRefused(view) {
    const box = view && view.decisionPending;
    if (!box) return;
    view.decisionPending = null;
    for (const node of box.querySelectorAll("button, input")) node.disabled = false;
  }

  function usageText(usage) {
    if (!usage) return "";
    let text = (usage.prompt_tokens || 0) + " prompt + " + (usage.completion_tokens || 0) + " completion tokens";
    if (usage.cost_usd !== undefined && usage.cost_usd !== null) text += " · $" + Number(usage.cost_usd).toFixed(6);
    if (usage.cached) text += " · cached";
    return text;
  }

  function setActive(runId) {
    activeRunId = runId;
    cancelButton.disabled = !runId;
    sendButton.disabled = !!runId;
  }

  function viewFor(event) {
    let view = runs.get(event.run_id);
    if (!view && pending) {
      view = pending;
      pending = null;
      runs.set(event.run_id, view);
    }
    if (!view) {
      view = runView("");
      runs.set(event.run_id, view);
    }
    view.block.dataset.runId = event.run_id;
    return view;
  }

  function apply(event) {
    if (event.type === "error") {
      const target = pending || (activeRunId && runs.get(activeRunId));
      const message = event.error.code + ": " + event.error.message;
      if (pending) { pending.footer.textContent = message; pending.footer.className = "run-footer failed"; pending = null; }
      else if (target) { target.footer.textContent = message; decisionRefused(target); }
      else transcript.appendChild(el("div", "run-footer failed", message));
      if (!activeRunId) setActive(null);
      return;
    }
    if (!event.run_id) return;
    const view = viewFor(event);
    if (event.seq <= view.seq) return;
    view.seq = event.seq;
    switch (event.type) {
      case "run.created":
      case "run.in_progress":
        view.status = event.type === "run.created" ? "queued" : "in_progress";
        view.footer.textContent = view.status.replace("_", " ") + "…";
        setActive(event.run_id);
        break;
      case "run.retrying":
        view.answer.textContent = "";
        view.text = null;
        view.cards.clear();
        view.footer.textContent = "retrying (attempt " + event.attempt + ")…";
        break;
      case "message.delta":
        textSegment(view).textContent += event.delta;
        break;
      case "message.completed":
        if (event.content) textSegment(view).textContent = event.content;
        view.text = null;
        break;
      case "tool_call.started":
        toolCard(view, event);
        break;
      case "tool_call.progress":
        (function (card) { card.progress.hidden = false; card.progress.textContent += event.text + "\n"; })(toolCard(view, event));
        break;
      case "tool_call.approval_required": {
        const card = toolCard(view, event);
        card.outcome.textContent = "waiting for approval";
        card.details.classList.add("waiting");
        approvalBox(view, card, event.run_id, event.tool_call_id);
        view.status = "requires_action";
        view.footer.textContent = "waiting for a decision on a tool call…";
        setActive(event.run_id);
        break;
      }
      case "tool_call.approval_decided":
        approvalDecided(toolCard(view, event), event);
        view.decisionPending = null;
        break;
      case "tool_call.completed": {
        const card = toolCard(view, event);
        if (card.approval) { card.approval.remove(); card.approval = null; }
        card.details.classList.remove("running");
        card.details.classList.add(event.ok ? "ok" : "error");
        card.outcome.textContent = event.ok ? "ok" : "error";
        card.latency.textContent = Math.round(event.latency_ms) + " ms";
        card.output.textContent = event.ok ? pretty(event.output) : (event.error || pretty(event.output));
        break;
      }
      case "run.completed":
      case "run.failed":
      case "run.cancelled": {
        view.status = event.type.slice(4);
        let text = view.status;
        if (event.error) text += " · " + event.error.code + ": " + event.error.message;
        const usage = usageText(event.usage);
        if (usage) text += " · " + usage;
        view.footer.textContent = text;
        view.footer.className = "run-footer " + view.status;
        if (activeRunId === event.run_id) setActive(null);
        break;
      }
    }
    scrollDown();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/threads/" + state.thread_id + "/");
    socket.onopen = function () {
      retryDelay = 500;
      connection.textContent = "connected";
      connection.className = "console-connection up";
      // First connection: every listed run from its start; after a drop: each after its last event drawn.
      for (const run of state.runs) {
        const view = runs.get(run.id);
        socket.send(JSON.stringify({ type: "resume", run_id: run.id, after: view ? view.seq : 0 }));
      }
      for (const [runId, view] of runs) {
        if (!state.runs.some(function (run) { return run.id === runId; })) {
          socket.send(JSON.stringify({ type: "resume", run_id: runId, after: view.seq }));
        }
      }
    };
    socket.onmessage = function (message) { apply(JSON.parse(message.data)); };
    socket.onclose = function (close) {
      connection.className = "console-connection down";
      if (close.code === 4401 || close.code === 4403 || close.code === 4404) {
        connection.textContent = "refused (" + close.code + "): log in again";
        return;
      }
      connection.textContent = "reconnecting…";
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  for (const run of state.runs) {
    const view = runView(run.task);
    view.block.dataset.runId = run.id;
    runs.set(run.id, view);
    if (ACTIVE.has(run.status)) setActive(run.id);
  }
  scrollDown();

  composer.addEventListener("submit", function (submitted) {
    submitted.preventDefault();
    const content = input.value.trim();
    if (!content || !socket || socket.readyState !== WebSocket.OPEN || activeRunId || pending) return;
    const frame = { type: "message", content: content };
    if (!configSelect.disabled) frame.llm_config = configSelect.value;
    pending = runView(content);
    pending.footer.textContent = "sending…";
    sendButton.disabled = true;
    socket.send(JSON.stringify(frame));
    input.value = "";
    scrollDown();
  });
  input.addEventListener("keydown", function (key) {
    if (key.key === "Enter" && !key.shiftKey) { key.preventDefault(); composer.requestSubmit(); }
  });
  cancelButton.addEventListener("click", function () {
    if (activeRunId && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "cancel", run_id: activeRunId }));
      cancelButton.disabled = true;
    }
  });
  connect();
})();
