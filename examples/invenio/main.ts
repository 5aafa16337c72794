import { synthOrExit } from "../../lib";
import { buildInvenioStack } from "./stack";

synthOrExit((app) => buildInvenioStack(app));
