// The Hoist board page (PRODUCT §10). Plain JavaScript, no framework, no build step: it is
// served from the binary as it is written here. It uses only the public REST API and the
// board stream, as any client would.
//
// How it stays right while the board changes:
// - The stream is opened first and the board is read once it is open, so no change falls
//   between the two; changes that arrive while the board is being read wait in a queue
//   and are applied after it. Applying a change twice leaves the same board (each one
//   puts a card on top, replaces it or reloads its column).
// - A card that rises (`item.focused`, `item.created`) goes to the top of its column; a
//   moved card is taken out and its column's loaded part is read again (the stream does
//   not say where it landed); `resync` reads the whole board again.
// - Every text from the API is put in the page with `textContent`, never as markup.
'use strict';

const PAGE = 20;           // cards per column page (the kanban's per_column)
const RELOAD_MAX = 500;    // the most cards a column's reload reads (the API's limit)
const HEADER_EVERY = 1000; // ms between two refreshes of column counts and counters
const RETRY_MS = 1000;     // ms before reopening a dropped stream
const ITEM_EVENTS = ['item.created', 'item.updated', 'item.focused', 'item.moved', 'item.read', 'item.deleted'];
const BUCKETS = { overdue: 'Overdue', today: 'Today', tomorrow: 'Tomorrow', this_week: 'This week', next_week: 'Next week', later: 'Later', none: 'No deadline' };

const el = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem('hoist.token') || '',
  me: null,
  board: null,        // the board answer: {id, name, columns, ...}
  view: 'kanban',     // or 'deadlines'
  columns: new Map(), // column (or bucket) key → {key, list, cursor, loading, header}
  users: new Map(),   // user id → name (or a promise of it)
  stream: null,       // the EventSource
  streamGen: 0,       // bumped to forget a stream and its retries
  boardGen: 0,        // bumped by each pick of a board
  loadGen: 0,         // bumped by each read of the view: only the newest draws
  lastEventId: null,
  recorders: new Set(), // changes seen by reads in flight (record / replay)
  replaying: false,
  viewReading: false, // a read of the view is in flight
  viewDirty: false,   // changes came during it: read again after
  boardTimer: null,
  detailGen: 0,       // bumped by each card opened or closed
  reloads: new Map(), // column id → timer of its pending reload
  headerTimer: null,
  headerAt: 0,
  viewTimer: null,
  detail: null,       // {id, cursor} of the open card
};
window.hoist = { drawnAt: null };

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// One call to the API with the user's token; the API's error body becomes an ApiError.
async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + state.token };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach the server (' + e.message + ')');
  }
  const text = res.status === 204 ? '' : await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!res.ok) {
    const e = json && json.error ? json.error : { code: 'http_' + res.status, message: text.slice(0, 200) || res.statusText };
    throw new ApiError(res.status, e.code, e.message);
  }
  return json;
}

function showError(e) {
  const what = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e && e.message || e);
  el('error-text').textContent = what;
  el('error').hidden = false;
  // The token is wrong or no longer works: sign out and forget it.
  if (e instanceof ApiError && e.status === 401) signOut(true);
}

// Runs an async action and shows what it throws.
function guard(promise) {
  promise.catch(showError);
}

function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined && text !== null) n.textContent = String(text);
  return n;
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

