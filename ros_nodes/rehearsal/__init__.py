"""The rehearsal's scripted operator node."""
