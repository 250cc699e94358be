/** Reports people read: SVG charts (axes, spans, labels that never overlap) and responsive HTML pages. */
export { chart, niceTicks, type Series, type Span, type ChartOptions } from './svg.js';
export { page, figure, table } from './html.js';
