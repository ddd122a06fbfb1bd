import type { RenderProps } from '@anywidget/types';

import { pageConfig } from './api';
import css from './console.css';
import frameCss from './vm_frame.css';
import { attachAudio } from './console_audio';
import { attachInput } from './console_input';
import { followVM, loadPreview, room, vmIsGone, zoom } from './console_life';
import { decodeUpdate, drawUpdate, inflate } from './console_decode';
import { makeConsoleBar } from './console_toolbar';

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

export function renderConsole({ model, el }: RenderProps<ConsoleModel>): () => void {
  const root = document.createElement('div');
  root.className = 'ks-console';
  root.tabIndex = 0;
  // Lumino skips its keyboard shortcuts for events from inside these elements.
  root.setAttribute('data-lm-suppress-shortcuts', 'true');
  root.setAttribute('data-p-suppress-shortcuts', 'true');
  const style = document.createElement('style');
  style.textContent = frameCss + css;

  // the toolbar's input goes out through send (below); full screen changes the room
  const { bar, badge, typeBox, scaleSel, audioBtn, volume, setLive, close: closeBar } =
    makeConsoleBar(root, msg => send(msg), () => applyScale());

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
    setLive(state === 'connected');
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

  // ------------------------------------------------------------ audio
  const audio = attachAudio(model, root, audioBtn, volume, send);

  connect();
  return () => {
    closed = true;
    unfollow();
    closeBar();
    ro.disconnect();
    ws?.close();
    audio.close();
  };
}
