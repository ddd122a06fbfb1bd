/**
 * The create form's shared folders: a list of `DIR[:TAG]` entries, added and
 * removed by the user, each checked as it is typed by the server's own share
 * check (`POST vmspec` with `shares`, the check a create makes), sent with the
 * create. On a remote host they do not apply (a folder named here would be
 * that machine's): the section says so and takes no entries.
 */

import { button, el } from './vm_common';

export interface ShareCheck {
  given?: string;
  dir: string | null;
  tag: string | null;
  error: string | null;
}

export class SharesEditor {
  readonly root = el('div', 'ks-cvm-shares');
  private readonly list = el('div', 'ks-cvm-shareList');
  private readonly note = el('div', 'ks-cvm-sharesNote');
  private readonly add = button('Add folder', 'ks-vmw-btn ks-cvm-sharesAdd',
    'Share a folder of the server with the guest (virtiofs)');
  private entries: { row: HTMLElement; input: HTMLInputElement; error: HTMLElement }[] = [];
  private remoteHost = '';

  constructor(private readonly changed: () => void, labelId: string) {
    this.list.setAttribute('role', 'group');
    this.list.setAttribute('aria-labelledby', labelId);
    this.root.append(this.list, this.add, this.note);
    this.add.addEventListener('click', () => {
      const input = this.addFolder('');
      input.focus();
    });
    this.paintNote();
  }

  /** The entries as POST vms takes them (empty ones left out). */
  values(): string[] {
    return this.entries.map(e => e.input.value.trim()).filter(Boolean);
  }

  /** The VM goes to *alias* ('' for the server's own host). */
  setRemote(alias: string): void {
    this.remoteHost = alias;
    this.add.disabled = Boolean(alias);
    this.add.title = alias
      ? `Shared folders do not apply on a remote host (${alias})`
      : 'Share a folder of the server with the guest (virtiofs)';
    this.paintNote();
  }

  /** The server's word on each entry, in order (the check left out empty ones). */
  show(checks: ShareCheck[]): void {
    let i = 0;
    for (const e of this.entries) {
      const check = e.input.value.trim() ? checks[i++] : undefined;
      const message = check?.error ?? '';
      e.error.textContent = message;
      e.input.classList.toggle('ks-invalid', Boolean(message));
      e.input.setAttribute('aria-invalid', String(Boolean(message)));
      e.input.title = check?.tag && !message ? `${check.dir} → tag ${check.tag}` : '';
    }
  }

  disable(off: boolean): void {
    for (const e of this.entries) {
      e.input.disabled = off;
    }
    this.add.disabled = off || Boolean(this.remoteHost);
  }

  /** A new entry holding *value* (the model's folders when the form opens). */
  addFolder(value: string): HTMLInputElement {
    const row = el('div', 'ks-cvm-share');
    const input = el('input', 'ks-cvm-shareInput');
    input.placeholder = '/folder/on/server[:tag]';
    input.value = value;
    input.spellcheck = false;
    input.autocomplete = 'off';
    input.setAttribute('aria-label', `Shared folder ${this.entries.length + 1} (DIR or DIR:TAG)`);
    const remove = button('Remove', 'ks-vmw-btn ks-cvm-shareRemove', 'Do not share this folder');
    const error = el('div', 'ks-cvm-shareError');
    error.setAttribute('role', 'alert');
    const box = el('div', 'ks-cvm-shareBox');
    row.append(input, remove);
    box.append(row, error);
    this.list.append(box);
    const entry = { row: box, input, error };
    this.entries.push(entry);
    input.addEventListener('input', () => this.changed());
    remove.addEventListener('click', () => {
      this.entries = this.entries.filter(e => e !== entry);
      box.remove();
      this.paintNote();
      this.changed();
    });
    this.paintNote();
    return input;
  }

  private paintNote(): void {
    this.note.textContent = this.remoteHost
      ? `Shared folders do not apply on a remote host: ${this.remoteHost} runs the VM on another machine.`
      : this.entries.length ? 'Each folder is mounted in the guest with `mount -t virtiofs TAG /mnt`.' : '';
  }
}
