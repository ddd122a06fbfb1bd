"""Hosts: local and remote libvirt URIs, SSH pinning, tunnels to remote consoles, uploads."""
