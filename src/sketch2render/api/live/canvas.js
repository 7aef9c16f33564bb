// The live canvas: draw, and each finished stroke is rendered in the API's live lane; the newest
// image replaces the last one as soon as it is decoded. Plain JS, no build step, same origin only:
// every URL is relative to this page, so the page works behind a proxy that serves the API under
// a path. The browser holds a short-lived live token (never a key): from the link's fragment, or
// exchanged once for the key a person types in (the key is not kept).
'use strict';

const $ = (selector) => document.querySelector(selector);
const TOKEN_KEY = 's2r_live_token';
const SETTINGS_KEY = 's2r_live_settings';
const RENEW_MS = 5 * 60 * 1000; // tokens live longer than this: renew well before they expire
const PASS_ON = ['seed', 'style_ids', 'control', 'simplify', 'style_mode', 'style_strength', 'family',
  'control_strength', 'negative_prompt', 'top_k'];

// --- settings from the link (its fragment never reaches a server), kept for reloads -------------
const fragment = new URLSearchParams(location.hash.slice(1));
if (location.hash) history.replaceState(null, '', location.pathname + location.search);
// a new link brings all of its settings (a style left out means: the system chooses)
const saved = fragment.has('token') ? {} : JSON.parse(sessionStorage.getItem(SETTINGS_KEY) || '{}');
for (const [name, value] of fragment) if (name !== 'token') saved[name] = value;
sessionStorage.setItem(SETTINGS_KEY, JSON.stringify(saved));
let token = fragment.get('token') || sessionStorage.getItem(TOKEN_KEY);
if (token) sessionStorage.setItem(TOKEN_KEY, token);
const session = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random())).replace(/[^A-Za-z0-9]/g, '').slice(0, 16);
const seed = saved.seed || String(Math.floor(Math.random() * 2 ** 31));

const prompt = $('#prompt');
const size = $('#size');
const image = $('#live-image');
prompt.value = saved.prompt || '';
if (saved.size && [...size.options].some((o) => o.value === saved.size)) size.value = saved.size;
if (saved.ui && /^https?:\/\//.test(saved.ui)) { $('#back').href = saved.ui; $('#back').hidden = false; }

function say(text, isError = false) {
  const status = $('#status');
  status.textContent = text;
  status.classList.toggle('error', isError);
}

// --- the API -----------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, message, retryAfter) { super(message); this.status = status; this.retryAfter = retryAfter; }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (token) headers.set('Authorization', 'Bearer ' + token);
  const response = await fetch(path, { ...options, headers, cache: 'no-store', credentials: 'omit' });
  if (response.ok) return response;
  let message = `HTTP ${response.status}`;
  try { message = (await response.json()).error.message; } catch (e) { /* not our JSON */ }
  if (response.status === 401) signedOut();
  throw new ApiError(response.status, message, Number(response.headers.get('Retry-After') || 0));
}

async function exchange(authorization) {
  const headers = authorization ? { Authorization: authorization } : {};
  const saveToken = token;
  token = null; // the key (or nothing, on a keyless server) asks; not the old token
  try {
    const response = await api('v1/live/tokens', { method: 'POST', headers });
    const body = await response.json();
    token = body.token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('#who').textContent = body.principal === 'anonymous' ? '' : `signed in as ${body.principal}`;
    $('#signin').hidden = true;
    return true;
  } catch (e) {
    token = saveToken;
    return false;
  }
}

function signedOut() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('#signin').hidden = false;
  say('Sign in to draw live (or open the live canvas again from sketch2render).', true);
}

async function renew() {
  if (token && !(await exchange('Bearer ' + token))) signedOut();
}

$('#signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = $('#key');
  const given = key.value.trim();
  key.value = ''; // the key is used once, here, and not kept
  if (given && await exchange('Bearer ' + given)) { say('ready: draw'); document.body.dataset.ready = 'true'; send(); } else say('That key was not accepted.', true);
});

// --- drawing: strokes kept as points, redrawn smooth; undo/redo/clear are steps of a history ---
const canvas = $('#live-canvas');
const ctx = canvas.getContext('2d');
let steps = []; // strokes {tool, width, points} and {clear: true}
let undone = [];
let current = null;
let frame = 0;

function visible() {
  let start = 0;
  steps.forEach((step, i) => { if (step.clear) start = i + 1; });
  return steps.slice(start);
}

