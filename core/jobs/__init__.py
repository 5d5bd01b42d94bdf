"""Jobs: the run store, the queue runner that starts worker processes, and the run execution they share."""
