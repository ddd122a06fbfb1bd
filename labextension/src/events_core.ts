/**
 * The events websocket's client, shared by everything on the page.
 *
 * One websocket per page (the JupyterLab extension and the notebook widgets
 * are separate bundles: they meet on a global key), opened while anyone
 * listens, reconnected with backoff (0.5 s doubling to 15 s). The server sends
 * a snapshot first, then one message per change (see
 * kernelswitch/server/events_handlers.py); this client keeps the snapshot up
 * to date with those changes, so a listener that subscribes to "snapshot"
 * late gets the current state at once, and every reconnect delivers a fresh
 * "snapshot" to all.
 *
 * No JupyterLab imports here: labextension/src/events.ts and
 * widgets/src/events.ts only say how to build the URL.
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
export type EventCallback = (msg: any) => void;

interface IShared {
  listeners: Map<string, Set<EventCallback>>;
  ws: WebSocket | null;
  url: (() => string) | null;
  state: any | null;
  delay: number;
  retry: ReturnType<typeof setTimeout> | undefined;
  idle: ReturnType<typeof setTimeout> | undefined;
  visible: Set<unknown>;
  /** owners that show live stats graphs (made on first use: older bundles lack it) */
  stats?: Set<unknown>;
  connected: boolean;
}

const KEY = Symbol.for('kernelswitch.events.v1');
const FIRST_DELAY = 500;
const MAX_DELAY = 15_000;
/** ms the socket stays open after the last listener left (tabs switching views). */
const LINGER = 2_000;

function shared(): IShared {
  const g = globalThis as any;
  if (!g[KEY]) {
    g[KEY] = {
      listeners: new Map(),
      ws: null,
      url: null,
      state: null,
      delay: FIRST_DELAY,
      retry: undefined,
      idle: undefined,
      visible: new Set(),
      connected: false
    } as IShared;
  }
  return g[KEY] as IShared;
}

function count(s: IShared): number {
  let n = 0;
  s.listeners.forEach(set => (n += set.size));
  return n;
}

function same(a: any, b: any): boolean {
  return a?.name === b?.name && a?.uri === b?.uri;
}

/** Apply one change to the kept snapshot (what a late "snapshot" listener gets). */
function apply(state: any, msg: any): void {
  const vms: any[] = state.vms;
  const i = vms.findIndex(v => same(v, msg));
  switch (msg.type) {
    case 'vm':
      if (i >= 0) {
        vms[i] = { ...vms[i], state: msg.state };
      }
      break;
    case 'vm_defined':
      if (i >= 0) {
        vms[i] = { ...vms[i], ...msg.vm, uri: msg.uri };
      } else {
        vms.push({ ...msg.vm, uri: msg.uri });
        vms.sort((a, b) => String(a.name).localeCompare(String(b.name)));
      }
      break;
    case 'vm_undefined':
      if (i >= 0) {
        vms.splice(i, 1);
      }
      break;
    case 'thumbnail':
      if (i >= 0) {
        vms[i] = { ...vms[i], thumbnail_version: msg.version };
      }
      break;
    case 'envs':
      state.envs_version = msg.version;
      break;
    case 'host': {
      const hosts: any[] = state.hosts;
      const h = hosts.findIndex(x => x.uri === msg.uri);
      const host = { uri: msg.uri, state: msg.state, ...(msg.reason ? { reason: msg.reason } : {}) };
      if (h >= 0) {
        hosts[h] = host;
      } else {
        hosts.push(host);
      }
      break;
    }
  }
}

function dispatch(s: IShared, msg: any): void {
  for (const type of [msg.type, '*']) {
    for (const cb of Array.from(s.listeners.get(type) ?? [])) {
      try {
        cb(msg);
      } catch (error) {
        console.error('kernelswitch: an events listener failed', error);
      }
    }
  }
}

function sendVisibility(s: IShared): void {
  if (s.ws && s.ws.readyState === WebSocket.OPEN) {
    s.ws.send(JSON.stringify({ type: 'thumbnails', visible: s.visible.size > 0 }));
  }
}

