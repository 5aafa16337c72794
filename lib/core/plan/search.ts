/** Elasticsearch or OpenSearch: `nodes` master-eligible data nodes that find each other by address. */
import { searchHeapMiB, searchImage } from "../derive";
import { componentSlots } from "../layout";
import { SEARCH_HTTP_PORT, SEARCH_TRANSPORT_PORT, renderJvmHeapOptions, renderSearchYml, searchConfigDir } from "../render/search";
import type { SearchClusterModel } from "../topology";
import { file, nofile, shell, type PlanContext, type Planner } from "./context";

export const searchPlanner: Planner<"searchCluster"> = {
  kind: "searchCluster",
  plan(ctx: PlanContext, search: SearchClusterModel): void {
    const s = search.settings;
    const dir = searchConfigDir(s.engine);
    const slots = componentSlots(search);
    const nodeNames = slots.map((slot) => slot.key);
    const addresses = slots.map((slot) => ctx.address(search, slot));
    const heap = searchHeapMiB(s);
    slots.forEach((slot, i) => {
      ctx.container({
        key: slot.key,
        constructPath: search.path,
        role: s.engine,
        image: searchImage(s),
        command: [s.engine === "elasticsearch" ? "/usr/share/elasticsearch/bin/elasticsearch" : "/usr/share/opensearch/bin/opensearch"],
        user: s.engine,
        env: {},
        address: addresses[i],
        listens: [
          { port: SEARCH_HTTP_PORT, purpose: "http" },
          { port: SEARCH_TRANSPORT_PORT, purpose: "transport" },
        ],
        files: [
          file(
            `${dir}/${s.engine}.yml`,
            renderSearchYml({
              engine: s.engine,
              clusterName: s.clusterName ?? search.id,
              nodeName: slot.key,
              seedHosts: addresses.map((a) => `${a}:${SEARCH_TRANSPORT_PORT}`),
              initialMasters: nodeNames,
              heapMiB: heap,
            }),
          ),
          file(`${dir}/jvm.options.d/heap.options`, renderJvmHeapOptions(heap)),
        ],
        mounts: [ctx.volume(search, `${slot.key}-data`, `/usr/share/${s.engine}/data`)],
        memoryMiB: s.memoryMiB,
        healthcheck: shell(`curl --fail --silent --max-time 4 'http://127.0.0.1:${SEARCH_HTTP_PORT}/_cluster/health?wait_for_status=yellow&timeout=3s' >/dev/null`, 90),
        // Elasticsearch's bootstrap check asks for 65535.
        ulimits: nofile(65535),
        stopTimeoutSeconds: 60,
      });
    });
  },
};
