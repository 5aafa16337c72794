import { Construct } from "constructs";
import type { z } from "zod";
import { PropsError } from "../core/errors";
import { monitoringSchema, type MonitoringSettings } from "../core/schemas";
import type { MonitoringModel } from "../core/topology";
import { WebstackComponent, parseProps } from "./component";

export type MonitoringProps = z.input<typeof monitoringSchema>;

/**
 * Prometheus with a scrape target for every daemon of the stack (HAProxy's and RabbitMQ's own
 * endpoints, an exporter per PostgreSQL server, Redis and nginx, a blackbox probe through each load
 * balancer), alert rules whose thresholds are the budgets' numbers, and an optional Alertmanager.
 * Opt-in, at most one per stack; everything listens on the internal network unless `publish` asks.
 */
export class Monitoring extends WebstackComponent {
  static isMonitoring(x: unknown): x is Monitoring {
    return x instanceof Monitoring;
  }

  public readonly settings: MonitoringSettings;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    const stack = this.node.scopes[1];
    const other = stack.node.findAll().find((c) => c !== this && Monitoring.isMonitoring(c));
    if (other) {
      throw new PropsError(this.node.path, [`a stack has at most one Monitoring, and ${other.node.path} is already there: it scrapes every target of the stack`]);
    }
    this.settings = parseProps(this, monitoringSchema, props);
  }

  toModel(): MonitoringModel {
    return { kind: "monitoring", id: this.node.id, path: this.node.path, settings: this.settings };
  }
}
