"""Collecting rollouts: K rollouts per context from any Env, in persistent worker processes, and the LOOP group schedule."""
