import { synthOrExit } from "../../lib";
import { buildDjangoSiteStack } from "./stack";

synthOrExit((app) => buildDjangoSiteStack(app));
