/**
 * rabbitmq.conf for RabbitMQ 3.10. The node creates the application's user and vhost on first
 * boot (`default_user`), so the guest user never exists. The password is appended to a private
 * copy of the file by the start script, so it is not in the rendered file.
 */

export const RABBITMQ_CONF_DIR = "/etc/rabbitmq";
export const RABBITMQ_PORT = 5672;
export const RABBITMQ_MANAGEMENT_PORT = 15672;
export const RABBITMQ_PROMETHEUS_PORT = 15692;

export interface RabbitmqConfig {
  readonly vhost: string;
  readonly user: string;
  readonly connectionMax: number;
  readonly watermarkBytes: number;
  readonly managementUi: boolean;
  /** Enable the rabbitmq_prometheus plugin (monitored stacks). @default false */
  readonly prometheus?: boolean;
}

export function renderRabbitmqConf(c: RabbitmqConfig): string {
  return [
    "# Rendered by cdktf-webstack for RabbitMQ 3.10. Edit the stack, not this file.",
    `listeners.tcp.default = ${RABBITMQ_PORT}`,
    "# The only user: created on first boot with the password from the environment. No guest.",
    `default_user = ${c.user}`,
    `default_vhost = ${c.vhost}`,
    "default_permissions.configure = .*",
    "default_permissions.read = .*",
    "default_permissions.write = .*",
    "loopback_users = none",
    `connection_max = ${c.connectionMax}`,
    "# Absolute, because the Erlang VM may see the host's memory instead of the container's limit.",
    `vm_memory_high_watermark.absolute = ${c.watermarkBytes}`,
    "disk_free_limit.absolute = 1000000000",
    "heartbeat = 60",
    "log.console = true",
    "log.console.level = info",
    "log.file = false",
    ...(c.managementUi ? [`management.tcp.port = ${RABBITMQ_MANAGEMENT_PORT}`] : []),
    ...(c.prometheus ? ["# Metrics for the stack's Prometheus, on the internal network only.", `prometheus.tcp.port = ${RABBITMQ_PROMETHEUS_PORT}`] : []),
    "",
  ].join("\n");
}

export function renderRabbitmqEnabledPlugins(c: RabbitmqConfig): string {
  const plugins = [...(c.managementUi ? ["rabbitmq_management"] : []), ...(c.prometheus ? ["rabbitmq_prometheus"] : [])];
  return `[${plugins.join(",")}].\n`;
}

export function renderRabbitmqStart(passwordEnv: string): string {
  return [
    "#!/bin/sh",
    "# Rendered by cdktf-webstack. Adds the password to a private copy of rabbitmq.conf, then starts the node.",
    "set -eu",
    `: "\${${passwordEnv}:?must be set}"`,
    "umask 077",
    'runtime="${RABBITMQ_RUNTIME_DIR:-/var/lib/rabbitmq}/webstack-rabbitmq.conf"',
    `cp ${RABBITMQ_CONF_DIR}/rabbitmq.conf "$runtime"`,
    `printf 'default_pass = %s\\n' "$${passwordEnv}" >> "$runtime"`,
    'RABBITMQ_CONFIG_FILE="$runtime"',
    `RABBITMQ_ENABLED_PLUGINS_FILE="${RABBITMQ_CONF_DIR}/enabled_plugins"`,
    "export RABBITMQ_CONFIG_FILE RABBITMQ_ENABLED_PLUGINS_FILE",
    "exec rabbitmq-server",
    "",
  ].join("\n");
}
