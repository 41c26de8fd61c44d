/**
 * Time for TTLs. "Now" is `wallBaseMs + (monotonic − monoBaseMs)`, calibrated once per open: a wall
 * clock that jumps while the database runs neither expires nor revives keys, and `wallBaseMs` is never
 * below the highest "now" ever persisted, so a clock set back while the database was closed does not
 * revive keys either (BRIEF.md, "TTL"). Both clocks are injectable for tests.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  /** Wall-clock Unix milliseconds. */
  wallMs(): number;
  /** A monotonic millisecond counter (any origin). */
  monoMs(): number;
}

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  monoMs: () => performance.now(),
};

export class CalibratedClock {
  readonly wallBaseMs: number;
  readonly monoBaseMs: number;
  private readonly clock: Clock;

  /** Calibrates at open; `nowFloorMs` is the highest "now" a superblock recorded. */
  constructor(clock: Clock, nowFloorMs: number) {
    this.clock = clock;
    this.wallBaseMs = Math.max(clock.wallMs(), nowFloorMs);
    this.monoBaseMs = clock.monoMs();
  }

  nowMs(): number {
    return Math.floor(this.wallBaseMs + (this.clock.monoMs() - this.monoBaseMs));
  }

  /** What a checkpoint persists: the calibration pair and the current "now" as the new floor. */
  calibration(): { wallBaseMs: number; monoBaseMs: number; nowFloorMs: number } {
    return { wallBaseMs: this.wallBaseMs, monoBaseMs: this.monoBaseMs, nowFloorMs: this.nowMs() };
  }
}
