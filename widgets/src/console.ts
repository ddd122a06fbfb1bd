import type { RenderProps } from '@anywidget/types';

import { pageConfig } from './api';
import css from './console.css';
import { attachAudio } from './console_audio';
import { attachInput } from './console_input';
import { followVM, loadPreview, room, vmIsGone, zoom } from './console_life';
import { decodeUpdate, drawUpdate } from './console_decode';

/**
 * The live VM console: a canvas painted from the server's websocket
 * (`kernelswitch/api/vms/{name}/console`); frames never pass through the kernel.
 *
 * Wire format (see kernelswitch/console/encoders.py): binary messages
 * kind 1 = update (rects, then their pixels: RGBA rows raw or zlib'd, or per-tile
 *   palettes zlib'd; decoded by console_decode.ts),
 * kind 2 = audio (S16LE PCM);
 * text messages are JSON status / leds / error. Input goes back as JSON.
 */
export interface ConsoleModel {
  vm: string;
  /** the VM's host (its record's `uri`); '' or absent: the name alone says which */
  uri?: string;
  scale: 'fit' | '1:1' | 'integer';
  status: string;
  width: number;
  height: number;
  audio: boolean;
  volume: number;
  muted: boolean;
}

const SPECIAL_KEYS: [string, string][] = [
  ['Ctrl+Alt+Del', 'ctrl+alt+delete'],
  ['Ctrl+Alt+F1', 'ctrl+alt+f1'],
  ['Ctrl+Alt+F2', 'ctrl+alt+f2'],
  ['Alt+Tab', 'alt+tab'],
  ['Alt+F4', 'alt+f4'],
  ['Ctrl+W', 'ctrl+w'],
  ['Ctrl+T', 'ctrl+t'],
  ['Super', 'meta'],
  ['PrtSc', 'printscreen']
];
const OVERLAY: Record<string, string> = {
  idle: 'Connecting…',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  stopped: 'Stopped',
  paused: 'The VM is paused',
  deleted: 'The VM was deleted',
  error: 'Console error',
  closed: 'Disconnected from the server'
};

function button(label: string, title: string, cls = 'ks-console-btn'): HTMLButtonElement {
  const b = document.createElement('button');
  b.className = cls;
  b.textContent = label;
  b.title = title;
  b.type = 'button';
  return b;
}


/**
 * Inflate one zlib stream. Straight through the stream's writer and reader:
 * wrapping it in a Blob and a Response cost 2 ms more CPU per 400 kB update
 * (headless Chromium, captured updates of a scrolling console: 6.1-6.9 vs
 * 3.7-5.2 ms per paint); fflate's synchronous inflate measured 4.8-7.0.
 */
