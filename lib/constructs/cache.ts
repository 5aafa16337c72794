import { Construct } from "constructs";
import type { z } from "zod";
import { cacheSchema, type CacheSettings } from "../core/schemas";
import type { CacheModel } from "../core/topology";
import { PropsError } from "../core/errors";
import { urlReference } from "../core/references";
import { WebstackComponent, parseProps } from "./component";

export type CacheProps = z.input<typeof cacheSchema>;

/** A Redis (password-protected, evicting, not persisted) or memcached cache. */
export class Cache extends WebstackComponent {
  static isCache(x: unknown): x is Cache {
    return x instanceof Cache;
  }

  public readonly settings: CacheSettings;

  constructor(scope: Construct, id: string, props: CacheProps = {}) {
    super(scope, id);
    this.settings = parseProps(this, cacheSchema, props);
  }

  /**
   * The cache's URL (password from its sensitive variable), to put in a tier's `environment` under
   * the name your app reads. Each Redis database a tier uses is a connection pool of its own, and is
   * counted in WS-REDIS-CLIENTS. @param db Redis database number, 0 to 15 @default 0
   */
  url(options: { readonly db?: number } = {}): string {
    const db = options.db;
    if (db !== undefined && (this.settings.engine !== "redis" || !Number.isInteger(db) || db < 0 || db > 15)) {
      throw new PropsError(this.node.path, [`url({ db: ${db} }): ${this.settings.engine === "redis" ? "db must be a whole number from 0 to 15" : "memcached has no databases"}`]);
    }
    return urlReference(this.node.path, "cache", db);
  }

  toModel(): CacheModel {
    return { kind: "cache", id: this.node.id, path: this.node.path, settings: this.settings };
  }
}
