"""Tests of the environment engine (kernelswitch.envs and its CLI)."""
