/**
 * The talk's question, "200 max connections / 40 per web node = ???", answered wrongly on
 * purpose: five UI nodes alone take all 200 connections, and the files nodes, the workers and the
 * beat need more. Synth fails with WS-DB-CONNECTIONS and the arithmetic.
 */
import { synthOrExit } from "../../lib";
import { buildInvenioStack } from "../invenio/stack";

synthOrExit((app) => buildInvenioStack(app, "over-budget", { webNodes: 5 }));
