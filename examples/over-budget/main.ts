/**
 * The talk's question, "200 max connections / 40 per web node = ???", with the arithmetic that
 * holds: a uWSGI process of 2 threads holds at most 2 connections of its pool of 5, so a node of
 * 8 processes takes 16, not 40. Twelve UI nodes take 192; with the files nodes, the workers, the
 * beat and the metrics exporter that is 211 of 197 usable. Synth fails with WS-DB-CONNECTIONS and the arithmetic.
 */
import { synthOrExit } from "../../lib";
import { buildInvenioStack } from "../invenio/stack";

synthOrExit((app) => buildInvenioStack(app, "over-budget", { webNodes: 12 }));