// The browser's UTC offset as the API writes it (`+03:00`).
function tzOffset() {
  const m = -new Date().getTimezoneOffset();
  const sign = m < 0 ? '-' : '+';
  const a = Math.abs(m);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

function userName(id) {
  if (id === null || id === undefined) return '—';
  const known = state.users.get(id);
  if (typeof known === 'string') return known;
  return 'user ' + id;
}

// Reads a user's name once, then fills in every place that shows it.
function learnUser(id) {
  if (id === null || id === undefined || state.users.has(id)) return;
  state.users.set(id, api('GET', `/v1/users/${id}`).then((u) => {
    state.users.set(id, u.name);
    document.querySelectorAll(`[data-user="${id}"]`).forEach((n) => { n.textContent = u.name; });
  }, () => { state.users.set(id, 'user ' + id); }));
}

// ---- signing in and picking a board -------------------------------------------------

async function signIn(token) {
  state.token = token;
  const me = await api('GET', '/v1/me');
  sessionStorage.setItem('hoist.token', token);
  state.me = me;
  state.users.set(me.id, me.name);
  el('who').textContent = me.name;
  el('signin').hidden = true;
  el('signout').hidden = false;
  const boards = { items: [] };
  let cursor = null;
  do {
    const page = await api('GET', '/v1/boards?limit=500' + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''));
    boards.items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  const select = el('board');
  select.replaceChildren(node('option', null, 'Pick a board…'));
  select.firstChild.value = '';
  for (const b of boards.items) {
    const o = node('option', null, b.name);
    o.value = String(b.id);
    select.append(o);
  }
  select.hidden = false;
  const wanted = new URLSearchParams(location.hash.slice(1));
  if (wanted.get('view') === 'deadlines') state.view = 'deadlines';
  const id = wanted.get('board');
  if (id && boards.items.some((b) => String(b.id) === id)) {
    select.value = id;
    await openBoard(Number(id));
  } else if (boards.items.length === 0) {
    el('view').replaceChildren(node('p', 'hint', 'No boards yet: create one through the API (POST /v1/boards).'));
  } else {
    el('view').replaceChildren(node('p', 'hint', 'Pick a board.'));
  }
}

function signOut(forget) {
  if (forget) sessionStorage.removeItem('hoist.token');
  closeStream();
  state.boardGen += 1;
  state.me = null;
  state.board = null;
  closeDetail();
  el('signin').hidden = false;
  el('signout').hidden = true;
  el('board').hidden = true;
  el('tabs').hidden = true;
  el('mine-label').hidden = true;
  el('who').textContent = '';
  el('counters').textContent = '';
  clearView(false).append(node('p', 'hint', 'Paste a token to sign in, then pick a board.'));
}

async function openBoard(id) {
  const gen = ++state.boardGen;
  closeStream();
  const board = await api('GET', `/v1/boards/${id}`);
  if (gen !== state.boardGen) return; // another board was picked meanwhile
  state.board = board;
  // The previous board leaves the page at once: nothing of it stays live to clicks.
  closeDetail();
  clearView(false).append(node('p', 'hint', 'Loading…'));
  location.hash = `board=${id}` + (state.view === 'deadlines' ? '&view=deadlines' : '');
  el('tabs').hidden = false;
  el('mine-label').hidden = state.view !== 'deadlines';
  for (const t of document.querySelectorAll('.tab')) t.classList.toggle('active', t.dataset.view === state.view);
  state.lastEventId = null;
  await connect(true);
}

// ---- the board stream ---------------------------------------------------------------

function closeStream() {
  state.streamGen += 1;
  if (state.stream) state.stream.close();
  state.stream = null;
  setLive(false);
}

function setLive(on) {
  el('live').classList.toggle('off', !on);
  el('live').textContent = on ? 'live' : 'offline';
}

// Opens the board stream with a fresh single-use ticket, from the last change seen when
// there is one. With `reload`, the view is read once the stream is open (so no change
// falls between the two) and this resolves after that read. A ticket opens one stream
// only, so the browser's own retry would be refused: a dropped stream is reopened here,
// with a new ticket, resuming from the last change seen, or reading the view again when
// there is none to resume from.
async function connect(reload) {
  const gen = ++state.streamGen;
  if (state.stream) state.stream.close();
  state.stream = null;
  const board = state.board;
  if (!board) return;
  const again = (withReload, ms) => setTimeout(() => {
    if (gen === state.streamGen) guard(connect(withReload));
  }, ms);
  let ticket;
  try {
    ticket = await api('POST', '/v1/streams/ticket');
  } catch (e) {
    if (gen !== state.streamGen) return;
    showError(e);
    if (e.status !== 401) again(reload || !state.lastEventId, RETRY_MS * 3);
    return;
  }
  if (gen !== state.streamGen || state.board !== board) return;
  let url = `/v1/boards/${board.id}/stream?ticket=${encodeURIComponent(ticket.ticket)}`;
  if (state.lastEventId) url += `&last_event_id=${encodeURIComponent(state.lastEventId)}`;
  const es = new EventSource(url);
  state.stream = es;
  let wasOpen = false;
  const opened = await new Promise((resolve) => {
    es.onopen = () => { wasOpen = true; resolve(true); };
    es.onerror = () => {
      es.close();
      resolve(false);
      if (gen !== state.streamGen) return;
      setLive(false);
      again(wasOpen ? !state.lastEventId : (reload || !state.lastEventId), RETRY_MS);
    };
    for (const name of ITEM_EVENTS) {
      es.addEventListener(name, (ev) => {
        if (gen !== state.streamGen) return;
        state.lastEventId = ev.lastEventId || state.lastEventId;
        let item;
        try { item = JSON.parse(ev.data); } catch (_) { return; }
        apply(name, item);
      });
    }
    es.addEventListener('resync', () => {
      // Too far behind for the server to replay: read everything again.
      if (gen !== state.streamGen) return;
      state.lastEventId = null;
      guard(connect(true));
    });
  });
  if (!opened || gen !== state.streamGen) return;
  setLive(true);
  if (!reload) return;
  try {
    await loadView();
  } catch (e) {
    // Not read: the stream alone would keep an old (or empty) view live. Start over.
    if (gen !== state.streamGen) return;
    showError(e);
    state.lastEventId = null;
    if (e.status !== 401) again(true, RETRY_MS * 3);
  }
}

// Changes that arrive while a read is in flight are recorded and applied again on what
// the read draws: applied in order, they give the same board whether or not the read
// already saw them (each puts a card on top, redraws it, or takes it out).
function record() {
  const rec = [];
  state.recorders.add(rec);
  return rec;
}

function replay(rec) {
  state.recorders.delete(rec);
  state.replaying = true;
  try {
    for (const [name, item] of rec) apply(name, item);
  } finally {
    state.replaying = false;
  }
}

// The card of an item on the board (not the one being dragged, which is outside it).
function cardOf(id) {
  return el('view').querySelector(`.card[data-id="${id}"]`);
}

// One committed change of the board.
function apply(name, item) {
  if (!state.replaying) {
    for (const rec of state.recorders) rec.push([name, item]);
  }
  if (state.detail && state.detail.id === item.id && !state.replaying) {
    if (name === 'item.deleted') {
      closeDetail();
    } else {
      showFields(item);
      if (name === 'item.focused' || name === 'item.updated') guard(loadTimeline(true));
    }
  }
  if (state.view === 'deadlines') {
    // Any change may move an item between buckets: read the view again 0.3 s after the
    // first change of a burst (then again for those that came during that read).
    viewSoon();
    return;
  }
  if (item.column !== undefined && !state.columns.has(String(item.column))) {
    // A column this page does not know (added since it read the board): read it again.
    boardSoon();
    return;
  }
  const card = cardOf(item.id);
  const from = card ? state.columns.get(card.dataset.column) : null;
  switch (name) {
    case 'item.created':
      putOnTop(item);
      break;
    case 'item.focused':
      // A focus lifts the card only where focus mode is on; elsewhere it only lights it.
      if (state.board && state.board.focus_enabled) putOnTop(item);
      else if (card) fillCard(card, item);
      break;
    case 'item.updated':
    case 'item.read':
      if (card) fillCard(card, item);
      break;
    case 'item.moved':
      // Where it landed is read with its column; a card that stayed in its column keeps
      // its place until then (no blink), one that left it goes now.
      if (card && card.dataset.column === String(item.column)) fillCard(card, item);
      else if (card) card.remove();
      reloadColumnSoon(item.column);
      break;
    case 'item.deleted':
      if (card) card.remove();
      break;
    default:
      break;
  }
  // A column that lost a card may no longer fill its height, where no scroll can happen.
  if (from) setTimeout(() => moreIfAtEnd(from), 0);
  refreshHeadersSoon();
}

// The Deadlines view read again soon; a read in flight is let finish first (else, with
// changes coming faster than a read, none would ever draw) and is followed by another.
function viewSoon() {
  if (state.viewTimer) return;
  state.viewTimer = setTimeout(() => {
    state.viewTimer = null;
    if (state.viewReading) { state.viewDirty = true; return; }
    guard(loadView());
  }, 300);
}

// The board (columns, names, focus mode) and the view read again, once for a burst.
function boardSoon() {
  if (state.boardTimer) return;
  state.boardTimer = setTimeout(() => {
    state.boardTimer = null;
    const board = state.board;
    if (!board) return;
    guard(api('GET', `/v1/boards/${board.id}`).then((b) => {
      if (state.board !== board) return null;
      state.board = b;
      return loadView();
    }));
  }, 150);
}

// ---- the Kanban view ----------------------------------------------------------------

// Reads and draws the current view; of overlapping reads only the newest draws.
async function loadView() {
  const board = state.board;
  if (!board) return;
  const gen = ++state.loadGen;
  const rec = record();
  let drawn = false;
  state.viewReading = true;
  try {
    drawn = state.view === 'deadlines' ? await loadDeadlines(board, gen) : await loadKanban(board, gen);
  } finally {
    state.recorders.delete(rec);
    if (gen === state.loadGen) {
      state.viewReading = false;
      if (state.viewDirty) { state.viewDirty = false; viewSoon(); }
    }
  }
  if (!drawn) return;
  replay(rec);
  if (window.hoist.drawnAt === null) window.hoist.drawnAt = performance.now();
  document.body.dataset.ready = state.view;
  refreshHeadersSoon(true);
}

// Whether this read is still the one to draw.
function current(board, gen, view) {
  return state.board === board && state.loadGen === gen && state.view === view;
}

// Empties the view for what is drawn next; `drawing`: by the read that is current (else
// any read in flight is made stale).
function clearView(drawing) {
  if (!drawing) state.loadGen += 1;
  cancelDrag();
  state.columns.clear();
  const view = el('view');
  view.replaceChildren();
  return view;
}

async function loadKanban(board, gen) {
  const k = await api('GET', `/v1/boards/${board.id}/kanban?per_column=${PAGE}`);
  if (!current(board, gen, 'kanban')) return false;
  const view = clearView(true);
  for (const c of k.columns) {
    const col = makeColumn(String(c.id), c.name, (cursor) =>
      `/v1/boards/${board.id}/columns/${c.id}/items?limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`);
    col.section.dataset.col = String(c.id);
    setColumnStats(col, c.count, c.unread);
    view.append(col.section);
    fillColumn(col, c.items, c.next_cursor);
  }
  return true;
}

// A column (or a Deadlines bucket): its header, its scrolled list of cards, and how to
// read its next page.
function makeColumn(key, name, nextPath) {
  const section = node('section', 'column');
  const header = node('header');
  const h2 = node('h2');
  h2.append(node('span', 'name', name), node('span', 'stats'));
  header.append(h2, node('div', 'mine'));
  const list = node('div', 'cards');
  const more = node('div', 'more');
  list.append(more);
  section.append(header, list);
  const col = { key, section, header, list, more, cursor: null, loading: false, epoch: 0, nextPath };
  list.addEventListener('scroll', () => moreIfAtEnd(col));
  state.columns.set(key, col);
  return col;
}

// Reads the next page when the end of the column is in sight (also when the cards do not
// fill it, where no scroll can happen).
function moreIfAtEnd(col) {
  const l = col.list;
  if (col.cursor && l.scrollTop + l.clientHeight >= l.scrollHeight - 120) guard(loadMore(col));
}

function setColumnStats(col, count, unread) {
  const stats = col.header.querySelector('.stats');
  stats.textContent = unread ? `${count} · ${unread} unread` : String(count);
}

function fillColumn(col, items, cursor) {
  for (const it of items) {
    if (cardOf(it.id)) continue;
    col.list.insertBefore(makeCard(it), col.more);
  }
  col.cursor = cursor;
  col.more.textContent = cursor ? 'scroll for more' : '';
  setTimeout(() => moreIfAtEnd(col), 0);
}

async function loadMore(col) {
  if (col.loading || !col.cursor) return;
  col.loading = true;
  col.more.textContent = 'loading…';
  const epoch = col.epoch;
  const rec = record();
  let page = null;
  try {
    page = await api('GET', col.nextPath(col.cursor));
  } finally {
    state.recorders.delete(rec);
    col.loading = false;
    col.more.textContent = col.cursor ? 'scroll for more' : '';
  }
  // A reload of the column since (or another view) makes this page stale.
  if (state.columns.get(col.key) !== col || col.epoch !== epoch) return;
  fillColumn(col, page.items, page.next_cursor);
  replay(rec);
}

function makeCard(item) {
  const card = node('div', 'card');
  card.dataset.id = String(item.id);
  fillCard(card, item);
  return card;
}

function fillCard(card, item) {
  card.classList.toggle('lit', Boolean(item.unread));
  card.dataset.column = String(item.column);
  const title = node('div', 'title', item.title);
  const meta = node('div', 'meta');
  const who = node('span', null, userName(item.responsible));
  who.dataset.user = String(item.responsible);
  learnUser(item.responsible);
  meta.append(who);
  if (item.amount !== null && item.amount !== undefined) meta.append(node('span', null, String(item.amount)));
  if (item.next_deadline) {
    const d = node('span', 'deadline', 'due ' + when(item.next_deadline));
    if (Date.parse(item.next_deadline) < Date.now()) d.classList.add('overdue');
    meta.append(d);
  }
  if (item.focus_reason && item.unread) meta.append(node('span', null, item.focus_reason.replace(/_/g, ' ')));
  const parts = [];
  if (item.attention > 0) parts.push(node('span', 'attention', item.attention));
  card.replaceChildren(...parts, title, meta);
}

// A card that rose: to the top of its column, wherever it was.
function putOnTop(item) {
  const old = cardOf(item.id);
  if (old) old.remove();
  const col = state.columns.get(String(item.column));
  if (!col) return;
  col.list.insertBefore(makeCard(item), col.list.firstChild);
}

// Reads a column's loaded part again (after a move, whose landing place the stream does
// not give); the moves of a burst are read at once, 150 ms after the first.
function reloadColumnSoon(column) {
  const key = String(column);
  if (state.reloads.has(key)) return;
  state.reloads.set(key, setTimeout(() => {
    state.reloads.delete(key);
    guard(reloadColumn(key));
  }, 150));
}

async function reloadColumn(key) {
  const col = state.columns.get(key);
  const board = state.board;
  if (!col || !board || state.view !== 'kanban') return;
  col.epoch += 1;
  const epoch = col.epoch;
  const shown = col.list.querySelectorAll('.card').length;
  const limit = Math.min(RELOAD_MAX, Math.max(PAGE, shown));
  const rec = record();
  let page;
  try {
    page = await api('GET', `/v1/boards/${board.id}/columns/${key}/items?limit=${limit}`);
  } finally {
    state.recorders.delete(rec);
  }
  if (state.columns.get(key) !== col || col.epoch !== epoch) return;
  for (const c of col.list.querySelectorAll('.card')) c.remove();
  for (const it of page.items) {
    const other = cardOf(it.id);
    if (other) other.remove();
    col.list.insertBefore(makeCard(it), col.more);
  }
  col.cursor = page.next_cursor;
  col.more.textContent = page.next_cursor ? 'scroll for more' : '';
  replay(rec);
  setTimeout(() => moreIfAtEnd(col), 0);
}

// Column counts and the user's counters, at most once a second.
function refreshHeadersSoon(now) {
  if (state.headerTimer) return;
  const wait = now ? 0 : Math.max(0, state.headerAt + HEADER_EVERY - Date.now());
  state.headerTimer = setTimeout(() => {
    state.headerTimer = null;
    state.headerAt = Date.now();
    guard(refreshHeaders());
  }, wait);
}

async function refreshHeaders() {
  const board = state.board;
  if (!board) return;
  const counters = await api('GET', '/v1/counters');
  const c = el('counters');
  c.replaceChildren('unread ', node('b', null, counters.unread_items), ' · overdue ', node('b', null, counters.overdue_activities));
  if (state.view !== 'kanban' || state.board !== board) return;
  const mine = (counters.boards || []).find((b) => b.board === board.id);
  const byColumn = new Map((mine ? mine.columns : []).map((x) => [String(x.column), x]));
  const k = await api('GET', `/v1/boards/${board.id}/kanban?per_column=1`);
  if (state.board !== board || state.view !== 'kanban') return;
  const drawn = [...el('view').querySelectorAll('.column')].map((c) => c.dataset.col + ':' + c.querySelector('.name').textContent);
  const now = k.columns.map((c) => c.id + ':' + c.name);
  if (drawn.join('\n') !== now.join('\n')) {
    // Columns added, renamed, moved or removed since the board was read.
    boardSoon();
    return;
  }
  for (const kc of k.columns) {
    const col = state.columns.get(String(kc.id));
    if (!col) continue;
    setColumnStats(col, kc.count, kc.unread);
    const you = byColumn.get(String(kc.id));
    const text = you && (you.unread_items || you.overdue_activities)
      ? `yours: ${you.unread_items} unread, ${you.overdue_activities} overdue` : '';
    col.header.querySelector('.mine').textContent = text;
  }
}

// ---- the Deadlines view -------------------------------------------------------------

async function loadDeadlines(board, gen) {
  const tz = tzOffset();
  const mine = el('mine').checked && state.me ? `&responsible=${state.me.id}` : '';
  const q = `tz=${encodeURIComponent(tz)}${mine}`;
  const v = await api('GET', `/v1/boards/${board.id}/deadlines?${q}&per_bucket=${PAGE}`);
  if (!current(board, gen, 'deadlines')) return false;
  const view = clearView(true);
  for (const b of v.buckets) {
    const col = makeColumn('bucket:' + b.key, BUCKETS[b.key] || b.key, (cursor) =>
      `/v1/boards/${board.id}/deadlines/${b.key}?${q}&limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`);
    col.section.dataset.bucket = b.key;
    setColumnStats(col, b.count, 0);
    view.append(col.section);
    fillColumn(col, b.items, b.next_cursor);
  }
  return true;
}

// ---- dragging a card ----------------------------------------------------------------
// Pointer events rather than HTML5 drag and drop: one code path for mouse and pen (and a
// finger dragging sideways; a vertical swipe scrolls the column), and a WebDriver can
// drive it.

let press = null; // {card, from, x, y, dragging, placeholder, dx, dy}

function onPointerDown(ev) {
  const card = ev.target.closest('.card');
  if (!card || ev.button !== 0 || state.view !== 'kanban' || press) return;
  press = { card, from: card.dataset.column, x: ev.clientX, y: ev.clientY, dragging: false };
}

function onPointerMove(ev) {
  if (!press) return;
  if (!press.dragging) {
    if (Math.hypot(ev.clientX - press.x, ev.clientY - press.y) < 6) return;
    if (!press.card.isConnected) { press = null; return; } // redrawn meanwhile
    const r = press.card.getBoundingClientRect();
    press.dragging = true;
    press.dx = press.x - r.left;
    press.dy = press.y - r.top;
    press.placeholder = node('div', 'placeholder');
    press.placeholder.style.height = r.height + 'px';
    press.card.replaceWith(press.placeholder);
    press.card.style.width = r.width + 'px';
    press.card.classList.add('dragging');
    document.body.append(press.card);
  }
  ev.preventDefault();
  press.card.style.left = (ev.clientX - press.dx) + 'px';
  press.card.style.top = (ev.clientY - press.dy) + 'px';
  const under = document.elementFromPoint(ev.clientX, ev.clientY);
  const list = under && under.closest('#view .cards');
  if (!list || !state.columns.get(list.parentElement.dataset.col)) return;
  const over = under.closest('.card');
  if (over) {
    const r = over.getBoundingClientRect();
    const before = ev.clientY < r.top + r.height / 2;
    list.insertBefore(press.placeholder, before ? over : over.nextSibling);
  } else {
    const col = state.columns.get(list.parentElement.dataset.col);
    const cards = list.querySelectorAll('.card');
    const last = cards[cards.length - 1];
    if (!last || ev.clientY > last.getBoundingClientRect().bottom) list.insertBefore(press.placeholder, col.more);
  }
}

// Ends a drag without moving anything: the card's column is read again.
function cancelDrag() {
  const p = press;
  press = null;
  if (!p || !p.dragging) return;
  p.card.remove();
  p.placeholder.remove();
  reloadColumnSoon(p.from);
}

function onPointerUp() {
  const p = press;
  if (!p || !p.dragging) { press = null; return; }
  const list = p.placeholder.parentElement;
  if (!list || !list.isConnected) { cancelDrag(); return; }
  press = null;
  const column = list.parentElement.dataset.col;
  // The column may have been redrawn during the drag, with this card in it.
  const other = cardOf(p.card.dataset.id);
  if (other) other.remove();
  let prev = p.placeholder.previousElementSibling;
  while (prev && !prev.classList.contains('card')) prev = prev.previousElementSibling;
  p.card.classList.remove('dragging');
  p.card.style.left = p.card.style.top = p.card.style.width = '';
  p.placeholder.replaceWith(p.card);
  const source = state.columns.get(p.from);
  if (source) setTimeout(() => moreIfAtEnd(source), 0);
  p.card.dataset.justDropped = '1';
  setTimeout(() => { delete p.card.dataset.justDropped; }, 0);
  const id = Number(p.card.dataset.id);
  const position = prev ? { after: Number(prev.dataset.id) } : 'top';
  p.card.dataset.column = column;
  api('POST', `/v1/items/${id}/move`, { column: Number(column), position }).catch((e) => {
    showError(e);
    reloadColumnSoon(p.from);
    reloadColumnSoon(column);
  });
}

// ---- a card's detail ----------------------------------------------------------------

async function showDetail(id, read) {
  if (!state.board) return;
  const gen = ++state.detailGen;
  const board = state.board;
  let item = await api('GET', `/v1/items/${id}`);
  if (read && item.unread) item = await api('POST', `/v1/items/${id}/read`);
  // Another card clicked, the panel closed or another board picked meanwhile.
  if (gen !== state.detailGen || state.board !== board) return;
  state.detail = { id, cursor: null, seq: 0 };
  showFields(item);
  el('detail').hidden = false;
  await loadTimeline(true);
}

function closeDetail() {
  state.detailGen += 1;
  state.detail = null;
  el('detail').hidden = true;
}

function showFields(item) {
  el('detail-title').textContent = item.title;
  const dl = el('detail-fields');
  const rows = [];
  const columns = state.board ? state.board.columns || [] : [];
  const column = columns.find((c) => c.id === item.column);
  const row = (k, v) => { rows.push(node('dt', null, k), node('dd', null, v)); };
  row('Column', column ? column.name : item.column);
  row('Responsible', userName(item.responsible));
  if (item.amount !== null && item.amount !== undefined) row('Amount', item.amount);
  row('Attention', item.attention);
  row('Unread', item.unread ? 'yes' : 'no');
  if (item.focus_reason) row('Focused', `${item.focus_reason.replace(/_/g, ' ')}, ${when(item.focused_at)}`);
  row('Next deadline', item.next_deadline ? when(item.next_deadline) : '—');
  for (const [k, v] of Object.entries(item.fields || {})) row(k, v);
  const contacts = item.contacts || {};
  if ((contacts.phones || []).length) row('Phones', contacts.phones.join(', '));
  if ((contacts.emails || []).length) row('E-mails', contacts.emails.join(', '));
  row('Created', when(item.created_at));
  row('Updated', when(item.updated_at));
  dl.replaceChildren(...rows);
}

// The open card's timeline: from its newest entry (`fresh`, drawn in one swap once read),
// or its next older page.
async function loadTimeline(fresh) {
  const d = state.detail;
  if (!d) return;
  const more = el('timeline-more');
  if (!fresh && more.disabled) return; // that page is on its way
  const seq = ++d.seq; // a newer read of the timeline wins
  const cursor = !fresh && d.cursor ? `&cursor=${encodeURIComponent(d.cursor)}` : '';
  if (!fresh) more.disabled = true;
  let page;
  try {
    page = await api('GET', `/v1/items/${d.id}/timeline?limit=${PAGE}${cursor}`);
  } finally {
    if (!fresh) more.disabled = false;
  }
  if (state.detail !== d || seq !== d.seq) return;
  const lis = page.items.map((e) => {
    const li = node('li');
    const head = node('div', 'when');
    const author = node('span', null, e.author === null ? 'system' : userName(e.author));
    if (e.author !== null) { author.dataset.user = String(e.author); learnUser(e.author); }
    head.append(`${when(e.at)} · ${e.kind.replace(/_/g, ' ')} · `, author);
    li.append(head, node('div', 'text', e.text));
    return li;
  });
  if (fresh) el('timeline').replaceChildren(...lis); else el('timeline').append(...lis);
  d.cursor = page.next_cursor;
  el('timeline-more').hidden = !page.next_cursor;
}

// ---- wiring -------------------------------------------------------------------------

function start() {
  el('signin').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = el('token').value.trim();
    if (!t) return;
    el('token').value = '';
    el('error').hidden = true;
    guard(signIn(t));
  });
  el('signout').addEventListener('click', () => signOut(true));
  el('error-close').addEventListener('click', () => { el('error').hidden = true; });
  el('board').addEventListener('change', (ev) => {
    const id = Number(ev.target.value);
    if (id) guard(openBoard(id));
  });
  for (const t of document.querySelectorAll('.tab')) {
    t.addEventListener('click', () => {
      if (!state.board || state.view === t.dataset.view) return;
      state.view = t.dataset.view;
      guard(openBoard(state.board.id));
    });
  }
  el('mine').addEventListener('change', () => { if (state.board) guard(loadView()); });
  el('detail-close').addEventListener('click', closeDetail);
  el('timeline-more').addEventListener('click', () => guard(loadTimeline(false)));
  const view = el('view');
  view.addEventListener('pointerdown', onPointerDown);
  document.addEventListener('pointermove', onPointerMove);
  document.addEventListener('pointerup', onPointerUp);
  document.addEventListener('pointercancel', cancelDrag);
  view.addEventListener('click', (ev) => {
    const card = ev.target.closest('.card');
    if (card && !card.dataset.justDropped) guard(showDetail(Number(card.dataset.id), true));
  });
  if (state.token) guard(signIn(state.token));
}

start();
