/**
 * Makes PNGs that look like Superset dashboard screenshots, with sharp (SVG rendered by librsvg): a
 * header, rows of white chart cards on the grey page with a gap between rows, and in the cards bar
 * charts, line charts, tables and big numbers. Also the failures Superset mails: a blank page, and a
 * page whose cards still show loading spinners. Used by the tests and the benchmark.
 */
import sharp from 'sharp';

/** Page background of a Superset dashboard, and the card colour. */
export const PAGE_GREY = '#f7f7f7';
const CARD = '#ffffff';
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#20a7c9', '#fcc700'];

export interface DashboardShape {
  width: number;
  /** Height of the page; rows of cards fill it. */
  height: number;
  /** Height of one row of cards (default 420). */
  rowHeight?: number;
  /** Gap between rows (default 16, as Superset's grid). 0: cards touch, no uniform band. */
  gap?: number;
  /** What the cards show: rendered charts (default), only spinners (screenshot taken too early), or big numbers. */
  content?: 'charts' | 'spinners' | 'big-numbers';
  /** Seed of the chart values, so two calls make the same image. */
  seed?: number;
}

/** The SVG of a dashboard (see {@link DashboardShape}); the row tops are where gaps end. */
export function dashboardSvg(shape: DashboardShape): { svg: string; rowTops: number[] } {
  const { width, height } = shape;
  const rowHeight = shape.rowHeight ?? 420;
  const gap = shape.gap ?? 16;
  const content = shape.content ?? 'charts';
  let seed = shape.seed ?? 1;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const parts: string[] = [
    `<rect width="${width}" height="${height}" fill="${PAGE_GREY}"/>`,
    `<rect width="${width}" height="64" fill="#ffffff"/>`,
    `<text x="24" y="42" font-family="sans-serif" font-size="24" fill="#333">Sales dashboard</text>`,
  ];
  const rowTops: number[] = [];
  let top = 64 + gap;
  let row = 0;
  while (top + rowHeight <= height) {
    rowTops.push(top);
    const cards = row % 2 === 0 ? 2 : 3;
    const cardWidth = Math.floor((width - 16 * (cards + 1)) / cards);
    for (let card = 0; card < cards; card++) {
      const x = 16 + card * (cardWidth + 16);
      parts.push(
        `<rect x="${x}" y="${top}" width="${cardWidth}" height="${rowHeight}" fill="${CARD}" stroke="#e0e0e0"/>`,
      );
      parts.push(
        `<text x="${x + 16}" y="${top + 28}" font-family="sans-serif" font-size="16" fill="#444">Chart ${row}.${card}</text>`,
      );
      parts.push(cardContent(content, (row + card) % 3, x, top, cardWidth, rowHeight, random));
    }
    top += rowHeight + gap;
    row++;
  }
  return {
    svg: `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`,
    rowTops,
  };
}

function cardContent(
  content: DashboardShape['content'],
  kind: number,
  x: number,
  top: number,
  w: number,
  h: number,
  random: () => number,
): string {
  const cx = x + w / 2;
  const cy = top + h / 2;
  if (content === 'spinners') {
    // Superset's loading image: a small spinner in the middle of the card
    return `<circle cx="${cx}" cy="${cy}" r="18" fill="none" stroke="#20a7c9" stroke-width="4" stroke-dasharray="80 40"/>`;
  }
  if (content === 'big-numbers') {
    return `<text x="${cx}" y="${cy + 30}" text-anchor="middle" font-family="sans-serif" font-size="88" font-weight="bold" fill="#333">${Math.round(random() * 99_999)}</text>`;
  }
  const plotTop = top + 48;
  const plotHeight = h - 72;
  if (kind === 0) {
    const bars = 12;
    const barWidth = (w - 48) / bars;
    return Array.from({ length: bars }, (_, i) => {
      const barHeight = Math.round(plotHeight * (0.2 + random() * 0.8));
      return `<rect x="${x + 24 + i * barWidth}" y="${plotTop + plotHeight - barHeight}" width="${barWidth - 6}" height="${barHeight}" fill="${PALETTE[i % PALETTE.length]}"/>`;
    }).join('');
  }
  if (kind === 1) {
    const lines = [0, 1, 2].map((line) => {
      const points = Array.from({ length: 30 }, (_, i) => {
        const px = x + 24 + (i * (w - 48)) / 29;
        const py = plotTop + plotHeight * (0.1 + random() * 0.8);
        return `${px.toFixed(1)},${py.toFixed(1)}`;
      });
      return `<polyline points="${points.join(' ')}" fill="none" stroke="${PALETTE[line]}" stroke-width="3"/>`;
    });
    const grid = Array.from({ length: 5 }, (_, i) => {
      const gy = plotTop + (i * plotHeight) / 4;
      return `<line x1="${x + 24}" y1="${gy}" x2="${x + w - 24}" y2="${gy}" stroke="#eeeeee"/>`;
    });
    return grid.join('') + lines.join('');
  }
  const rows = Math.floor(plotHeight / 28);
  return Array.from({ length: rows }, (_, i) => {
    const y = plotTop + i * 28;
    const shade = i % 2 === 0 ? '#fafafa' : '#ffffff';
    return `<rect x="${x + 16}" y="${y}" width="${w - 32}" height="28" fill="${shade}"/><text x="${x + 24}" y="${y + 19}" font-family="sans-serif" font-size="14" fill="#333">Region ${i} · ${Math.round(random() * 1e6).toLocaleString('en')} · ${(random() * 100).toFixed(1)}%</text>`;
  }).join('');
}

/** A dashboard PNG (see {@link DashboardShape}). */
export async function dashboardPng(shape: DashboardShape): Promise<{ png: Buffer; rowTops: number[] }> {
  const { svg, rowTops } = dashboardSvg(shape);
  const png = await sharp(Buffer.from(svg), { limitInputPixels: false }).png().toBuffer();
  return { png, rowTops };
}

/** A page of one colour: the screenshot of a dashboard that had not started rendering. */
export function blankPng(width: number, height: number, colour = '#ffffff'): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } })
    .png()
    .toBuffer();
}

/** A white page with one small loading spinner in the middle (Superset's own loading image, roughly). */
export function spinnerPng(width: number, height: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="${width}" height="${height}" fill="#ffffff"/><circle cx="${width / 2}" cy="${height / 2}" r="24" fill="none" stroke="#20a7c9" stroke-width="6" stroke-dasharray="100 50"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/**
 * A tall image of a given size without rendering an SVG that big: noise-free stripes of "chart" rows
 * separated by uniform gaps at `gapTops` (each `gapHeight` rows of page grey). Cheap to make at
 * 1600×30000 for the benchmark.
 */
export async function stripedPng(
  width: number,
  height: number,
  gapTops: readonly number[],
  gapHeight = 16,
): Promise<Buffer> {
  const channels = 3;
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    const inGap = gapTops.some((top) => y >= top && y < top + gapHeight);
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      if (inGap) {
        raw[i] = 0xf7;
        raw[i + 1] = 0xf7;
        raw[i + 2] = 0xf7;
      } else {
        // a chart-like pattern: vertical bars of varying colour, so no row is uniform; it changes
        // every 32 rows, so the PNG compresses about as well as a real screenshot
        const bar = Math.floor(x / 40);
        raw[i] = (bar * 53 + (y >> 5) * 7) & 0xff;
        raw[i + 1] = (bar * 97) & 0xff;
        raw[i + 2] = (x * 3) & 0xff;
      }
    }
  }
  return sharp(raw, { raw: { width, height, channels }, limitInputPixels: false })
    .png({ compressionLevel: 6 })
    .toBuffer();
}
