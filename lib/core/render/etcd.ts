/** etcd 3.4 configuration file (`etcd --config-file`) of one member of a database's etcd cluster. */
export const ETCD_CONF = "/etc/etcd/etcd.yml";
export const ETCD_DATA = "/var/lib/etcd";

export interface EtcdConfig {
  readonly name: string;
  readonly address: string;
  /** Where it listens, when not on `address` alone (0.0.0.0 on a swarm, where `address` is a DNS name). @default address */
  readonly listenAddress?: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Every member, this one included: name and address. */
  readonly members: readonly { readonly name: string; readonly address: string }[];
  /** Distinguishes this cluster from any other on the same network. */
  readonly clusterToken: string;
  readonly quotaBackendBytes: number;
}

export function renderEtcdConf(c: EtcdConfig): string {
  const peer = (address: string) => `http://${address}:${c.peerPort}`;
  return [
    "# Rendered by cdktf-webstack for etcd 3.4. Edit the stack, not this file.",
    `name: ${JSON.stringify(c.name)}`,
    `data-dir: "${ETCD_DATA}/data"`,
    ...(c.listenAddress === undefined
      ? [
          "# On the stack network only (no host port), and on loopback for the health check.",
          `listen-client-urls: "http://${c.address}:${c.clientPort},http://127.0.0.1:${c.clientPort}"`,
        ]
      : [
          "# On every address of the task: the stack network (no host port) and loopback. Peers and clients use the name.",
          `listen-client-urls: "http://${c.listenAddress}:${c.clientPort}"`,
        ]),
    `advertise-client-urls: "http://${c.address}:${c.clientPort}"`,
    `listen-peer-urls: "${peer(c.listenAddress ?? c.address)}"`,
    `initial-advertise-peer-urls: "${peer(c.address)}"`,
    `initial-cluster: "${c.members.map((m) => `${m.name}=${peer(m.address)}`).join(",")}"`,
    `initial-cluster-token: ${JSON.stringify(c.clusterToken)}`,
    'initial-cluster-state: "new"',
    "# Patroni keeps a few small keys; compaction keeps their history short, the quota bounds the rest.",
    `quota-backend-bytes: ${c.quotaBackendBytes}`,
    'auto-compaction-mode: "periodic"',
    'auto-compaction-retention: "1h"',
    "# Patroni's etcd3 client speaks JSON to the gRPC gateway (/v3), which a config file leaves off unless set.",
    "enable-grpc-gateway: true",
    "enable-v2: false",
    "heartbeat-interval: 100",
    "election-timeout: 1000",
    'logger: "zap"',
    'log-outputs: ["stderr"]',
    "",
  ].join("\n");
}