function drawStroke(stroke) {
  const pts = stroke.points;
  ctx.strokeStyle = stroke.tool === 'eraser' ? '#ffffff' : '#111111';
  ctx.fillStyle = ctx.strokeStyle;
  ctx.lineWidth = stroke.width;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  if (pts.length === 1) {
    ctx.beginPath();
    ctx.arc(pts[0][0], pts[0][1], stroke.width / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(pts[0][0], pts[0][1]);
  for (let i = 1; i < pts.length - 1; i++) { // through the midpoints: a smooth curve
    const mx = (pts[i][0] + pts[i + 1][0]) / 2;
    const my = (pts[i][1] + pts[i + 1][1]) / 2;
    ctx.quadraticCurveTo(pts[i][0], pts[i][1], mx, my);
  }
  const last = pts[pts.length - 1];
  ctx.lineTo(last[0], last[1]);
  ctx.stroke();
}

function redraw() {
  frame = 0;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (const step of visible()) drawStroke(step);
}

function scheduleRedraw() { if (!frame) frame = requestAnimationFrame(redraw); }

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

function addPoint(p) {
  const pts = current.points;
  const last = pts[pts.length - 1];
  if (Math.hypot(p[0] - last[0], p[1] - last[1]) < 1.5) return;
  // a light low-pass on the input: jitter of the hand (or the mouse) does not show in the line
  pts.push([last[0] * 0.35 + p[0] * 0.65, last[1] * 0.35 + p[1] * 0.65]);
}

canvas.addEventListener('pointerdown', (event) => {
  canvas.setPointerCapture(event.pointerId);
  const tool = document.querySelector('input[name=tool]:checked').value;
  current = { tool, width: Number($('#width').value), points: [point(event)] };
  steps.push(current);
  undone = [];
  scheduleRedraw();
});
canvas.addEventListener('pointermove', (event) => {
  if (!current) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events) addPoint(point(e));
  scheduleRedraw();
});
function endStroke(event) {
  if (!current) return;
  addPoint(point(event));
  current.points.push(point(event));
  current = null;
  redraw();
  send();
}
canvas.addEventListener('pointerup', endStroke);
canvas.addEventListener('pointercancel', endStroke);

function undo() { if (steps.length) { undone.push(steps.pop()); redraw(); send(); } }
function redo() { if (undone.length) { steps.push(undone.pop()); redraw(); send(); } }
$('#undo').addEventListener('click', undo);
$('#redo').addEventListener('click', redo);
$('#clear').addEventListener('click', () => { if (visible().length) { steps.push({ clear: true }); undone = []; redraw(); send(); } });
document.addEventListener('keydown', (event) => {
  if (!(event.ctrlKey || event.metaKey) || event.target === prompt) return;
  const key = event.key.toLowerCase();
  if (key === 'z' && !event.shiftKey) { event.preventDefault(); undo(); }
  if ((key === 'z' && event.shiftKey) || key === 'y') { event.preventDefault(); redo(); }
});

// --- the live loop: send the drawing, follow the job's events, show the newest image ------------
let sent = 0; // the number of the newest drawing sent
let shown = 0; // the number of the drawing whose image is on screen
const streams = new Map(); // drawing number -> AbortController of its event stream
let promptTimer = 0;

prompt.addEventListener('input', () => { clearTimeout(promptTimer); promptTimer = setTimeout(send, 400); });
size.addEventListener('change', () => send());
$('#render').addEventListener('click', () => send(true));
$('#live').addEventListener('change', () => send());

async function send(force = false) {
  if (!force && !$('#live').checked) return;
  if (!token) return;
  if (!visible().length) { say('Draw something: each stroke is rendered.'); return; }
  if (!prompt.value.trim()) { say('Type a prompt: it says what the drawing should look like.'); return; }
  const number = ++sent;
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (number !== sent) return; // a newer drawing is on its way
  const form = new FormData();
  form.append('sketch', blob, 'live.png');
  form.append('prompt', prompt.value.trim());
  form.append('size', size.value);
  form.append('seed', seed);
  form.append('live_session', session);
  for (const name of PASS_ON) if (saved[name] && name !== 'seed') form.append(name, saved[name]);
  say('rendering…');
  let job;
  try {
    job = await (await api('v1/live/renders', { method: 'POST', body: form })).json();
  } catch (e) {
    if (e.status === 429 && e.retryAfter) setTimeout(() => { if (number === sent) send(force); }, e.retryAfter * 1000);
    if (e.status !== 401) say(e.message, e.status !== 429);
    return;
  }
  follow(job.id, number);
}

async function follow(id, number) {
  const control = new AbortController();
  streams.set(number, control);
  try {
    const response = await api(`v1/live/renders/${id}/events`, { signal: control.signal, headers: { Accept: 'text/event-stream' } });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const kind = (block.match(/^event: ?(.*)$/m) || [])[1];
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        if (kind === 'status' && data) {
          const job = JSON.parse(data);
          if (job.status === 'succeeded') { control.abort(); await show(id, number, job); return; }
          if (job.status === 'failed' && number === sent) say(`The live render failed: ${job.error ? job.error.message : ''}`, true);
          if (job.status === 'failed' || job.status === 'cancelled') { control.abort(); return; }
        }
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError' && e.status !== 401 && number === sent) say(e.message, true);
  } finally {
    streams.delete(number);
  }
}

async function show(id, number, job) {
  if (number <= shown) return; // a newer drawing's image is already on screen
  const blob = await (await api(`v1/live/renders/${id}/image`)).blob();
  const url = URL.createObjectURL(blob);
  const ready = new Image();
  ready.src = url;
  try { await ready.decode(); } catch (e) { /* shown anyway */ }
  if (number <= shown) { URL.revokeObjectURL(url); return; }
  shown = number;
  const previous = image.src;
  image.src = url; // decoded already: the old image stays until this one is painted, no blank frame
  if (previous.startsWith('blob:')) image.addEventListener('load', () => URL.revokeObjectURL(previous), { once: true });
  for (const [older, control] of streams) if (older < number) control.abort(); // superseded
  const took = job.finished_at && job.created_at ? ` · render ${Math.round((job.finished_at - job.created_at) * 1000)} ms` : '';
  say(number === sent ? `ready: shown${took}` : `rendering… (showing an earlier stroke${took})`);
}

// --- start ------------------------------------------------------------------------------------
(async () => {
  redraw();
  if (!token && !(await exchange(null))) { signedOut(); return; }
  if (token) await renew();
  setInterval(renew, RENEW_MS);
  if (token) { say('ready: draw'); document.body.dataset.ready = 'true'; }
})();
