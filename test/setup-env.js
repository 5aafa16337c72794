// cdktf telemetry would try the network.
process.env.CHECKPOINT_DISABLE = "1";
