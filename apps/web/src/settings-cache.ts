/**
 * One value built from settings (the zero-shot classifier from a model, a label set, prompts and a head), kept for
 * those settings only. `get` returns the value built, or being built, for equal settings and otherwise starts a new
 * build, which replaces the kept one: a build that began before the settings changed is never returned for the new
 * settings, and one that ends late does not replace a newer one. A failed build is not kept (the next `get` retries).
 */
export class SettingsCache<S, V> {
  #kept: { settings: S; built: Promise<V> } | undefined;

  /** @param same whether two settings build the same value */
  constructor(private readonly same: (a: S, b: S) => boolean) {}

  get(settings: S, build: (settings: S) => Promise<V>): Promise<V> {
    const kept = this.#kept;
    if (kept && this.same(kept.settings, settings)) return kept.built;
    const entry = { settings, built: build(settings) };
    this.#kept = entry;
    entry.built.catch(() => {
      if (this.#kept === entry) this.#kept = undefined;
    });
    return entry.built;
  }

  /** Forget the kept value (its model was disposed). */
  clear(): void {
    this.#kept = undefined;
  }
}
