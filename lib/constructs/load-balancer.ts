import { Construct } from "constructs";
import { z } from "zod";
import { PropsError } from "../core/errors";
import { loadBalancerSchema, type LoadBalancerSettings, routeHealthCheckSchema } from "../core/schemas";
import { tlsKeyVariable } from "../core/plan/load-balancer";
import { secretRef } from "../core/secrets";
import type { LoadBalancerModel, LoadBalancerRoute, WebTierModel } from "../core/topology";
import { readTextFile } from "../docker/io";
import { WebstackComponent, checkReference, parseProps, type ModelResolver } from "./component";
import { WebTier } from "./web-tier";

export interface LoadBalancerRouteProps {
  /** Backend name in haproxy.cfg. @default "static" for static routes, else "route" plus its position */
  readonly name?: string;
  /** Path prefix(es) sent to this backend, e.g. "/static" or ["/api/files", "/files"]. */
  readonly pathPrefix: string | readonly string[];
  /** Web tier serving the route. */
  readonly target: WebTier;
  /** `static`: nginx serves it alone, so servers get a high maxconn (255). @default "app" */
  readonly serves?: "app" | "static";
  /** Web tier whose nodes are backup servers for this route. @default none */
  readonly backup?: WebTier;
  /** Per-server maxconn; leave unset to follow the target's processes x threads. @default derived */
  readonly maxconnPerServer?: number;
  /** Largest request body this route must accept, e.g. "50g"; checked against the target tier (WS-BODY-SIZE). @default none */
  readonly maxBodySize?: string;
  /** This backend's own health check: path, Host, interval. @default the load balancer's healthCheck */
  readonly healthCheck?: z.input<typeof routeHealthCheckSchema>;
}

export type LoadBalancerProps = z.input<typeof loadBalancerSchema> & {
  /** Web tier of every request no route matches. */
  readonly defaultTarget: WebTier;
  /** Web tier whose nodes back up the default backend. @default none */
  readonly defaultBackup?: WebTier;
  /** Path routes, matched in order before the default. @default [] */
  readonly routes?: readonly LoadBalancerRouteProps[];
};

const routeSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,30}$/, "must be lower case letters, digits and '_'").optional(),
    pathPrefix: z.union([z.string(), z.array(z.string())]).transform((p) => (typeof p === "string" ? [p] : p)).pipe(z.array(z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, "must be a URL path starting with '/'")).min(1)),
    serves: z.enum(["app", "static"]).default("app"),
    maxconnPerServer: z.number().int().min(1).optional(),
    maxBodySize: z.string().regex(/^[0-9]+[kmgKMG]?$/, "must be a size like '10m', '50g' or '512k'").optional(),
    healthCheck: routeHealthCheckSchema.optional(),
  })
  .passthrough();

const PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----/;

/**
 * The certificate file's text, or a PropsError: it is written into cdk.tf.json and configs/, where
 * reviewers and snapshots read it, so it must hold the certificate and chain and nothing secret.
 */
function readCertificateFile(constructPath: string, file: string, keyVariable: string): string {
  let pem: string;
  try {
    pem = readTextFile(file);
  } catch (e) {
    throw new PropsError(constructPath, [`https.certificateFile: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
  const key = PRIVATE_KEY.exec(pem);
  if (key) {
    throw new PropsError(constructPath, [
      `https.certificateFile: ${file} holds a private key (-----BEGIN ${key[1]}PRIVATE KEY-----), and this file is copied into cdk.tf.json and configs/. ` +
        `Keep only the certificate and its chain in it (the CERTIFICATE blocks), and give the key to Terraform as the sensitive variable ${keyVariable} ` +
        `at apply, e.g. TF_VAR_${keyVariable}="$(cat site.key)" cdktf deploy; HAProxy reads it from the certificate's .key file, which the provider uploads.`,
    ]);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new PropsError(constructPath, [`https.certificateFile: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
  }
  return pem;
}

/** HAProxy in front of the web tiers: the only container that publishes host ports. */
export class LoadBalancer extends WebstackComponent {
  public readonly settings: LoadBalancerSettings;
  private readonly defaultTarget: WebTier;
  private readonly defaultBackup?: WebTier;
  private readonly routeProps: readonly (LoadBalancerRouteProps & { name: string; pathPrefixes: string[]; serves: "app" | "static" })[];
  /** The text of `https.certificateFile`, checked to hold no private key. */
  private readonly certificateFilePem?: string;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);
    const { defaultTarget, defaultBackup, routes = [], ...rest } = props ?? ({} as LoadBalancerProps);
    this.settings = parseProps(this, loadBalancerSchema, rest);
    const https = this.settings.https;
    if (https?.certificateFile !== undefined) {
      this.certificateFilePem = readCertificateFile(this.node.path, https.certificateFile, tlsKeyVariable(id, https)!);
    }
    if (!defaultTarget) throw new PropsError(this.node.path, ["defaultTarget: required, the WebTier of every request no route matches"]);
    checkReference(this, "defaultTarget", defaultTarget, "WebTier", WebTier.isWebTier);
    checkReference(this, "defaultBackup", defaultBackup, "WebTier", WebTier.isWebTier);
    this.defaultTarget = defaultTarget;
    this.defaultBackup = defaultBackup;
    const names = new Set<string>(["app"]);
    this.routeProps = routes.map((r, i) => {
      checkReference(this, `routes.${i}.target`, r.target, "WebTier", WebTier.isWebTier);
      checkReference(this, `routes.${i}.backup`, r.backup, "WebTier", WebTier.isWebTier);
      const parsed = routeSchema.safeParse(r);
      if (!parsed.success) {
        throw new PropsError(this.node.path, parsed.error.issues.map((issue) => `routes.${i}.${issue.path.join(".")}: ${issue.message}`));
      }
      const name = parsed.data.name ?? (parsed.data.serves === "static" ? "static" : `route${i + 1}`);
      if (names.has(name)) throw new PropsError(this.node.path, [`routes.${i}.name: '${name}' is used twice; backend names must be unique ('app' is the default backend)`]);
      names.add(name);
      return { ...r, name, pathPrefixes: parsed.data.pathPrefix, serves: parsed.data.serves, maxconnPerServer: parsed.data.maxconnPerServer, maxBodySize: parsed.data.maxBodySize, healthCheck: parsed.data.healthCheck };
    });
  }

  toModel(resolve: ModelResolver): LoadBalancerModel {
    const tier = (t: WebTier | undefined) => (t ? resolve<WebTierModel>(t) : undefined);
    const routes: LoadBalancerRoute[] = [
      ...this.routeProps.map((r) => ({
        name: r.name,
        pathPrefixes: r.pathPrefixes,
        target: tier(r.target)!,
        serves: r.serves,
        backup: tier(r.backup),
        maxconnPerServer: r.maxconnPerServer,
        maxBodySize: r.maxBodySize,
        healthCheck: r.healthCheck,
      })),
      { name: "app", pathPrefixes: [], target: tier(this.defaultTarget)!, serves: "app", backup: tier(this.defaultBackup) },
    ];
    const https = this.settings.https;
    const certificatePem = this.certificateFilePem ?? (https?.certificateVariable ? secretRef(https.certificateVariable) : undefined);
    return { kind: "loadBalancer", id: this.node.id, path: this.node.path, settings: this.settings, routes, certificatePem };
  }
}
