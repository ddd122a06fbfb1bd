/**
 * The VM list kept live by the server's events (no polling): the snapshot on
 * (re)connect, then `vm`, `vm_defined`, `vm_undefined` and `thumbnail`
 * messages applied as they come. `reload()` refetches `GET vms` once (the
 * Refresh button, after an action: records carry sizes events do not); what
 * events said about a VM while that request ran wins over its answer (a list
 * read while a VM was starting says "paused", and no event follows to fix it).
 */

import { requestAPI } from './api';
import { onEvent } from './events';
import { VM, vmKey } from './vm_row';

/** A configured libvirt host as the server lists it (`GET vms`'s hosts, the events). */
export interface Host {
  uri: string;
  alias?: string;
  remote?: boolean;
  state: 'up' | 'down' | string;
  reason?: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export class LiveVMList {
  vms: VM[] = [];
  /** every configured host, in the server's order (the first is where new VMs go) */
  hosts: Host[] = [];
  /** false until the first snapshot or list arrived */
  ready = false;
  private stops: (() => void)[] = [];
  private seq = 0;
  /** events seen, and the number of the last event about each VM */
  private events = 0;
  private touched = new Map<string, number>();

  constructor(
    private readonly changed: () => void,
    private readonly failed: (error: unknown) => void
  ) {}

  start(): void {
    const on = (type: string, fn: (msg: any) => void): void => {
      this.stops.push(onEvent(type, msg => {
        this.touched.set(key(msg), ++this.events);
        fn(msg);
        this.changed();
      }));
    };
    on('snapshot', msg => {
      this.seq++; // a list fetched before the snapshot is older than it
      this.vms = sorted(msg.vms ?? []);
      if (Array.isArray(msg.hosts)) {
        this.hosts = msg.hosts;
      }
      this.ready = true;
    });
    on('host', msg => {
      const known = this.hosts.some(h => h.uri === msg.uri);
      this.hosts = known
        ? this.hosts.map(h => (h.uri === msg.uri ? { ...h, ...msg } : h))
        : [...this.hosts, msg];
    });
    on('vm', msg => this.patch(msg, { state: msg.state }));
    on('thumbnail', msg => this.patch(msg, { thumbnail_version: msg.version }));
    on('vm_defined', msg => {
      const rest = this.vms.filter(v => !same(v, msg));
      const old = this.vms.find(v => same(v, msg));
      this.vms = sorted([...rest, { ...msg.vm, uri: msg.uri,
                                   thumbnail_version: old?.thumbnail_version ?? 0 }]);
    });
    on('vm_undefined', msg => {
      this.vms = this.vms.filter(v => !same(v, msg));
    });
  }

  /** `GET vms` once; newer events and the thumbnail versions win over its answer. */
  async reload(signal?: AbortSignal): Promise<void> {
    const mine = ++this.seq;
    const since = this.events;
    try {
      const list = await requestAPI<{ vms: VM[]; hosts?: Host[] }>('vms', { signal });
      if (mine !== this.seq) {
        return;
      }
      if (list.hosts) {
        this.hosts = list.hosts;
      }
      const now = new Map(this.vms.map(v => [key(v), v]));
      const newer = (k: string): boolean => (this.touched.get(k) ?? 0) > since;
      const out: VM[] = [];
      for (const v of list.vms) {
        const cur = now.get(key(v));
        if (!newer(key(v))) {
          out.push({ ...v, thumbnail_version: cur?.thumbnail_version ?? v.thumbnail_version ?? 0 });
        } else if (cur) {
          out.push({ ...v, state: cur.state, thumbnail_version: cur.thumbnail_version });
        } // else: undefined while the list was read
      }
      const listed = new Set(list.vms.map(key));
      out.push(...this.vms.filter(v => newer(key(v)) && !listed.has(key(v)))); // defined meanwhile
      this.vms = sorted(out);
      this.ready = true;
      this.changed();
    } catch (error) {
      if (mine === this.seq && !signal?.aborted) {
        this.failed(error);
      }
    }
  }

  stop(): void {
    this.stops.forEach(stop => stop());
    this.stops = [];
    this.seq++;
  }

  private patch(msg: any, change: Partial<VM>): void {
    this.vms = this.vms.map(v => (same(v, msg) ? { ...v, ...change } : v));
  }
}

function key(v: { name?: string; uri?: string }): string {
  return vmKey({ name: v.name ?? '', uri: v.uri });
}

function same(v: VM, msg: any): boolean {
  return v.name === msg.name && (!v.uri || !msg.uri || v.uri === msg.uri);
}

function sorted(vms: VM[]): VM[] {
  return [...vms].sort((a, b) => a.name.localeCompare(b.name) || (a.uri ?? '').localeCompare(b.uri ?? ''));
}
