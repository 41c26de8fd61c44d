/** A clock for TTL tests: wall and monotonic time the test moves, together or (a clock jump) apart. */
import type { Clock } from '../../src/engine/clock.js';

export class TestClock implements Clock {
  wall = 1_700_000_000_000;
  mono = 5_000;

  wallMs(): number {
    return this.wall;
  }

  monoMs(): number {
    return this.mono;
  }

  /** Time passes: both clocks move. */
  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}
