import { Construct } from "constructs";
import type { z } from "zod";
import { searchClusterSchema, type SearchClusterSettings } from "../core/schemas";
import type { SearchClusterModel } from "../core/topology";
import { urlReference } from "../core/references";
import { WebstackComponent, parseProps } from "./component";

export type SearchClusterProps = z.input<typeof searchClusterSchema>;

/** Elasticsearch 7.17 or OpenSearch 2: `nodes` master-eligible data nodes on the internal network. */
export class SearchCluster extends WebstackComponent {
  static isSearchCluster(x: unknown): x is SearchCluster {
    return x instanceof SearchCluster;
  }

  public readonly settings: SearchClusterSettings;

  constructor(scope: Construct, id: string, props: SearchClusterProps = {}) {
    super(scope, id);
    this.settings = parseProps(this, searchClusterSchema, props);
  }

  /** The node URLs the tiers get as SEARCH_URL (comma-separated), for `environment` under another name. */
  url(): string {
    return urlReference(this.node.path, "search");
  }

  toModel(): SearchClusterModel {
    return { kind: "searchCluster", id: this.node.id, path: this.node.path, settings: this.settings };
  }
}
