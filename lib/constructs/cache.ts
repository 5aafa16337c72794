import { Construct } from "constructs";
import type { z } from "zod";
import { cacheSchema, type CacheSettings } from "../core/schemas";
import type { CacheModel } from "../core/topology";
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

  toModel(): CacheModel {
    return { kind: "cache", id: this.node.id, path: this.node.path, settings: this.settings };
  }
}
