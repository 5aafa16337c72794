import { Construct } from "constructs";
import type { z } from "zod";
import { queueSchema, type QueueSettings } from "../core/schemas";
import type { QueueModel } from "../core/topology";
import { urlReference } from "../core/references";
import { WebstackComponent, parseProps } from "./component";

export type QueueProps = z.input<typeof queueSchema>;

/** The Celery broker: RabbitMQ (one user with a generated password, no guest) or Redis (no eviction, append-only). */
export class Queue extends WebstackComponent {
  static isQueue(x: unknown): x is Queue {
    return x instanceof Queue;
  }

  public readonly settings: QueueSettings;

  constructor(scope: Construct, id: string, props: QueueProps = {}) {
    super(scope, id);
    this.settings = parseProps(this, queueSchema, props);
  }

  /** The broker URL the tiers get as CELERY_BROKER_URL, for `environment` under another name. */
  url(): string {
    return urlReference(this.node.path, "broker");
  }

  /** The result backend URL the tiers get as CELERY_RESULT_BACKEND. */
  resultBackendUrl(): string {
    return urlReference(this.node.path, "result-backend");
  }

  toModel(): QueueModel {
    return { kind: "queue", id: this.node.id, path: this.node.path, settings: this.settings };
  }
}
