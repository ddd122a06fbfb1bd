/**
 * Live stats for the manager's rows: the server samples every running VM
 * about once a second while some page watches (`{"type": "stats", "watch"}`
 * on the events websocket) and pushes `{"type": "stats", name, uri, sample}`;
 * a row that appears first fills its graphs from `GET vms/NAME/stats`.
 * Samples: cpu (% of the VM's vCPUs), memory_used/memory_total (bytes),
 * disk_read/disk_write and net_rx/net_tx (bytes/s).
 */

import { requestAPI } from './api';
import { onEvent, setStatsWatched } from './events';
import { drawSpark, makeSpark, Spark } from './sparkline';
import { el, humanSize } from './vm_common';
import { uriQuery, vmKey } from './vm_row';

export interface Sample {
  t: number;
  cpu: number;
  memory_used: number | null;
  memory_total: number | null;
  disk_read: number;
  disk_write: number;
  net_rx: number;
  net_tx: number;
}

/** Samples kept and drawn per VM: one minute. */
export const SLOTS = 60;

export class StatsFeed {
  private history = new Map<string, Sample[]>();
  private stopEvents: (() => void) | null = null;
  private asked = new Set<string>();

  constructor(private readonly changed: (name: string) => void) {}

  start(): void {
    this.stopEvents = onEvent('stats', msg => {
      if (msg?.name && msg.sample) {
        this.push(vmKey(msg), [msg.sample as Sample]);
      }
    });
  }

  /** The graphs are on screen (the server samples only while some page watches). */
  watch(on: boolean): void {
    setStatsWatched(this, on);
  }

  /**
   * A running VM's graphs are on screen: fill them from the server's history once.
   * Graphs are kept by {@link vmKey} (host and name); the name alone when no uri.
   */
  async fill(name: string, signal?: AbortSignal, uri?: string): Promise<void> {
    const vm = { name, uri };
    const key = vmKey(vm);
    if (this.asked.has(key)) {
      return;
    }
    this.asked.add(key);
    try {
      const answer = await requestAPI<{ samples: Sample[] }>(
        `vms/${encodeURIComponent(name)}/stats?seconds=${SLOTS}${uriQuery(vm, '&')}`, { signal });
      const have = this.history.get(key) ?? [];
      const first = have.length ? have[0].t : Infinity;
      this.history.set(key, [...answer.samples.filter(s => s.t < first), ...have].slice(-SLOTS));
      this.changed(key);
    } catch {
      this.asked.delete(key); // not running yet, or gone: the pushed samples still come
    }
  }

  /** A VM stopped or went away: its graphs start empty next time. */
  forget(name: string): void {
    this.history.delete(name);
    this.asked.delete(name);
  }

  samples(name: string): Sample[] {
    return this.history.get(name) ?? [];
  }

  stop(): void {
    setStatsWatched(this, false);
    this.stopEvents?.();
    this.stopEvents = null;
  }

  private push(name: string, samples: Sample[]): void {
    const have = this.history.get(name) ?? [];
    have.push(...samples);
    this.history.set(name, have.slice(-SLOTS));
    this.changed(name);
  }
}

export interface StatsView {
  box: HTMLElement;
  cpu: Spark;
  mem: Spark;
  disk: Spark;
  net: Spark;
}

export function makeStatsView(): StatsView {
  const box = el('div', 'ks-vmm-stats');
  box.setAttribute('aria-label', 'Live stats');
  const cpu = makeSpark('cpu', 'CPU use, % of the VM\'s vCPUs (last minute)');
  const mem = makeSpark('memory', 'Memory in use by the guest (last minute)');
  const disk = makeSpark('disk', 'Disk read (blue) and write (orange), per second (last minute)');
  const net = makeSpark('net', 'Network received (blue) and sent (orange), per second (last minute)');
  box.append(cpu.box, mem.box, disk.box, net.box);
  box.hidden = true;
  return { box, cpu, mem, disk, net };
}

const rate = (n: number): string => `${humanSize(n)}/s`;

export function paintStats(v: StatsView, samples: Sample[]): void {
  v.box.hidden = !samples.length;
  if (!samples.length) {
    return;
  }
  const last = samples[samples.length - 1];
  const pick = (k: keyof Sample): number[] => samples.map(s => Number(s[k] ?? 0));
  drawSpark(v.cpu, `CPU ${Math.round(last.cpu)}%`, [{ values: pick('cpu'), cls: 'ks-spark-a' }], 100, SLOTS);
  const total = last.memory_total ?? 0;
  drawSpark(
    v.mem,
    last.memory_used ? `Memory ${humanSize(last.memory_used)}` : 'Memory –',
    [{ values: pick('memory_used'), cls: 'ks-spark-a' }], total, SLOTS);
  drawSpark(v.disk, `Disk ${rate(last.disk_read)} / ${rate(last.disk_write)}`,
    [{ values: pick('disk_read'), cls: 'ks-spark-a' }, { values: pick('disk_write'), cls: 'ks-spark-b' }],
    0, SLOTS);
  drawSpark(v.net, `Net ${rate(last.net_rx)} / ${rate(last.net_tx)}`,
    [{ values: pick('net_rx'), cls: 'ks-spark-a' }, { values: pick('net_tx'), cls: 'ks-spark-b' }],
    0, SLOTS);
}
