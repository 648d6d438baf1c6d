import { createHistogram, monitorEventLoopDelay, performance, type RecordableHistogram } from 'node:perf_hooks';
import { assert } from '../../kernel/assert.ts';
import { InvalidArgumentError } from '../../kernel/errors.ts';
import type { ZoneLoopPhase, ZoneLoopProfiler } from '../../kernel/zone/loop-profiler.ts';

/**
 * The environment variable that turns a zone node's profile on (`nexus zone create|join|start`):
 * its value is the report interval in milliseconds, e.g. `NEXUS_ZONE_PROFILE=1000`.
 */
export const ZONE_PROFILE_ENVIRONMENT_VARIABLE = 'NEXUS_ZONE_PROFILE';

/** Resolution of the event-loop delay monitor: a stall shorter than this is not seen. */
const EVENT_LOOP_DELAY_RESOLUTION_MS = 1;

/** A loop phase that takes longer than this is also reported on its own line, when it happens. */
const LONG_PHASE_MS = 50;

interface PhaseStatistics {
  readonly histogram: RecordableHistogram;
  count: number;
  synced: number;
  totalMs: number;
}

/**
 * A ZoneLoopProfiler for a node process: per report interval, one line with the event loop's
 * delay (p50, p99, max: how late timers ran, i.e. how long the loop was held) and, for each phase
 * of the replica's loop, how often it ran, its items, and its p50, p99 and max duration. Writes
 * through `log`; nothing is kept between intervals. Off unless asked for: it costs a clock read
 * per phase and a histogram entry.
 */
export class ZoneProfile implements ZoneLoopProfiler {
  readonly #log: (line: string) => void;
  readonly #eventLoopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_DELAY_RESOLUTION_MS });
  readonly #phases = new Map<ZoneLoopPhase, PhaseStatistics>();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(options: { intervalMs: number; log: (line: string) => void }) {
    assert(Number.isSafeInteger(options.intervalMs) && options.intervalMs > 0, 'the profile interval must be a positive integer');
    this.#log = options.log;
    this.#eventLoopDelay.enable();
    this.#timer = setInterval(() => this.#report(), options.intervalMs);
    this.#timer.unref();
  }

  now(): number {
    return performance.now();
  }

  record(phase: ZoneLoopPhase, durationMs: number, count: number, synced?: boolean): void {
    let statistics = this.#phases.get(phase);
    if (statistics === undefined) {
      statistics = { histogram: createHistogram(), count: 0, synced: 0, totalMs: 0 };
      this.#phases.set(phase, statistics);
    }
    statistics.histogram.record(Math.max(1, Math.round(durationMs * 1000)));
    statistics.count += count;
    statistics.totalMs += durationMs;
    if (synced === true) statistics.synced++;
    // A commit waits for the loop (its latency is the histogram's business); the others hold it.
    if (durationMs > LONG_PHASE_MS && phase !== 'commit') this.#log(`profile: long ${phase}: ${durationMs.toFixed(1)} ms, ${count} items`);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#eventLoopDelay.disable();
  }

  #report(): void {
    const delay = this.#eventLoopDelay;
    // The monitor reports nanoseconds past the resolution's own wait.
    const delayMs = (nanoseconds: number): string => (nanoseconds / 1e6).toFixed(1);
    const parts = [`loop delay ms p50 ${delayMs(delay.percentile(50))} p99 ${delayMs(delay.percentile(99))} max ${delayMs(delay.max)}`];
    for (const [phase, statistics] of this.#phases) {
      const { histogram } = statistics;
      const ms = (microseconds: number): string => (microseconds / 1000).toFixed(2);
      parts.push(
        `${phase} ${histogram.count}x ${statistics.count} items${statistics.synced > 0 ? ` ${statistics.synced} synced` : ''} ` +
          `ms p50 ${ms(histogram.percentile(50))} p99 ${ms(histogram.percentile(99))} max ${ms(histogram.max)} sum ${statistics.totalMs.toFixed(0)}`,
      );
    }
    this.#log(`profile: ${parts.join('; ')}`);
    delay.reset();
    this.#phases.clear();
  }
}

/** The report interval NEXUS_ZONE_PROFILE asks for, or undefined when it is unset or empty. */
export function zoneProfileIntervalMs(environment: Record<string, string | undefined>): number | undefined {
  const text = environment[ZONE_PROFILE_ENVIRONMENT_VARIABLE];
  if (text === undefined || text === '') return undefined;
  const intervalMs = Number(text);
  if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
    throw new InvalidArgumentError(`invalid ${ZONE_PROFILE_ENVIRONMENT_VARIABLE} ${JSON.stringify(text)}: expected a report interval in milliseconds, a positive integer`);
  }
  return intervalMs;
}
