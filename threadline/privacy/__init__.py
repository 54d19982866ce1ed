"""Personal data kept out of storage and logs: what is masked before a message is stored."""
