import { ValidationError } from '../core/errors.js';
import type { ProjectionDefinition } from './projection.js';
import { physicalTableName, type TableDefinition } from './read-model.js';

/**
 * The tables a projection's session may write: only those the projection declares, each
 * resolved once to its physical name for the projection's version. Shared by every store so
 * the ownership rule and its error are the same everywhere.
 */
export class OwnedTables<T> {
  readonly #opened = new Map<TableDefinition, T>();

  constructor(
    private readonly projection: ProjectionDefinition,
    private readonly open: (definition: TableDefinition, physicalName: string) => T,
  ) {}

  get(definition: TableDefinition): T {
    let table = this.#opened.get(definition);
    if (!table) {
      if (!this.projection.tables.some((t) => t.name === definition.name)) {
        throw new ValidationError('Table not owned by projection', [
          {
            path: ['table'],
            message: `projection "${this.projection.name}" does not declare "${definition.name}"`,
          },
        ]);
      }
      table = this.open(definition, physicalTableName(definition, this.projection.version));
      this.#opened.set(definition, table);
    }
    return table;
  }
}
