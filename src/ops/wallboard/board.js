// The wallboard: reads /api/v1/queues and /api/v1/agents once, then
// follows /api/v1/events. The stream is read with fetch() so the token goes
// in the Authorization header (EventSource cannot send one, and a token in
// the URL would end up in logs and history). No framework, no build step.
'use strict';

const TOKEN_KEY = 'switchyard-token';
const STATES = ['available', 'ringing', 'on_call', 'wrap_up', 'busy', 'paused', 'logged_out'];
const RECONNECT_MAX_MS = 10000;
const FIGURES_EVERY_MS = 10000;

const board = {
  token: null,
  queues: new Map(), // name -> { figures, callers: Map(call -> { since, ringing }) }
  agents: new Map(), // id -> { name, state, reason, since, queues }
  lastId: null,
  // Server wall clock minus ours, smallest seen: event times in our clock.
  skew: null,
  stream: null,
  generation: 0,
};

function $(id) { return document.getElementById(id); }

function escapeHtml(text) {
  return String(text ?? '').replace(/[&<>"']/g, c => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function duration(ms) {
  if (ms == null || !isFinite(ms)) return '–';
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  const two = n => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

function percent(ratio) {
  return ratio == null ? '–' : `${Math.round(ratio * 100)}%`;
}

function showMessage(text) {
  const el = $('message');
  el.textContent = text || '';
  el.hidden = !text;
}

function setLive(live) {
  const el = $('status');
  el.textContent = live ? 'live' : 'offline';
  el.className = `status ${live ? 'live' : 'offline'}`;
  el.dataset.status = live ? 'live' : 'offline';
}

// The token: from the URL fragment (wall displays that cannot type), then
// kept in sessionStorage and taken out of the address bar.
function readToken() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiFailure extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    cache: 'no-store',
    headers: { Authorization: `Bearer ${board.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiFailure(response.status, data);
  return data;
}

function queueEntry(name) {
  let q = board.queues.get(name);
  if (!q) {
    q = { figures: { name }, callers: new Map() };
    board.queues.set(name, q);
  }
  return q;
}

function applyQueues(list, withCallers) {
  const now = Date.now();
  const seen = new Set();
  for (const figures of list.queues || []) {
    seen.add(figures.name);
    const q = queueEntry(figures.name);
    q.figures = figures;
    if (withCallers) {
      q.callers = new Map((figures.callers || []).map(c =>
        [c.call, { since: now - (c.waited_ms || 0), ringing: !!c.ringing }]));
    }
  }
  for (const name of [...board.queues.keys()]) {
    if (!seen.has(name)) board.queues.delete(name);
  }
}

function applyAgents(list) {
  const now = Date.now();
  board.agents = new Map((list.agents || []).map(a => [a.id, {
    name: a.name,
    state: a.state,
    reason: a.pause_reason,
    since: a.time_in_state_ms == null ? null : now - a.time_in_state_ms,
    queues: a.queues || [],
  }]));
}

function eventTime(event) {
  const gap = Date.now() - event.unix_ms;
  if (board.skew === null || gap < board.skew) board.skew = gap;
  return event.unix_ms + board.skew;
}

function dropCaller(call) {
  let found = false;
  for (const q of board.queues.values()) found = q.callers.delete(call) || found;
  return found;
}

// One event from the stream changes the board.
function applyEvent(event) {
  const at = eventTime(event);
  switch (event.type) {
    case 'agent_state': {
      const agent = board.agents.get(event.agent);
      if (!agent || event.state === 'logged_out' || event.previous === 'logged_out') {
        // Queue membership changes with a login or logout: read it again.
        refreshAgentsSoon();
      }
      if (agent) Object.assign(agent, { state: event.state, reason: event.reason, since: at });
      // Expected waits and free agents follow agents' states.
      refreshFiguresSoon();
      break;
    }
    case 'call_queued':
      dropCaller(event.call);
      queueEntry(event.queue).callers.set(event.call, { since: at, ringing: false });
      break;
    case 'call_offered':
      for (const q of board.queues.values()) {
        const caller = q.callers.get(event.call);
        if (caller) caller.ringing = true;
      }
      break;
    case 'call_answered':
    case 'call_abandoned':
    case 'call_ended':
      if (dropCaller(event.call) || event.queue) refreshFiguresSoon();
      break;
    default:
      break;
  }
  render();
}

let figuresTimer = null;
function refreshFiguresSoon() {
  if (figuresTimer) return;
  figuresTimer = setTimeout(async () => {
    figuresTimer = null;
    try { applyQueues(await api('GET', '/api/v1/queues'), false); render(); } catch (e) { /* next tick */ }
  }, 500);
}

let agentsTimer = null;
function refreshAgentsSoon() {
  if (agentsTimer) return;
  agentsTimer = setTimeout(async () => {
    agentsTimer = null;
    try {
      const fresh = await api('GET', '/api/v1/agents');
      // Keep the state the stream said last; take membership and names.
      const old = board.agents;
      applyAgents(fresh);
      for (const [id, a] of board.agents) {
        const before = old.get(id);
        if (before && before.since !== null && a.state === before.state) a.since = before.since;
      }
      render();
    } catch (e) { /* next event retries */ }
  }, 300);
}

// Server-Sent Events over fetch: blocks split at a blank line, `id:` and
// `data:` fields; comments (keep-alives) ignored.
function onBlock(block, pending) {
  let id = null;
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('id:')) id = line.slice(3).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (id !== null) board.lastId = id;
  if (data.length === 0) return;
  let event;
  try { event = JSON.parse(data.join('\n')); } catch (e) { return; }
  if (pending) pending.push(event); else applyEvent(event);
}

async function follow(generation, pending, ready) {
  let delay = 500;
  while (generation === board.generation) {
    try {
      const headers = { Authorization: `Bearer ${board.token}`, Accept: 'text/event-stream' };
      if (board.lastId !== null) headers['Last-Event-ID'] = board.lastId;
      const response = await fetch('/api/v1/events', { headers, cache: 'no-store' });
      if (response.status === 401 || response.status === 403) {
        const body = await response.json().catch(() => null);
        showMessage(`The event stream refused this token: ${body?.message || response.status}`);
        ready(false);
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      setLive(true);
      ready(true);
      delay = 500;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      while (generation === board.generation) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          onBlock(buffer.slice(0, end), pending.events);
          buffer = buffer.slice(end + 2);
        }
      }
      reader.cancel().catch(() => {});
    } catch (e) {
      ready(true);
    }
    setLive(false);
    if (generation !== board.generation) return;
    await new Promise(r => setTimeout(r, delay));
    delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    // Back after a gap: re-read the figures; the stream resumes after lastId.
    refreshFiguresSoon();
  }
}

async function start() {
  board.generation += 1;
  const generation = board.generation;
  showMessage('');
  $('forget').hidden = !board.token;
  if (!board.token) {
    showMessage('Enter an API token (viewer to watch; supervisor or admin to pause agents), or open this page as /wallboard#token=…');
    return;
  }
  // Follow the stream first and hold its events until the snapshot is in,
  // so nothing between the two is missed.
  const pending = { events: [] };
  const connected = new Promise(resolve => follow(generation, pending, resolve));
  if (!(await connected)) return;
  try {
    const [queues, agents] = await Promise.all([api('GET', '/api/v1/queues'), api('GET', '/api/v1/agents')]);
    if (generation !== board.generation) return;
    applyQueues(queues, true);
    applyAgents(agents);
  } catch (e) {
    showMessage(`Could not read the switch: ${e.message}`);
  }
  const held = pending.events;
  pending.events = null;
  for (const event of held) applyEvent(event);
  render();
}

function byState(queueName) {
  const counts = Object.fromEntries(STATES.map(s => [s, 0]));
  for (const a of board.agents.values()) {
    if (a.queues.includes(queueName) && a.state in counts) counts[a.state] += 1;
  }
  return counts;
}

function queueHtml(q, now) {
  const f = q.figures;
  const callers = [...q.callers.entries()].sort((a, b) => a[1].since - b[1].since);
  const longest = callers.length ? now - callers[0][1].since : null;
  const sl = f.interval_service_level ?? f.service_level;
  const target = f.service_level_target;
  const slClass = sl == null || target == null ? '' : (sl < target ? 'under' : 'over');
  const within = f.service_level_threshold_ms == null ? '' : ` in ${Math.round(f.service_level_threshold_ms / 1000)}s`;
  const counts = byState(f.name);
  const pills = STATES.filter(s => counts[s] > 0 || s === 'available')
    .map(s => `<span class="pill state-${s}" data-count="${s}">${s.replace('_', ' ')} ${counts[s]}</span>`).join('');
  const list = callers.length
    ? callers.map(([call, c]) => `<li data-call="${escapeHtml(call)}" data-t0="${c.since}" class="${c.ringing ? 'ringing' : ''}" title="${escapeHtml(call)}">${duration(now - c.since)}</li>`).join('')
    : '<li class="none">no callers waiting</li>';
  return `<article class="queue" data-queue="${escapeHtml(f.name)}">
  <h2><span>${escapeHtml(f.name)}</span></h2>
  <div class="figures">
    <div class="figure"><div class="label">waiting</div><div class="value" data-figure="waiting">${callers.length}</div></div>
    <div class="figure"><div class="label">longest wait</div><div class="value" data-figure="longest"${callers.length ? ` data-t0="${callers[0][1].since}"` : ''}>${duration(longest)}</div></div>
    <div class="figure ${slClass}" data-figure="service-level"><div class="label">service level</div><div class="value">${percent(sl)}</div><div class="note">target ${percent(target)}${within}</div></div>
    <div class="figure"><div class="label">expected wait</div><div class="value">${duration(f.expected_wait_ms)}</div></div>
    <div class="figure"><div class="label">agents needed</div><div class="value" data-figure="needed">${f.agents_needed ?? '–'}</div><div class="note">Erlang C</div></div>
    <div class="figure"><div class="label">answered / abandoned</div><div class="value">${f.answered ?? 0} / ${f.abandoned ?? 0}</div></div>
  </div>
  <div class="by-state">${pills}</div>
  <ul class="callers">${list}</ul>
</article>`;
}

function agentHtml(id, a, now) {
  const canAct = Boolean(board.token) && a.state !== 'logged_out';
  const action = a.state === 'paused' ? 'resume' : 'pause';
  const button = canAct ? `<button type="button" data-action="${action}">${action}</button>` : '';
  return `<div class="agent state-${escapeHtml(a.state)}" data-agent="${escapeHtml(id)}" data-state="${escapeHtml(a.state)}">
  <div class="who">${escapeHtml(id)}${a.name ? ` · ${escapeHtml(a.name)}` : ''}</div>
  <div class="what"><span>${escapeHtml((a.state || '').replace('_', ' '))}</span><span${a.since == null ? '' : ` data-t0="${a.since}"`}>${a.since == null ? '–' : duration(now - a.since)}</span></div>
  <div class="reason" data-reason>${a.state === 'paused' ? escapeHtml(a.reason || '') : ''}</div>
  <div class="actions">${button}</div>
</div>`;
}

function render() {
  const now = Date.now();
  $('queues').innerHTML = [...board.queues.values()].map(q => queueHtml(q, now)).join('');
  $('agents').innerHTML = [...board.agents.entries()].map(([id, a]) => agentHtml(id, a, now)).join('');
  tick();
}

// Once a second only the clocks move: the tiles (and their buttons) stay.
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('[data-t0]')) {
    el.textContent = duration(now - Number(el.dataset.t0));
  }
  $('clock').textContent = new Date(now).toLocaleTimeString();
}

async function onAgentAction(event) {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const id = button.closest('[data-agent]').dataset.agent;
  const action = button.dataset.action;
  button.disabled = true;
  try {
    if (action === 'pause') {
      await api('POST', `/api/v1/agents/${encodeURIComponent(id)}/pause`, { reason: $('pause-reason').value });
    } else {
      await api('POST', `/api/v1/agents/${encodeURIComponent(id)}/resume`, {});
    }
    showMessage('');
  } catch (e) {
    const why = e.status === 403 ? 'this token may not pause or resume agents (supervisor or admin needed)' : e.message;
    showMessage(`${action} ${id}: ${why}`);
    button.disabled = false;
  }
}

function init() {
  board.token = readToken();
  $('token-form').addEventListener('submit', event => {
    event.preventDefault();
    const value = $('token').value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    board.token = value;
    $('token').value = '';
    start();
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    board.token = null;
    board.generation += 1;
    board.queues.clear();
    board.agents.clear();
    setLive(false);
    render();
    start();
  });
  $('agents').addEventListener('click', onAgentAction);
  setInterval(tick, 1000);
  setInterval(() => { if (board.token) refreshFiguresSoon(); }, FIGURES_EVERY_MS);
  render();
  start();
}

document.addEventListener('DOMContentLoaded', init);
