// Reading an operator's /metrics as a test does: each sample by its name and labels, as the
// Prometheus text exposition writes them.

import { httpGet } from './net.ts';

export interface Scrape {
  text: string;
  /** The first sample of `name` whose labels include `labels`. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum of the samples of `name` whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number;
}

export async function scrapeMetrics(baseUrl: string): Promise<Scrape> {
  const { status, body } = await httpGet(`${baseUrl}/metrics`, 10_000);
  if (status !== 200) throw new Error(`GET ${baseUrl}/metrics answered ${status}`);
  const samples = body
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
      return { name: match[1], labels, value: Number(match[3]) };
    });
  const matching = (name: string, labels: Record<string, string>) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([label, wanted]) => s.labels[label] === wanted));
  return {
    text: body,
    value: (name, labels = {}) => matching(name, labels)[0]?.value,
    sum: (name, labels = {}) => matching(name, labels).reduce((total, s) => total + s.value, 0),
  };
}
