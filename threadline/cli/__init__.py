"""`bin/threadline`: the operator's command line. One module per command group."""
