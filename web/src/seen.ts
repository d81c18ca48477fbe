// Which sections are on screen (or within a screen's margin of it): a
// section off screen is neither fetched nor drawn on a refresh; when it comes
// into view, the page asks for its answers then. One IntersectionObserver for
// all of them.

export class Seen {
  private readonly on = new Set<string>();
  private readonly io: IntersectionObserver;

  /** ids: the sections watched; shown(id): one came into view. */
  constructor(ids: readonly string[], shown: (id: string) => void) {
    this.io = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const id = (e.target as HTMLElement).id;
          if (!e.isIntersecting) this.on.delete(id);
          else if (!this.on.has(id)) {
            this.on.add(id);
            shown(id);
          }
        }
      },
      // a screen's height ahead: a reader scrolling down finds the figures there
      { rootMargin: '100% 0px' },
    );
    for (const id of ids) this.io.observe(document.getElementById(id)!);
  }

  has(id: string): boolean {
    return this.on.has(id);
  }
}
