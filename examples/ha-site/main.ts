import { synthOrExit } from "../../lib";
import { buildHaSiteStack } from "./stack";

synthOrExit((app) => buildHaSiteStack(app));
