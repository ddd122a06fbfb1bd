import type { RenderProps } from '@anywidget/types';
import { Terminal } from '@xterm/xterm';
import xtermCss from '@xterm/xterm/css/xterm.css';

import { pageConfig } from './api';
import css from './serial.css';
import frameCss from './vm_frame.css';
import { fitRows } from './serial_fit';

/**
 * The VM serial terminal: xterm.js (the terminal JupyterLab itself uses) on the
 * server's websocket `kernelswitch/api/vms/{name}/serial`. Binary messages are
 * the guest's raw output (the recent backlog first), text messages JSON
 * `{type: "status" | "error"}`; keys go back as `{type: "input", data}`.
 * The server keeps the port open across reboots; this view reconnects only
 * when the server itself goes away.
 */
export interface SerialModel {
  vm: string;
  /** The VM's host (libvirt URI); '' or absent: the host that has that name. */
  uri?: string;
  status: string;
}

const LABELS: Record<string, string> = {
  connecting: 'connecting…',
  connected: 'connected',
  stopped: 'stopped',
  error: 'error',
  closed: 'disconnected'
};

export function renderSerial({ model, el }: RenderProps<SerialModel>): () => void {
  const root = document.createElement('div');
  root.className = 'ks-serial';
  const style = document.createElement('style');
  style.textContent = xtermCss + frameCss + css;
  const bar = document.createElement('div');
  bar.className = 'ks-serial-bar';
  const name = document.createElement('span');
  name.className = 'ks-serial-name';
  name.textContent = `${model.get('vm')} — serial`;
  const badge = document.createElement('span');
  badge.className = 'ks-serial-status';
  const spacer = document.createElement('span');
  spacer.className = 'ks-serial-spacer';
  const clear = document.createElement('button');
  clear.type = 'button';
  clear.className = 'jp-mod-styled ks-serial-clear';
  clear.textContent = 'Clear';
  clear.title = 'Clear the terminal (the guest and its log are not affected)';
  bar.append(name, badge, spacer, clear);
  const box = document.createElement('div');
  box.className = 'ks-serial-term';
  const errorLine = document.createElement('div');
  errorLine.className = 'ks-serial-error';
  root.append(style, bar, box, errorLine);
  el.append(root);

  // xterm measures its cells with this font: a real font list, not a CSS variable
  const codeFont = getComputedStyle(document.body).getPropertyValue('--jp-code-font-family').trim();
  const term = new Terminal({
    cols: 80,
    rows: 24,
    convertEol: false,
    scrollback: 5000,
    fontFamily: codeFont || 'monospace',
    fontSize: 13,
    lineHeight: 1.1,
    theme: { background: '#000000', foreground: '#e0e0e0' }
  });
  term.open(box);
  const unfit = fitRows(term, box);
  clear.addEventListener('click', () => term.clear());

  const setState = (state: string, message = ''): void => {
    root.dataset.state = state;
    badge.textContent = LABELS[state] ?? state;
    badge.title = message;
    if (model.get('status') !== state) {
      model.set('status', state);
      model.save_changes();
    }
  };

  const { baseUrl, token } = pageConfig();
  const vm = encodeURIComponent(model.get('vm'));
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const params = new URLSearchParams();
  if (token) {
    params.set('token', token);
  }
  if (model.get('uri')) {
    params.set('uri', String(model.get('uri')));
  }
  const query = params.toString() ? `?${params}` : '';
  const url = `${proto}//${location.host}${baseUrl}kernelswitch/api/vms/${vm}/serial${query}`;
  let ws: WebSocket | null = null;
  let closed = false;
  let received = 0;

  const connect = (): void => {
    setState('connecting');
    ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data === 'string') {
        const msg = JSON.parse(ev.data) as Record<string, unknown>;
        if (msg.type === 'status') {
          setState(String(msg.state), String(msg.message ?? ''));
        } else if (msg.type === 'error') {
          errorLine.textContent = String(msg.message);
        }
        return;
      }
      const bytes = new Uint8Array(ev.data as ArrayBuffer);
      received += bytes.length;
      root.dataset.received = String(received);
      term.write(bytes);
    };
    ws.onclose = () => {
      ws = null;
      if (!closed) {
        setState('closed', 'lost the server');
        // the backlog comes again on reconnect: start from a clean screen
        setTimeout(() => {
          if (!closed) {
            term.reset();
            connect();
          }
        }, 1000);
      }
    };
  };
  const input = term.onData((data: string) => {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'input', data }));
    }
  });
  connect();

  return () => {
    closed = true;
    unfit();
    input.dispose();
    ws?.close();
    term.dispose();
  };
}
