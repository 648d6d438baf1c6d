/**
 * The closed-loop load both consensus systems get in bench:raft: `clients` concurrent clients,
 * each issuing one operation, waiting for its answer, and issuing the next, for `seconds`.
 * Throughput is answered operations per second; latency is per operation, as the client saw it.
 */

export interface LoadResult {
  clients: number;
  operations: number;
  operationsPerSecond: number;
  latencyMsP50: number;
  latencyMsP99: number;
  /** Every operation's latency, sorted; with `elapsedMs`, what `combineLoadResults` needs. */
  latenciesMs: number[];
  elapsedMs: number;
}

export interface LoadOptions {
  clients: number;
  seconds: number;
  /** One operation of client `client`, its `sequence`-th. */
  operation: (client: number, sequence: number) => Promise<unknown>;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const startedMs = performance.now();
  const deadlineMs = startedMs + options.seconds * 1000;
  const client = async (index: number): Promise<void> => {
    for (let sequence = 0; performance.now() < deadlineMs; sequence++) {
      const issuedMs = performance.now();
      await options.operation(index, sequence);
      latenciesMs.push(performance.now() - issuedMs);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, index) => client(index)));
  return summarize(options.clients, latenciesMs, performance.now() - startedMs);
}

/** One result from several rounds of the same workload: their operations over their summed time. */
export function combineLoadResults(results: readonly LoadResult[]): LoadResult {
  const latenciesMs = results.flatMap((result) => result.latenciesMs);
  const elapsedMs = results.reduce((sum, result) => sum + result.elapsedMs, 0);
  return summarize(results[0]?.clients ?? 0, latenciesMs, elapsedMs);
}

function summarize(clients: number, latenciesMs: number[], elapsedMs: number): LoadResult {
  latenciesMs.sort((a, b) => a - b);
  return {
    clients,
    operations: latenciesMs.length,
    operationsPerSecond: (latenciesMs.length / elapsedMs) * 1000,
    latencyMsP50: percentile(latenciesMs, 0.5),
    latencyMsP99: percentile(latenciesMs, 0.99),
    latenciesMs,
    elapsedMs,
  };
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

/** Keys and values of the benchmark: 24-byte keys, 150-byte values, as in bench:kv. */
export const KEY_BYTES = 24;
export const VALUE_BYTES = 150;
/** Distinct keys the writers cycle through (the readers read them back). */
export const KEY_SPACE = 10_000;

export function benchKey(index: number): Uint8Array {
  const key = new TextEncoder().encode(`bench/${String(index % KEY_SPACE).padStart(KEY_BYTES - 6, '0')}`);
  return key;
}

export function benchValue(seed: number): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  for (let index = 0; index < VALUE_BYTES; index++) value[index] = 97 + ((seed + index) % 26);
  return value;
}
