import { synthOrExit } from "../../lib";
import { buildInvenioRdmStack } from "./stack";

synthOrExit((app) => buildInvenioRdmStack(app));
