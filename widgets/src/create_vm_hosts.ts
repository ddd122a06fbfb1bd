/**
 * The create form's host picker and ISO upload. With more than one libvirt
 * host configured the form asks where the VM goes: the ISOs it offers are
 * that host's (`GET isos?uri=`: its pools' first, then the server's, which a
 * create uploads), and an ISO on the server is uploaded into the host's pool
 * first, as a job with a progress bar (`POST isos/upload`, `GET isos/uploads/ID`).
 */

import { requestAPI } from './api';
import { isoOptions, loadISOChoices } from './iso_choice';
import { el, humanSize } from './vm_common';

export interface HostEntry {
  uri: string;
  alias?: string;
  remote?: boolean;
  state?: string;
  reason?: string;
}

export interface HostISO {
  name: string;
  path: string;
  where?: 'host' | 'server';
  pool?: string;
}

/** The configured hosts (`GET vms` lists them); [] when the server says none. */
export async function loadHosts(signal?: AbortSignal): Promise<HostEntry[]> {
  try {
    const answer = await requestAPI<{ hosts?: HostEntry[] }>('vms', { signal });
    return answer.hosts ?? [];
  } catch {
    return []; // the form still works on the first host
  }
}

export function hostLabel(h: HostEntry): string {
  const alias = h.alias ?? h.uri;
  const name = alias === 'local' ? 'local (this machine)' : alias;
  return h.state === 'down' ? `${name}: not reachable` : name;
}

/** A `<select>` of *hosts* (value: the URI), the first selected. */
export function hostSelect(id: string, hosts: HostEntry[]): HTMLSelectElement {
  const select = el('select', 'ks-cvm-hostSelect');
  select.id = id;
  for (const h of hosts) {
    const opt = el('option', '', hostLabel(h));
    opt.value = h.uri;
    opt.title = h.state === 'down' ? `${h.uri}: ${h.reason ?? 'not reachable'}` : h.uri;
    opt.disabled = h.state === 'down';
    select.append(opt);
  }
  return select;
}

/** `<option>`s of a remote host's ISOs: its pools' first, then the server's (uploaded on create). */
export async function hostISOOptions(uri: string, signal?: AbortSignal): Promise<HTMLOptionElement[]> {
  const answer = await requestAPI<{ isos: HostISO[] }>(
    `isos?uri=${encodeURIComponent(uri)}`, { signal });
  return answer.isos.map(i => {
    const where = i.where === 'host' ? `on the host${i.pool ? `, pool ${i.pool}` : ''}` : 'on the server: uploaded first';
    return Object.assign(el('option', '', `${i.name} (${where})`), { value: i.path });
  });
}

interface UploadJob {
  id: string;
  state: 'running' | 'done' | 'failed';
  done: number;
  total: number;
  path: string | null;
  error: string | null;
}

/**
 * Upload server ISO *iso* into host *uri*'s pool; *onProgress(done, total)*
 * as it goes. Resolves with the ISO's path on the host (an identical one
 * already there is reused), rejects with the server's reason.
 */
export async function uploadISO(
  iso: string, uri: string, onProgress: (done: number, total: number) => void,
  alive: () => boolean = () => true
): Promise<string> {
  let job = await requestAPI<UploadJob>('isos/upload', {
    method: 'POST', body: JSON.stringify({ iso, uri })
  });
  onProgress(job.done, job.total);
  while (job.state === 'running' && alive()) {
    await new Promise(resolve => setTimeout(resolve, 400));
    job = await requestAPI<UploadJob>(`isos/uploads/${job.id}`);
    onProgress(job.done, job.total);
  }
  if (job.state === 'done' && job.path) {
    return job.path;
  }
  throw new Error(job.error ?? 'The upload stopped.');
}

/** "12M of 30M (40%)": an upload's progress line. */
export function uploadText(done: number, total: number): string {
  const pct = total ? Math.floor((done * 100) / total) : 0;
  return `${humanSize(done)} of ${humanSize(total)} (${pct}%)`;
}

/**
 * The "Host" row: hidden with one host; with several, a select whose change
 * calls *onPick*. `uri()` is '' while the row is hidden (POST vms then uses
 * the first host, as it always did).
 */
export class HostPicker {
  readonly row = el('div', 'ks-cvm-row ks-cvm-row-host');
  hosts: HostEntry[] = [];
  select: HTMLSelectElement | null = null;

  constructor(private readonly id: string, private readonly onPick: () => void) {
    this.row.hidden = true;
  }

  /** Ask the server for the hosts; show the row when there are several (*wanted* chosen if up). */
  async load(wanted: string): Promise<void> {
    this.hosts = await loadHosts();
    if (this.hosts.length < 2) {
      return;
    }
    const label = el('label', 'ks-cvm-label', 'Host');
    const select = hostSelect(`${this.id}-host`, this.hosts);
    label.htmlFor = select.id;
    if (this.hosts.some(h => h.uri === wanted && h.state !== 'down')) {
      select.value = wanted;
    }
    select.addEventListener('change', () => this.onPick());
    this.select = select;
    this.row.replaceChildren(label, select);
    this.row.hidden = false;
  }

  uri(): string {
    return this.select && this.hosts.length > 1 ? this.select.value : '';
  }

  /** The chosen host's alias when it is remote, else ''. */
  remoteAlias(): string {
    const h = this.hosts.find(x => x.uri === this.uri());
    return h?.remote ? h.alias ?? h.uri : '';
  }

  disable(off: boolean): void {
    if (this.select) {
      this.select.disabled = off;
    }
  }

  /**
   * The ISOs to suggest for the chosen host: a remote one's pools (then the
   * server's, uploaded first), else the server's own choices; null when
   * another host was chosen while they were fetched.
   */
  async isoOptions(): Promise<HTMLOptionElement[] | null> {
    const uri = this.uri();
    let options: HTMLOptionElement[];
    try {
      options = this.remoteAlias() ? await hostISOOptions(uri) : isoOptions(await loadISOChoices());
    } catch {
      options = []; // the host is down: typing a path still works
    }
    return this.uri() === uri ? options : null;
  }
}

/** {@link uploadISO} showing its progress in *line* and *bar*; the ISO's path on the host. */
export async function uploadWithBar(
  iso: string, uri: string, alias: string, line: HTMLElement, bar: HTMLProgressElement,
  alive: () => boolean
): Promise<string> {
  bar.hidden = false;
  try {
    return await uploadISO(iso, uri, (done, total) => {
      bar.max = Math.max(total, 1);
      bar.value = done;
      line.textContent = `Uploading ${iso.split('/').pop()} to ${alias}: ${uploadText(done, total)}`;
    }, alive);
  } finally {
    bar.hidden = true;
  }
}
