/** The create-VM form's model, the server's answers and the field labels (create_vm.ts). */

import type { ShareCheck } from './create_vm_shares';

export interface CreateVMModel {
  iso: string;
  name: string;
  os: string;
  memory: string;
  cpus: string;
  disk: string;
  start: boolean;
  /** the host it goes to (a configured URI); '' for the first */
  uri?: string;
  /** shared folders, each DIR[:TAG] */
  shares?: string[];
  status: 'editing' | 'checking' | 'creating' | 'created' | 'error';
  errors: Record<string, string>;
  created: Record<string, unknown>;
}

export type Field = 'iso' | 'name' | 'os' | 'memory' | 'cpus' | 'disk';
export const FIELDS: readonly Field[] = ['iso', 'os', 'name', 'memory', 'cpus', 'disk'];
export const SIZE_FIELDS: readonly Field[] = ['memory', 'cpus', 'disk'];
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface OS {
  short_id: string;
  name: string;
}
export interface Checked {
  ok: boolean;
  errors: Record<string, string>;
  os: OS | null;
  identified: boolean;
  spec: { os: string; memory: number; cpus: number; disk: number } | null;
  host: { memory: number; cpus: number; disk: number | null; disk_where?: string | null } | null;
  remote?: boolean;
  /** the ISO is already in the remote host's pools (else a server file, uploaded first) */
  in_pool?: string | null;
  shares?: ShareCheck[];
}
export interface VMInfo {
  name: string;
  state: string;
  media?: { path: string | null }[];
}

export const LABELS: Record<Field, [string, string]> = {
  iso: ['Installer ISO', '/path/to/installer.iso on the server host'],
  os: ['Operating system', 'detected from the ISO; type to choose another'],
  name: ['Name', 'letters, digits, . _ - (e.g. fedora-37)'],
  memory: ['Memory', 'e.g. 2G'],
  cpus: ['vCPUs', 'e.g. 2'],
  disk: ['Disk', 'e.g. 20G']
};

export interface CreateOptions {
  /** Called with the new VM's record (the manager refreshes its list). */
  onCreated?: (vm: VMInfo) => void;
}


/** A fresh form's model (a JupyterLab tab, the manager's "New VM…"). */
export function newCreateModel(): CreateVMModel {
  return {
    iso: '', name: '', os: '', memory: '', cpus: '', disk: '', start: true, uri: '', shares: [],
    status: 'editing', errors: {}, created: {}
  };
}