async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const ds = new DecompressionStream('deflate');
  const writer = ds.writable.getWriter();
  writer.write(data).catch(() => undefined); // a bad stream fails the read below
  writer.close().catch(() => undefined);
  const reader = ds.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    chunks.push(value);
    total += value.length;
  }
  if (chunks.length === 1) {
    return chunks[0];
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export function renderConsole({ model, el }: RenderProps<ConsoleModel>): () => void {
  const root = document.createElement('div');
  root.className = 'ks-console';
  root.tabIndex = 0;
  // Lumino skips its keyboard shortcuts for events from inside these elements.
  root.setAttribute('data-lm-suppress-shortcuts', 'true');
  root.setAttribute('data-p-suppress-shortcuts', 'true');
  const style = document.createElement('style');
  style.textContent = css;

  const bar = document.createElement('div');
  bar.className = 'ks-console-bar';
  const badge = document.createElement('span');
  badge.className = 'ks-console-status';
  const keys = document.createElement('span');
  keys.className = 'ks-console-keys';
  for (const [label, combo] of SPECIAL_KEYS) {
    const b = button(label, `Send ${label} to the VM`);
    b.dataset.keys = combo;
    b.addEventListener('click', () => {
      send({ type: 'press', keys: combo });
      root.focus();
    });
    keys.append(b);
  }
  const typeBox = document.createElement('input');
  typeBox.className = 'ks-console-typebox';
  typeBox.placeholder = 'Type text into the VM…';
  const typeBtn = button('Type', 'Type this text as keystrokes (Enter: type and press Enter)');
  const doType = (enter: boolean): void => {
    const text = typeBox.value + (enter ? '\n' : '');
    if (text) {
      send({ type: 'type', text });
      typeBox.value = '';
    }
  };
  typeBtn.addEventListener('click', () => doType(false));
  typeBox.addEventListener('keydown', (e) => {
    e.stopPropagation();
    if (e.key === 'Enter') {
      e.preventDefault();
      doType(true);
    }
  });
  const scaleSel = document.createElement('select');
  scaleSel.className = 'ks-console-scale';
  scaleSel.title = 'Scale: fit the cell, 1:1 device pixels, or crisp integer zoom';
  for (const [v, label] of [
    ['fit', 'Fit'],
    ['1:1', '1:1'],
    ['integer', 'Crisp ×N']
  ]) {
    const o = document.createElement('option');
    o.value = v;
    o.textContent = label;
    scaleSel.append(o);
  }
  // words, not symbols: emoji fonts are missing on many Linux desktops
  const fullBtn = button('Full screen', 'Full screen (keyboard lock where the browser allows)');
  fullBtn.classList.add('ks-console-fullscreen');
  const audioBtn = button('Sound off', 'Play the VM’s sound');
  audioBtn.classList.add('ks-console-audio');
  const volume = document.createElement('input');
  volume.type = 'range';
  volume.min = '0';
  volume.max = '1';
  volume.step = '0.05';
  volume.className = 'ks-console-volume';
  volume.title = 'Volume';
  bar.append(badge, keys, typeBox, typeBtn, scaleSel, audioBtn, volume, fullBtn);

  const screen = document.createElement('div');
  screen.className = 'ks-console-screen';
  const canvas = document.createElement('canvas');
  canvas.className = 'ks-console-canvas';
  canvas.width = 0;
  canvas.height = 0;
  const overlay = document.createElement('div');
  overlay.className = 'ks-console-overlay';
  const errorLine = document.createElement('div');
  errorLine.className = 'ks-console-error';
  // a banner above the screen, never over the guest's text
  screen.append(overlay, canvas);
  root.append(style, bar, screen, errorLine);
  el.append(root);
  // desynchronized: the low-latency canvas hint (updates may tear; a console is
  // fine with that): 5.6-6.2 vs 6.6-7.2 ms of browser CPU per paint in headless
  // Chromium on a scrolling guest, the screen the same in its screenshots
  const ctx = canvas.getContext('2d', {
    alpha: false,
    desynchronized: true
  }) as CanvasRenderingContext2D;

  // ------------------------------------------------------------ socket
  const { baseUrl, token } = pageConfig();
  const name = encodeURIComponent(model.get('vm'));
  const uri = model.get('uri') || '';
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const params = new URLSearchParams();
  if (token) {
    params.set('token', token);
  }
  if (uri) {
    params.set('uri', uri); // the VM on its own host, never a namesake elsewhere
  }
  const query = params.toString() ? `?${params.toString()}` : '';
  const url = `${proto}//${location.host}${baseUrl}kernelswitch/api/vms/${name}/console${query}`;
  let ws: WebSocket | null = null;
  let closed = false;
  let painted = 0;
  let paintChain: Promise<void> = Promise.resolve();
  let serverState = '';
  let vmPaused = false;
  let previewing = false; // one preview loop at a time

  const send = (msg: Record<string, unknown>): void => {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
    }
  };

  const setState = (given: string, message = ''): void => {
    serverState = given;
    // the console's link is up, but the guest's CPUs are stopped: say paused
    const state = given === 'connected' && vmPaused ? 'paused' : given;
    root.dataset.state = state;
    badge.textContent = state;
    badge.title = message;
    const text = OVERLAY[state];
    const said = state === given && state !== 'connecting' ? message : ''; // not QEMU's name when paused
    overlay.textContent = text ? (said ? `${text}: ${said}` : text) : '';
    overlay.hidden = !text;
    applyScale(); // the banner came or went: the room changed
    if (model.get('status') !== state) {
      model.set('status', state);
      model.save_changes();
    }
    // keys and typing reach a running guest only
    const live = state === 'connected';
    for (const c of [...keys.querySelectorAll('button'), typeBox, typeBtn]) {
      (c as HTMLButtonElement | HTMLInputElement).disabled = !live;
    }
    if (state === 'stopped' && !painted && !previewing) {
      previewing = true;
      void showPreview().finally(() => (previewing = false));
    }
  };

  /** A stopped VM: its last frame, full size, under the banner. */
  const showPreview = async (): Promise<void> => {
    // the server keeps the last frame as the VM stops: it may land a moment
    // after the "stopped" status, so ask again (less and less often) while
    // the VM stays stopped and nothing was painted
    for (let i = 0; !painted && !closed && root.dataset.state === 'stopped'; i++) {
      const bitmap = await loadPreview(model.get('vm'), uri);
      if (bitmap && !painted && !closed) {
        resize(bitmap.width, bitmap.height);
        ctx.drawImage(bitmap, 0, 0);
        root.dataset.preview = 'true';
        return;
      }
      await new Promise(r => setTimeout(r, Math.min(1000 * (i + 1), 10000)));
    }
  };

  const gone = (): void => {
    if (root.dataset.state === 'deleted') {
      return;
    }
    closed = true;
    ws?.close();
    setState('deleted', `VM ${model.get('vm')} no longer exists`);
  };
  const unfollow = followVM(model.get('vm'), uri, {
    onState: state => {
      vmPaused = state === 'paused';
      if (serverState) {
        setState(serverState, badge.title);
      }
    },
    onGone: gone
  });

  const resize = (w: number, h: number): void => {
    if (w === canvas.width && h === canvas.height) {
      return;
    }
    canvas.width = w;
    canvas.height = h;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, w, h);
    canvas.dataset.width = String(w);
    canvas.dataset.height = String(h);
    applyScale();
    model.set('width', w);
    model.set('height', h);
    model.save_changes();
  };

  const paint = async (buf: ArrayBuffer): Promise<void> => {
    const update = await decodeUpdate(buf, inflate); // console_decode.ts: every encoding
    resize(update.width, update.height);
    drawUpdate(ctx, update); // console_decode.ts: copies, then rects
    painted += 1;
    root.dataset.painted = String(painted);
  };

  const onText = (data: string): void => {
    const msg = JSON.parse(data) as Record<string, unknown>;
    if (msg.type === 'status') {
      setState(String(msg.state), String(msg.message ?? ''));
    } else if (msg.type === 'error') {
      errorLine.textContent = String(msg.message);
      root.dataset.error = String(msg.message);
    } else if (msg.type === 'leds') {
      root.dataset.caps = String(msg.caps);
    }
  };

  const connect = (): void => {
    setState('connecting');
    ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (model.get('audio')) {
        send({ type: 'audio', enable: true });
      }
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data === 'string') {
        onText(ev.data);
        return;
      }
      const buf = ev.data as ArrayBuffer;
      const kind = new Uint8Array(buf, 0, 1)[0];
      if (kind === 1) {
        // keep paints in arrival order (inflating is asynchronous)
        paintChain = paintChain.then(() => paint(buf)).catch(() => undefined);
      } else if (kind === 2) {
        audio.play(buf);
      }
    };
    ws.onclose = () => {
      ws = null;
      if (closed) {
        return;
      }
      setState('reconnecting', 'lost the server');
      // a VM deleted meanwhile answers 404 to the upgrade, which a browser
      // does not show: ask once per drop, and stop for good when it is gone
      void vmIsGone(model.get('vm'), uri).then(isGone => {
        if (isGone) {
          gone();
        } else if (!closed) {
          setTimeout(connect, 1000);
        }
      });
    };
  };

  // ------------------------------------------------------------ scale
  const applyScale = (): void => {
    const mode = model.get('scale') || 'fit';
    scaleSel.value = mode;
    root.dataset.scale = mode;
    const w = canvas.width;
    const h = canvas.height;
    canvas.style.imageRendering = mode === 'fit' ? 'auto' : 'pixelated';
    if (!w || !h) {
      canvas.style.width = '0';
      canvas.style.height = '0';
      return;
    }
    // the whole screen in sight, as large as the room allows: up and down, both ways
    const chrome = bar.offsetHeight + (overlay.hidden ? 0 : overlay.offsetHeight) + errorLine.offsetHeight;
    const k = zoom(mode, w, h, room(root, screen, chrome));
    canvas.style.maxWidth = 'none';
    canvas.style.width = `${Math.floor(w * k)}px`;
    canvas.style.height = `${Math.floor(h * k)}px`;
    canvas.dataset.zoom = k.toFixed(3);
  };
  scaleSel.addEventListener('change', () => {
    model.set('scale', scaleSel.value as ConsoleModel['scale']);
    model.save_changes();
  });
  model.on('change:scale', applyScale);
  const ro = new ResizeObserver(() => applyScale());
  ro.observe(screen);

  // ------------------------------------------------------------ keyboard, mouse
  attachInput(root, canvas, typeBox, send);

  // ------------------------------------------------------------ fullscreen
  const onFullscreen = (): void => {
    const full = document.fullscreenElement === root;
    fullBtn.textContent = full ? 'Exit full screen' : 'Full screen';
    fullBtn.title = full ? 'Back to the notebook (Esc)' : 'Full screen (keyboard lock where the browser allows)';
    root.classList.toggle('ks-mod-fullscreen', full);
    applyScale();
  };
  document.addEventListener('fullscreenchange', onFullscreen);
  fullBtn.addEventListener('click', async () => {
    if (document.fullscreenElement) {
      await document.exitFullscreen();
      return;
    }
    await root.requestFullscreen();
    root.focus();
    const kb = (navigator as unknown as { keyboard?: { lock?: () => Promise<void> } }).keyboard;
    await kb?.lock?.().catch(() => undefined);
  });

  // ------------------------------------------------------------ audio
  const audio = attachAudio(model, root, audioBtn, volume, send);

  connect();
  return () => {
    closed = true;
    unfollow();
    document.removeEventListener('fullscreenchange', onFullscreen);
    ro.disconnect();
    ws?.close();
    audio.close();
  };
}
