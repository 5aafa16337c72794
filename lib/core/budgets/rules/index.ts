/**
 * The core rule pack. Each rule lives with its domain (database, clients, web, load balancer,
 * memory, network); this list fixes the order the report and the docs show them in.
 */
import type { Rule, RulePack } from "../rule";
import { APP_DATABASE, DB_CONNECTIONS, POOLER_CLIENTS, REDIS_CLIENTS, MEMCACHED_CONNECTIONS, RABBITMQ_CONNECTIONS, CELERY_BEAT_SINGLETON } from "./clients";
import { DB_WAL_SENDERS, DB_REPLICATION_SLOTS, DB_SYNCHRONOUS_REPLICAS, DB_STANDBY_SETTINGS } from "./database";
import { LB_SERVER_MAXCONN, TIMEOUT_CHAIN, BODY_SIZE } from "./load-balancer";
import { DB_MEMORY, LB_MEMORY, APP_MEMORY, WORKER_MEMORY, CACHE_MEMORY, MONITORING_MEMORY, SEARCH_HEAP } from "./memory";
import { NET_COLLISIONS } from "./network";
import { APP_BACKLOG, FILE_LIMITS } from "./web";

export const RULES: readonly Rule[] = [
  DB_CONNECTIONS,
  POOLER_CLIENTS,
  DB_WAL_SENDERS,
  DB_REPLICATION_SLOTS,
  DB_SYNCHRONOUS_REPLICAS,
  DB_STANDBY_SETTINGS,
  DB_MEMORY,
  REDIS_CLIENTS,
  MEMCACHED_CONNECTIONS,
  RABBITMQ_CONNECTIONS,
  LB_SERVER_MAXCONN,
  APP_BACKLOG,
  FILE_LIMITS,
  TIMEOUT_CHAIN,
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

