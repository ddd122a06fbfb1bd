/**
 * Helpers shared by the VM manager and the create-VM form: binary fetches
 * with the page's credentials, sizes, one-line errors, a tiny local model.
 */

import { pageConfig } from './api';
import { APIError } from './api';

/** The `_xsrf` cookie, as ServerConnection sends it. */
function xsrf(): string | undefined {
  const match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
  return match ? decodeURIComponent(match[1]) : undefined;
}

/**
 * GET `{base_url}kernelswitch/api/{endPoint}` as a Blob (a preview PNG): the
 * browser fetches it from the server itself, so images never pass through the
 * kernel. A JSON error answer becomes an APIError with the server's message.
 */
export async function requestBlob(endPoint: string, signal?: AbortSignal): Promise<Blob> {
  const { baseUrl, token } = pageConfig();
  const headers = new Headers();
  if (token) {
    headers.set('Authorization', `token ${token}`);
  }
  const x = xsrf();
  if (x) {
    headers.set('X-XSRFToken', x);
  }
  const response = await fetch(`${baseUrl}kernelswitch/api/${endPoint}`, {
    headers,
    signal,
    credentials: 'same-origin',
    cache: 'no-store'
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    let code = `http_${response.status}`;
    try {
      const err = (await response.json()) as { error?: { code?: string; message?: string } };
      message = err.error?.message ?? message;
      code = err.error?.code ?? code;
    } catch {
      // not JSON: keep the status line
    }
    throw new APIError(response.status, code, message);
  }
  return response.blob();
}

const UNITS = ['B', 'K', 'M', 'G', 'T'];

/** Bytes as the magics print them: 512M, 2G, 1.5G (binary units). */
export function humanSize(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const text = v >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  return `${text}${UNITS[i]}`;
}

/** An error as one line a person reads: the server's message, never a stack. */
export function errorLine(error: unknown): string {
  let text: string;
  if (error instanceof APIError) {
    text = error.message;
  } else if (error instanceof Error) {
    text = error.message;
  } else {
    text = String(error);
  }
  return text.split(/\s+/).join(' ').trim() || 'The request failed.';
}

/** The field an error answer is about (its details name it), or ''. */
export function errorField(error: unknown, fields: readonly string[]): string {
  if (!(error instanceof APIError)) {
    return '';
  }
  const details = (error.body as { error?: { details?: Record<string, unknown> } } | null)?.error
    ?.details;
  if (!details) {
    return '';
  }
  if (typeof details.field === 'string' && fields.includes(details.field)) {
    return details.field;
  }
  return fields.find(f => f in details) ?? '';
}

type Handler = (...args: unknown[]) => void;

/**
 * The part of an anywidget model a view uses, kept in the page: lets one
 * widget show another's view (the manager opens a console, or the create form)
 * without a kernel round trip.
 */
export class LocalModel<T extends object> {
  private handlers = new Map<string, Set<Handler>>();

  constructor(private state: T) {}

  get<K extends keyof T>(key: K): T[K] {
    return this.state[key];
  }

  set<K extends keyof T>(key: K, value: T[K]): void {
    const old = this.state[key];
    this.state[key] = value;
    if (old !== value) {
      this.emit(`change:${String(key)}`);
    }
  }

  save_changes(): void {
    // nothing to sync: the state lives here
  }

  send(): void {
    // no kernel behind a local model
  }

  on(name: string, fn: Handler): void {
    if (!this.handlers.has(name)) {
      this.handlers.set(name, new Set());
    }
    this.handlers.get(name)?.add(fn);
  }

  off(name?: string | null, fn?: Handler | null): void {
    if (!name) {
      this.handlers.clear();
    } else if (!fn) {
      this.handlers.delete(name);
    } else {
      this.handlers.get(name)?.delete(fn);
    }
  }

  emit(name: string, ...args: unknown[]): void {
    this.handlers.get(name)?.forEach(fn => fn(...args));
  }
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) {
    e.className = className;
  }
  if (text) {
    e.textContent = text;
  }
  return e;
}

export function button(label: string, className: string, title = ''): HTMLButtonElement {
  const b = el('button', className, label);
  b.type = 'button';
  if (title) {
    b.title = title;
  }
  return b;
}

/** "3 s", "1 min 5 s": elapsed time in a progress line. */
export function elapsed(since: number): string {
  const s = Math.floor((performance.now() - since) / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
