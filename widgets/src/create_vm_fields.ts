/**
 * The create-VM form's elements: the host row, one labelled input per field
 * with its hint and its error beside it, the shared folders, the start box,
 * the Create button and where progress and the result show. No requests and
 * no state here: create_vm.ts checks, fills and submits.
 */

import { HostPicker } from './create_vm_hosts';
import { Field, FIELDS, LABELS } from './create_vm_model';
import { SharesEditor } from './create_vm_shares';
import { button, el } from './vm_common';
import css from './vm_widgets.css';

export interface CreateFormView {
  root: HTMLElement;
  inputs: Record<Field, HTMLInputElement>;
  errs: Record<Field, HTMLElement>;
  hints: Record<Field, HTMLElement>;
  isoList: HTMLDataListElement;
  osList: HTMLDataListElement;
  hostPick: HostPicker;
  shares: SharesEditor;
  start: HTMLInputElement;
  createBtn: HTMLButtonElement;
  progress: HTMLElement;
  bar: HTMLProgressElement;
  formErr: HTMLElement;
  result: HTMLElement;
}

/** The form; *onHost* runs when another host is picked, *onShares* when the folders change. */
export function makeCreateForm(onHost: () => void, onShares: () => void): CreateFormView {
  const root = el('div', 'ks-vmw ks-cvm');
  const style = el('style');
  style.textContent = css;
  const title = el('div', 'ks-vmw-title', 'New virtual machine');
  const form = el('div', 'ks-cvm-fields');
  const inputs = {} as Record<Field, HTMLInputElement>;
  const errs = {} as Record<Field, HTMLElement>;
  const hints = {} as Record<Field, HTMLElement>;
  const isoList = el('datalist');
  isoList.id = `ks-cvm-isos-${Math.random().toString(36).slice(2)}`;
  // the host row (shown once several hosts are configured) comes first
  const hostPick = new HostPicker(isoList.id, onHost);
  form.append(hostPick.row);
  const osList = el('datalist');
  osList.id = `ks-cvm-oses-${Math.random().toString(36).slice(2)}`;
  for (const f of FIELDS) {
    const row = el('div', `ks-cvm-row ks-cvm-row-${f}`);
    const label = el('label', 'ks-cvm-label', LABELS[f][0]);
    const input = el('input', `ks-cvm-input ks-cvm-${f}`);
    input.id = `${isoList.id}-${f}`;
    label.htmlFor = input.id;
    input.placeholder = LABELS[f][1];
    input.autocomplete = 'off';
    input.spellcheck = false;
    input.dataset.field = f;
    const hint = el('div', `ks-cvm-hint ks-cvm-hint-${f}`);
    const err = el('div', `ks-cvm-error ks-cvm-error-${f}`);
    err.dataset.field = f;
    err.setAttribute('role', 'alert');
    err.id = `${input.id}-error`;
    input.setAttribute('aria-describedby', `${err.id}`);
    row.append(label, input, hint, err);
    form.append(row);
    inputs[f] = input;
    errs[f] = err;
    hints[f] = hint;
  }
  const sharesLabel = el('span', 'ks-cvm-label', 'Shared folders');
  sharesLabel.id = `${isoList.id}-shares-label`;
  const shares = new SharesEditor(onShares, sharesLabel.id);
  const sharesRow = el('div', 'ks-cvm-row ks-cvm-row-shares');
  sharesRow.append(sharesLabel, shares.root);
  form.append(sharesRow);
  inputs.iso.setAttribute('list', isoList.id);
  inputs.os.setAttribute('list', osList.id);
  inputs.cpus.inputMode = 'numeric';
  const startRow = el('label', 'ks-cvm-startRow');
  const start = el('input', 'ks-cvm-start');
  start.type = 'checkbox';
  startRow.append(start, ' Start it once it is made');
  const createBtn = button('Create', 'ks-vmw-btn ks-cvm-create', 'Make the VM (Enter)');
  const progress = el('div', 'ks-cvm-progress');
  progress.setAttribute('aria-live', 'polite');
  const bar = el('progress', 'ks-cvm-upload');
  bar.hidden = true;
  const formErr = el('div', 'ks-cvm-error ks-cvm-error-form');
  formErr.setAttribute('role', 'alert');
  const result = el('div', 'ks-cvm-result');
  result.setAttribute('aria-live', 'polite');
  root.append(style, title, form, isoList, osList, startRow, createBtn, progress, bar, formErr, result);
  return {
    root, inputs, errs, hints, isoList, osList, hostPick, shares, start, createBtn, progress, bar, formErr,
    result
  };
}
