/**
 * What the server's check (`POST vmspec`) fills in on the create form: the
 * OS libosinfo identified, and the sizes a create would use (the OS's
 * recommendations capped by the host) in the fields the user did not type,
 * with what the host has beside them.
 */

import { Checked, Field, SIZE_FIELDS } from './create_vm_model';
import { humanSize } from './vm_common';

export interface FillTarget {
  inputs: Record<Field, HTMLInputElement>;
  hints: Record<Field, HTMLElement>;
  /** fields the user typed themselves: left alone */
  dirty: Set<Field>;
  /** the OS field now shows the identified one: the model keeps '' (not the user's) */
  forgetOS: () => void;
}

export function fillFromAnswer(answer: Checked, { inputs, hints, dirty, forgetOS }: FillTarget): void {
  if (answer.os) {
    const how = answer.identified ? 'identified from the ISO by libosinfo' : 'chosen';
    hints.os.textContent = `${answer.os.name} (${answer.os.short_id}), ${how}`;
    if (!dirty.has('os')) {
      inputs.os.value = answer.os.short_id;
      forgetOS();
    }
  } else {
    hints.os.textContent = '';
  }
  if (!answer.spec) {
    return;
  }
  const values: Record<string, string> = {
    memory: humanSize(answer.spec.memory),
    cpus: String(answer.spec.cpus),
    disk: humanSize(answer.spec.disk)
  };
  for (const f of SIZE_FIELDS) {
    if (!dirty.has(f)) {
      inputs[f].value = values[f];
    }
  }
  if (answer.host) {
    const h = answer.host;
    const where = answer.remote ? 'on the host' : 'available';
    hints.memory.textContent = `recommended for the OS, at most half of the ${humanSize(h.memory)} ${where}`;
    hints.cpus.textContent = `the host has ${h.cpus}`;
    hints.disk.textContent =
      h.disk === null ? 'grows as the guest writes' : `${humanSize(h.disk)} free in ${h.disk_where ?? 'the pool'}`;
  }
}
