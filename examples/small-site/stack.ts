/**
 * The small Django site of the SRE project talk: two gunicorn app servers behind nginx, and
 * PostgreSQL with a hot standby, here with HAProxy in front as every cdktf-webstack site has.
 */
import type { Construct } from "constructs";
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { EXAMPLE_APP_IMAGE } from "../invenio/stack";

/** The site's two gunicorn nodes and its load balancer, on `db`: shared by small-site and ha-site. */
export function addWebAndLoadBalancer(stack: WebStack, db: Database): WebTier {
  const web = new WebTier(stack, "web", {
    nodes: 2,
    server: "gunicorn",
    image: EXAMPLE_APP_IMAGE,
    wsgiModule: "webstack_example.wsgi:application",
    processes: 3,
    threads: 1,
    poolSize: 5,
    processRssMiB: 120,
    database: db,
  });
  new LoadBalancer(stack, "lb", { defaultTarget: web, balance: "roundrobin", httpPort: 8080 });
  return web;
}

export function buildSmallSiteStack(scope: Construct, id = "small-site"): WebStack {
  const stack = new WebStack(scope, id, { subnet: "172.31.0.0/16" });
  // The standby confirms every commit: a failover to it loses no acknowledged write.
  const db = new Database(stack, "db", { maxConnections: 50, replicas: 1, synchronousReplicas: 1, memoryMiB: 1024 });
  addWebAndLoadBalancer(stack, db);
  return stack;
}