function sendStats(s: IShared): void {
  if (s.ws && s.ws.readyState === WebSocket.OPEN) {
    s.ws.send(JSON.stringify({ type: 'stats', watch: (s.stats?.size ?? 0) > 0 }));
  }
}

function connect(s: IShared): void {
  clearTimeout(s.retry);
  s.retry = undefined;
  if (s.ws || !s.url || !count(s)) {
    return;
  }
  let ws: WebSocket;
  try {
    ws = new WebSocket(s.url());
  } catch {
    schedule(s);
    return;
  }
  s.ws = ws;
  ws.onopen = () => {
    s.connected = true;
    s.delay = FIRST_DELAY;
    if (s.visible.size) {
      sendVisibility(s);
    }
    if (s.stats?.size) {
      sendStats(s);
    }
  };
  ws.onmessage = event => {
    let msg: any;
    try {
      msg = JSON.parse(String(event.data));
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') {
      return;
    }
    if (msg.type === 'snapshot') {
      s.state = { ...msg, vms: [...(msg.vms ?? [])], hosts: [...(msg.hosts ?? [])] };
    } else if (s.state) {
      apply(s.state, msg);
    }
    dispatch(s, msg);
  };
  ws.onclose = () => {
    if (s.ws !== ws) {
      return;
    }
    s.ws = null;
    s.connected = false;
    schedule(s);
  };
}

function schedule(s: IShared): void {
  if (!count(s) || s.retry !== undefined) {
    return;
  }
  s.retry = setTimeout(() => connect(s), s.delay);
  s.delay = Math.min(s.delay * 2, MAX_DELAY);
}

/**
 * Call `cb(msg)` for every message of `type` ("vm", "vm_defined", "vm_undefined",
 * "media", "thumbnail", "envs", "host", "snapshot", "error", or "*" for all).
 * Returns a function that stops it. A "snapshot" listener that joins after the
 * first snapshot gets the current state right away.
 */
export function subscribe(url: () => string, type: string, cb: EventCallback): () => void {
  const s = shared();
  s.url = s.url ?? url;
  clearTimeout(s.idle);
  s.idle = undefined;
  let set = s.listeners.get(type);
  if (!set) {
    set = new Set();
    s.listeners.set(type, set);
  }
  const entry: EventCallback = msg => cb(msg);
  set.add(entry);
  if (type === 'snapshot' && s.state) {
    const now = { ...s.state, vms: [...s.state.vms], hosts: [...s.state.hosts] };
    queueMicrotask(() => set?.has(entry) && entry(now));
  }
  connect(s);
  let done = false;
  return () => {
    if (done) {
      return;
    }
    done = true;
    set?.delete(entry);
    if (!count(s)) {
      clearTimeout(s.idle);
      s.idle = setTimeout(() => {
        if (!count(s) && s.ws) {
          const ws = s.ws;
          s.ws = null;
          s.state = null;
          s.connected = false;
          ws.close();
        }
      }, LINGER);
    }
  };
}

/**
 * Say whether `owner` (a VM list) is on screen: the server takes screenshot
 * thumbnails only while some client shows them. Call with false when it hides
 * or goes away.
 */
export function setThumbnailsVisible(owner: unknown, visible: boolean): void {
  const s = shared();
  const before = s.visible.size > 0;
  if (visible) {
    s.visible.add(owner);
  } else {
    s.visible.delete(owner);
  }
  if (before !== s.visible.size > 0) {
    sendVisibility(s);
  }
}

/**
 * Say whether `owner` shows live stats graphs: while some owner does, the
 * server pushes "stats" events ({name, uri, sample}) about every second per
 * running VM; it samples nothing while none does.
 */
export function setStatsWatched(owner: unknown, watched: boolean): void {
  const s = shared();
  s.stats ??= new Set();
  const before = s.stats.size > 0;
  if (watched) {
    s.stats.add(owner);
  } else {
    s.stats.delete(owner);
  }
  if (before !== s.stats.size > 0) {
    sendStats(s);
  }
}

/** Whether the events websocket is open now (tests, status lines). */
export function eventsConnected(): boolean {
  return shared().connected;
}
