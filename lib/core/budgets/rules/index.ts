/**
 * The core rule pack. Each rule lives with its domain (database, clients, web, load balancer,
 * memory, network); this list fixes the order the report and the docs show them in.
 */
import type { Rule, RulePack } from "../rule";
import { APP_DATABASE, DB_CONNECTIONS, POOLER_CLIENTS, REDIS_CLIENTS, MEMCACHED_CONNECTIONS, RABBITMQ_CONNECTIONS, CELERY_BEAT_SINGLETON } from "./clients";
import { DB_WAL_SENDERS, DB_REPLICATION_SLOTS, DB_SYNCHRONOUS_REPLICAS, DB_STANDBY_SETTINGS, DB_ETCD_QUORUM } from "./database";
import { LB_SERVER_MAXCONN, TIMEOUT_CHAIN, UPLOAD_PAUSE, BODY_SIZE } from "./load-balancer";
import { DB_MEMORY, ETCD_MEMORY, PG_ROUTER_MEMORY, LB_MEMORY, APP_MEMORY, WORKER_MEMORY, CACHE_MEMORY, MONITORING_MEMORY, SEARCH_HEAP } from "./memory";
import { NET_COLLISIONS } from "./network";
import { SWARM_HOST_MEMORY, SWARM_PG_SPREAD, SWARM_QUORUM } from "./swarm";
import { APP_BACKLOG, FILE_LIMITS, WEB_TARGET } from "./web";

export const RULES: readonly Rule[] = [
  DB_CONNECTIONS,
  POOLER_CLIENTS,
  DB_WAL_SENDERS,
  DB_REPLICATION_SLOTS,
  DB_SYNCHRONOUS_REPLICAS,
  DB_STANDBY_SETTINGS,
  DB_ETCD_QUORUM,
  DB_MEMORY,
  ETCD_MEMORY,
  PG_ROUTER_MEMORY,
  REDIS_CLIENTS,
  MEMCACHED_CONNECTIONS,
  RABBITMQ_CONNECTIONS,
  LB_SERVER_MAXCONN,
  APP_BACKLOG,
  FILE_LIMITS,
  WEB_TARGET,
  TIMEOUT_CHAIN,
  UPLOAD_PAUSE,
  BODY_SIZE,
  LB_MEMORY,
  APP_MEMORY,
  WORKER_MEMORY,
  CACHE_MEMORY,
  MONITORING_MEMORY,
  SEARCH_HEAP,
  CELERY_BEAT_SINGLETON,
  NET_COLLISIONS,
  APP_DATABASE,
];

export const CORE_RULE_PACK: RulePack = { name: "cdktf-webstack", rules: RULES };


/**
 * The swarm rules run after the core rules on a stack whose target is a swarm only, so a stack on
 * one engine runs and reports exactly the core pack.
 */
export const SWARM_RULES: readonly Rule[] = [SWARM_HOST_MEMORY, SWARM_PG_SPREAD, SWARM_QUORUM];

export const SWARM_RULE_PACK: RulePack = { name: "cdktf-webstack-swarm", rules: SWARM_RULES };
