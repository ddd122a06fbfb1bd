/**
 * Small live graphs for the manager's rows and the VM sidebar, after
 * virt-manager's list: an inline SVG per quantity (one or two lines),
 * JupyterLab's colours, the latest value beside its label.
 *
 * An idle VM's graphs are flat lines at or near zero, and they must still
 * read as "drawn, and low" rather than "empty": the lines keep a margin above
 * the bottom edge (never half-clipped, never lost in the box's border), have a
 * stroke that does not thin out when the box is stretched, and a single sample
 * is drawn as a short level line, not an invisible point. Time before the
 * first sample is a dotted level line: a graph opened a second ago is young,
 * not empty.
 */

const NS = 'http://www.w3.org/2000/svg';
/** viewBox units; the box is stretched to its CSS size (`preserveAspectRatio="none"`). */
const W = 80;
const H = 22;
/** Room kept above and below the lines, in viewBox units (at least a stroke's width). */
const PAD = 2.5;

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

/** The y of *value* on a scale whose top is *top*: zero sits PAD above the bottom. */
function yOf(value: number, top: number): number {
  const v = Math.min(Math.max(value, 0), top);
  return H - PAD - (v / top) * (H - 2 * PAD);
}

/**
 * Draw *series* scaled to *max* (at least the largest value, so a quiet line
 * stays low rather than filling the box), newest on the right, with room for
 * *slots* samples.
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
    // one sample is a short level line (a polyline of one point draws nothing)
    const xs = v.length === 1 ? [W - Math.max(step, 4), W] : v.map((_, i) => W - (v.length - 1 - i) * step);
    const ys = v.length === 1 ? [v[0], v[0]] : v;
    const pts = xs.map((px, i) => `${px.toFixed(1)},${yOf(ys[i], top).toFixed(1)}`);
    if (xs[0] > 0) {
      // before the first sample (the page has not watched that long): a dotted
      // level line, so a young graph does not look empty
      const pad = document.createElementNS(NS, 'line');
      pad.setAttribute('x1', '0');
      pad.setAttribute('x2', xs[0].toFixed(1));
      pad.setAttribute('y1', yOf(ys[0], top).toFixed(1));
      pad.setAttribute('y2', yOf(ys[0], top).toFixed(1));
      pad.setAttribute('class', `ks-spark-pad ${x.cls}`);
      parts.push(pad);
    }
    const area = document.createElementNS(NS, 'polygon');
    area.setAttribute('points', `${xs[0].toFixed(1)},${H} ${pts.join(' ')} ${W},${H}`);
    area.setAttribute('class', `ks-spark-area ${x.cls}`);
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', pts.join(' '));
    line.setAttribute('class', `ks-spark-line ${x.cls}`);
    parts.push(area, line);
  }
  s.svg.replaceChildren(...parts);
}
