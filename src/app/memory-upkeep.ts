// Gives the C heap's free pages back once the tables of gone namespaces are
// let go. glibc's malloc keeps what was freed for reuse; after a dense node's
// thousand namespaces went, the daemon's RSS stayed ~40 MB above what it was
// before they came although nothing used it (V8's heap had come back: its
// pages are its own). malloc_trim gave it back (native/memory_trim.cc). The
// tables are the last thing of a gone namespace the daemon lets go (their
// readers went at once, the accounts `--keep-gone` seconds later), so a trim
// follows their expiry: at the first check after, and once more at the next
// (what the garbage collector freed meanwhile). Nothing gone: no trim.

/** Checked on an interval (Ctscope, every 30 s). */
export class MemoryUpkeep {
  private seen = 0;
  private pending = 0;
  /** Trims done. */
  trims = 0;

  constructor(
    /** How many tables were let go so far (TableAccounts.dropped). */
    private readonly dropped: () => number,
    private readonly trim: () => boolean,
  ) {}

  /** Trims when tables were let go since the last check or the one before; whether it did. */
  check(): boolean {
    const d = this.dropped();
    if (d !== this.seen) {
      this.seen = d;
      this.pending = 2;
    }
    if (this.pending === 0) return false;
    this.pending--;
    this.trims++;
    this.trim();
    return true;
  }
}
