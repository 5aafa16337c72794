import { App } from "cdktf";
import { synthOrExit } from "../../lib";
import { buildInvenioStack } from "./stack";

const app = new App();
buildInvenioStack(app);
synthOrExit(app);
