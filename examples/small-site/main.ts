import { App } from "cdktf";
import { synthOrExit } from "../../lib";
import { buildSmallSiteStack } from "./stack";

const app = new App();
buildSmallSiteStack(app);
synthOrExit(app);
