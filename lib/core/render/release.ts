/**
 * The release container's files: a script that waits until the services the tier is wired to accept
 * connections, then runs the release commands in order and stops at the first failure (its exit
 * code is the container's, which the deploy checks), and the readiness probe it runs first.
 */

/** Where a client of a service connects, for the readiness probe: PostgreSQL (or PgBouncer) speaks its protocol, the rest TCP. */
export type ServiceEndpoint =
  | { readonly protocol: "postgres"; readonly host: string; readonly port: number; readonly user: string; readonly database: string }
  | { readonly protocol: "tcp"; readonly host: string; readonly port: number };

export const RELEASE_SCRIPT = "/etc/webstack/release.sh";
export const WAIT_FOR_SERVICES = "/etc/webstack/wait-for-services.py";
/** Seconds the release waits for its services, all together, before it fails. */
export const RELEASE_WAIT_SECONDS = 300;

/**
 * Python 3 standard library only (the app image has python3, as the app's health check assumes).
 * PostgreSQL and PgBouncer count as ready when they answer a startup message with an
 * authentication request: a TCP accept alone comes before recovery ends ("the database system is
 * starting up"). The password is not needed for that, so the probe never sees it.
 */
export const WAIT_FOR_SERVICES_PY = `"""Waits until each service accepts connections, at most argv[1] seconds in all.

Arguments after the first: postgres:HOST:PORT:USER:DATABASE or tcp:HOST:PORT.
"""
import socket
import struct
import sys
import time


def postgres_problem(host, port, user, database):
    params = b"user\\0" + user.encode() + b"\\0database\\0" + database.encode() + b"\\0\\0"
    with socket.create_connection((host, int(port)), timeout=3) as s:
        s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        kind = s.recv(1)
        if kind == b"R":
            return None
        return "answered %r %r" % (kind, s.recv(512)[4:200])


def tcp_problem(host, port):
    socket.create_connection((host, int(port)), timeout=3).close()
    return None


limit = int(sys.argv[1])
deadline = time.monotonic() + limit
for spec in sys.argv[2:]:
    kind, host, port, *rest = spec.split(":")
    while True:
        try:
            problem = postgres_problem(host, port, *rest) if kind == "postgres" else tcp_problem(host, port)
        except OSError as e:
            problem = str(e) or type(e).__name__
        if problem is None:
            print("release: %s:%s accepts connections" % (host, port), flush=True)
            break
        if time.monotonic() > deadline:
            sys.exit("release: %s:%s did not accept connections within %d s: %s" % (host, port, limit, problem))
        time.sleep(1)
`;

export interface ReleaseScriptInput {
  readonly constructPath: string;
  readonly commands: readonly string[];
  readonly endpoints: readonly ServiceEndpoint[];
}

const endpointArg = (e: ServiceEndpoint) => (e.protocol === "postgres" ? `postgres:${e.host}:${e.port}:${e.user}:${e.database}` : `tcp:${e.host}:${e.port}`);

/** Single-quoted for sh: the command is printed as written. */
const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function renderReleaseScript(input: ReleaseScriptInput): string {
  const lines = [
    "#!/bin/sh",
    `# Release steps of ${input.constructPath}: run once per deploy, before its web nodes are created.`,
    "# The deploy waits for this container to exit and fails when its exit code is not 0.",
    "set -e",
  ];
  if (input.endpoints.length > 0) {
    lines.push(`python3 ${WAIT_FOR_SERVICES} ${RELEASE_WAIT_SECONDS} ${input.endpoints.map(endpointArg).join(" ")}`);
  }
  for (const command of input.commands) lines.push(`printf 'release: %s\\n' ${shQuote(command)}`, command);
  lines.push("echo 'release: done'", "");
  return lines.join("\n");
}
