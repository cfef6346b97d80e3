"""One module per `energystat` sub-command, each registering its parser and running its work."""
