import { synthOrExit } from "../../lib";
import { buildInvenioStack, buildInvenioSwarmStack } from "./stack";

// Two stacks: the site on one Docker engine (`cdktf deploy invenio`), and on a three-host swarm (`invenio-swarm`).
synthOrExit((app) => {
  buildInvenioStack(app);
  buildInvenioSwarmStack(app);
});
