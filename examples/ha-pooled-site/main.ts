import { synthOrExit } from "../../lib";
import { buildHaPooledSiteStack } from "./stack";

synthOrExit((app) => buildHaPooledSiteStack(app));
