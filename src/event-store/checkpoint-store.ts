/** Where a named subscription got to in the global log. Kept in the store's own database. */
export interface CheckpointStore {
  /** The last position the subscription finished, or `undefined` if it never ran. */
  load(name: string): Promise<number | undefined>;
  store(name: string, position: number): Promise<void>;
  delete(name: string): Promise<void>;
}

export class MemoryCheckpointStore implements CheckpointStore {
  readonly #positions = new Map<string, number>();
  async load(name: string): Promise<number | undefined> {
    return this.#positions.get(name);
  }
  async store(name: string, position: number): Promise<void> {
    this.#positions.set(name, position);
  }
  async delete(name: string): Promise<void> {
    this.#positions.delete(name);
  }
}
