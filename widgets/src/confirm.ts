/**
 * An in-widget confirmation row, after JupyterLab's Dialog (message, then
 * Cancel and the accept button on the right, Escape cancels, focus on Cancel).
 * A widget lives in a notebook output: a modal over the whole page would be
 * foreign there, and `@jupyterlab/apputils` is not in the anywidget bundle.
 */

import { button, el } from './vm_common';

export interface ConfirmOptions {
  text: string;
  accept: string;
  /** red accept button (destroys something) */
  danger?: boolean;
  /** extra controls between the text and the buttons (a checkbox) */
  extra?: HTMLElement[];
  onAccept: () => void;
  /** focus goes back here on cancel */
  returnFocus?: HTMLElement | null;
}

/** Show the question in *box* (emptied first); returns the close function. */
export function confirmIn(box: HTMLElement, o: ConfirmOptions): () => void {
  const text = el('p', 'ks-vmm-confirmText', o.text);
  const yes = button(o.accept, `ks-vmw-btn ks-vmw-accept${o.danger ? ' ks-vmw-danger' : ''} ks-vmm-confirmYes`);
  const no = button('Cancel', 'ks-vmw-btn ks-vmm-confirmNo');
  const buttons = el('div', 'ks-vmm-confirmButtons');
  buttons.append(no, yes);
  const close = (): void => {
    box.hidden = true;
    box.replaceChildren();
    box.onkeydown = null;
  };
  const cancel = (): void => {
    close();
    o.returnFocus?.focus();
  };
  no.addEventListener('click', cancel);
  box.onkeydown = e => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      cancel();
    }
  };
  yes.addEventListener('click', () => {
    close();
    o.onAccept();
  });
  box.setAttribute('role', 'alertdialog');
  box.replaceChildren(text, ...(o.extra ?? []), buttons);
  box.hidden = false;
  no.focus();
  return close;
}
