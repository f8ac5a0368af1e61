"""The sync engine\x27s shared vocabulary: job and task records, the cluster snapshot."""
