import { synthOrExit } from "../../lib";
import { buildSmallSiteStack } from "./stack";

synthOrExit((app) => buildSmallSiteStack(app));
