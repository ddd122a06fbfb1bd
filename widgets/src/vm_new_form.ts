/** The manager's "New VM…" button: the create form, inline under the header. */

import type { RenderProps } from '@anywidget/types';

import { renderCreateVM } from './create_vm';
import { CreateVMModel, newCreateModel } from './create_vm_model';
import { LocalModel } from './vm_common';

/** Wire *btn* to open and close the form in *box*; returns the cleanup. */
export function newFormToggle(
  btn: HTMLButtonElement, box: HTMLElement, signal: AbortSignal | undefined, onCreated: () => void
): () => void {
  let closeForm: (() => void) | null = null;
  const close = (): void => {
    closeForm?.();
    closeForm = null;
    box.replaceChildren();
    box.hidden = true;
    btn.setAttribute('aria-expanded', 'false');
  };
  btn.addEventListener('click', () => {
    if (closeForm) {
      close();
      return;
    }
    const local = new LocalModel<CreateVMModel>(newCreateModel());
    box.hidden = false;
    btn.setAttribute('aria-expanded', 'true');
    closeForm = renderCreateVM(
      { model: local, el: box, signal } as unknown as RenderProps<CreateVMModel>,
      { onCreated }
    );
    box.querySelector<HTMLInputElement>('.ks-cvm-iso')?.focus();
  });
  return () => closeForm?.();
}
