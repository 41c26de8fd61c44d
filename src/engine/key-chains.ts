/**
 * Serializes commits per key until the transaction layer's lock manager takes over: a commit waits for
 * every earlier commit on any of its keys to finish (be applied or fail) before it is submitted, so
 * commits on one key are logged and applied in the same order. Registration is synchronous, so two
 * commits can never wait for each other.
 */
import { toHex } from '../util/bytes.js';

export class KeyChains {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for the key's earlier commits; the returned function lets the next one go. */
  async acquire(keys: readonly Uint8Array[]): Promise<() => void> {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const names = [...new Set(keys.map(toHex))];
    const before = names.map((name) => this.tails.get(name));
    for (const name of names) this.tails.set(name, done);
    await Promise.all(before);
    return () => {
      release();
      for (const name of names) if (this.tails.get(name) === done) this.tails.delete(name);
    };
  }
}
