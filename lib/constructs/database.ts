import { Construct } from "constructs";
import { databaseSchema, type DatabaseSettings } from "../core/schemas";
import type { DatabaseModel } from "../core/topology";
import type { z } from "zod";
import { urlReference } from "../core/references";
import { WebstackComponent, parseProps } from "./component";

export type DatabaseProps = z.input<typeof databaseSchema>;

/** PostgreSQL 15: a primary and `replicas` streaming replicas in hot standby, each on its own volume. */
export class Database extends WebstackComponent {
  static isDatabase(x: unknown): x is Database {
    return x instanceof Database;
  }

  public readonly settings: DatabaseSettings;

  constructor(scope: Construct, id: string, props: DatabaseProps = {}) {
    super(scope, id);
    this.settings = parseProps(this, databaseSchema, props);
  }

  /**
   * The libpq URL the tiers get as DATABASE_URL (or DATABASE_REPLICA_URL with `replica`), to put in a
   * tier's `environment` under the name your app reads; the tier must be wired to this database.
   * @default the read-write URL
   */
  url(options: { readonly replica?: boolean } = {}): string {
    return urlReference(this.node.path, options.replica ? "database-replica" : "database");
  }

  toModel(): DatabaseModel {
    return { kind: "database", id: this.node.id, path: this.node.path, settings: this.settings };
  }
}
