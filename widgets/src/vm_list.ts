/**
 * The VM list kept live by the server's events (no polling): the snapshot on
 * (re)connect, then `vm`, `vm_defined`, `vm_undefined` and `thumbnail`
 * messages applied as they come. `reload()` refetches `GET vms` once (the
 * Refresh button, after an action: records carry sizes events do not).
 */

import { requestAPI } from './api';
import { onEvent } from './events';
import { VM } from './vm_row';

/* eslint-disable @typescript-eslint/no-explicit-any */
export class LiveVMList {
  vms: VM[] = [];
  /** false until the first snapshot or list arrived */
  ready = false;
  private stops: (() => void)[] = [];
  private seq = 0;

  constructor(
    private readonly changed: () => void,
    private readonly failed: (error: unknown) => void
  ) {}

  start(): void {
    const on = (type: string, fn: (msg: any) => void): void => {
      this.stops.push(onEvent(type, msg => {
        fn(msg);
        this.changed();
      }));
    };
    on('snapshot', msg => {
      this.seq++; // a list fetched before the snapshot is older than it
      this.vms = sorted(msg.vms ?? []);
      this.ready = true;
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

  /** `GET vms` once, keeping the thumbnail versions the events told. */
  async reload(signal?: AbortSignal): Promise<void> {
    const mine = ++this.seq;
    try {
      const list = await requestAPI<{ vms: VM[] }>('vms', { signal });
      if (mine !== this.seq) {
        return;
      }
      const versions = new Map(this.vms.map(v => [`${v.uri}\n${v.name}`, v.thumbnail_version]));
      this.vms = sorted(list.vms.map(v => ({
        ...v, thumbnail_version: versions.get(`${v.uri}\n${v.name}`) ?? v.thumbnail_version ?? 0
      })));
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

function same(v: VM, msg: any): boolean {
  return v.name === msg.name && (!v.uri || !msg.uri || v.uri === msg.uri);
}

function sorted(vms: VM[]): VM[] {
  return [...vms].sort((a, b) => a.name.localeCompare(b.name));
}
