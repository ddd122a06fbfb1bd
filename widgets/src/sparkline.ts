/**
 * Small live graphs for the manager's rows, after virt-manager's list: an
 * inline SVG per quantity (one or two lines), JupyterLab's colours, the
 * latest value beside its label.
 */

const NS = 'http://www.w3.org/2000/svg';
const W = 80;
const H = 22;

export interface Series {
  values: number[];
  /** CSS class: the line's colour (ks-spark-a, ks-spark-b) */
  cls: string;
}

export interface Spark {
  box: HTMLElement;
  label: HTMLElement;
  svg: SVGSVGElement;
}

export function makeSpark(name: string, title: string): Spark {
  const box = document.createElement('div');
  box.className = 'ks-spark';
  box.dataset.kind = name;
  box.title = title;
  const label = document.createElement('span');
  label.className = 'ks-spark-label';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('class', 'ks-spark-svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', String(W));
  svg.setAttribute('height', String(H));
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  box.append(label, svg);
  return { box, label, svg };
}

/**
 * Draw *series* scaled to *max* (at least the largest value, so a quiet line
 * stays at the bottom rather than filling the box), newest on the right, with
 * room for *slots* samples.
 */
export function drawSpark(s: Spark, text: string, series: Series[], max: number, slots: number): void {
  s.label.textContent = text;
  s.svg.setAttribute('aria-label', text);
  const top = Math.max(max, ...series.flatMap(x => x.values), 1e-9);
  const step = W / Math.max(slots - 1, 1);
  const parts: SVGElement[] = [];
  for (const x of series) {
    const v = x.values.slice(-slots);
    if (!v.length) {
      continue;
    }
    const start = W - (v.length - 1) * step;
    const pts = v.map((y, i) => `${(start + i * step).toFixed(1)},${(H - 1 - (y / top) * (H - 2)).toFixed(1)}`);
    const area = document.createElementNS(NS, 'polygon');
    area.setAttribute('points', `${start.toFixed(1)},${H} ${pts.join(' ')} ${W},${H}`);
    area.setAttribute('class', `ks-spark-area ${x.cls}`);
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', pts.join(' '));
    line.setAttribute('class', `ks-spark-line ${x.cls}`);
    parts.push(area, line);
  }
  s.svg.replaceChildren(...parts);
}
